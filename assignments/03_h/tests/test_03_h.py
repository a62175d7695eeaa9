"""Hidden checks of 03_h: the lecture's CNN on MNIST.

``conv_output_size`` is compared with ``autograder_reference.convolution`` on sizes the
notebook never uses; the CNN is checked as a fresh ``Net()`` and as the trained ``model``
(layers by their shapes, whatever their names; forward pass against
``autograder_reference.mnist.CNNNet`` carrying the student's weights). ``evaluate`` runs
in the kernel on a loader the grader builds from its own images, and must agree with the
accuracy the grader computes from the model's outputs on the same batches. The trained
``model`` is judged on the grader's MNIST test set (``Normalize((0.5,), (1.0,))`` as in
the lecture); ``kernels_figure`` must show conv1's 32 learned kernels, one 3×3 image per
kernel. Any dtype and device, and a number or a one-element tensor for an accuracy, are
accepted.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest
import torch

from autograder.checks import StudentError, accuracy, data, fail, memo, models, shapes, values
from autograder_reference import convolution
from autograder_reference import mnist as ref

INPUT = (1, 28, 28)
# The lecture's layers, for the message of a network whose layers differ.
LECTURE_NET = ("講義の Net（Conv2d(1, 32, 3), Conv2d(32, 64, 3), Linear(9216, 128), "
               "Linear(128, 10)）",
               "the lecture's Net (Conv2d(1, 32, 3), Conv2d(32, 64, 3), Linear(9216, 128), "
               "Linear(128, 10))")


def _mnist_test(submission: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """The grader's MNIST test set as ``(10000, 1, 28, 28)`` normalised images, labels."""
    return data.mnist_test(submission, mean=0.5, std=1.0)


def _test_accuracy(submission: Any, model: Any) -> float:
    """The accuracy on the grader's 10,000 test images of the lecture's network carrying
    ``model``'s weights, run by the grader (``models.grader_copy``: never the model's
    outputs on test images the kernel can read); once per submission."""
    def measure() -> float:
        placements = models.expect_layers(model, ref.CNNNet(), what="model",
                                          described=LECTURE_NET)
        x = torch.randn(6, *INPUT, generator=data.generator(5))
        net = models.grader_copy(model, ref.CNNNet, placements, x, what="model",
                                 rtol=1e-3, atol=1e-3)
        return accuracy.accuracy_of(net, _mnist_test(submission))

    return memo.once(submission, "test accuracy", measure)


def _expect_lecture_net(model: Any, what: str, seed: int) -> None:
    """The lecture's layers (by shape, whatever their names) and parameter count, and the
    lecture's forward pass with the student's weights in one placement of those layers."""
    placements = models.expect_layers(model, ref.CNNNet(), what=what, described=LECTURE_NET)
    x = torch.randn(6, *INPUT, generator=data.generator(seed))
    models.expect_reference_outputs(
        model, ref.CNNNet, placements, x, rtol=1e-3, atol=1e-3, what=f"{what} の出力",
        computes=f"{what} の出力（conv1 → ReLU → conv2 → ReLU → pool → fc1 → ReLU → "
                 "fc2 → log_softmax）")


# ---------------------------------------------------------------- shapes

@pytest.mark.points(1)
def test_conv_output_size(submission):
    conv_output_size = submission.function("conv_output_size")
    for h, k, p, s in [(28, 5, 0, 1), (30, 3, 1, 1), (26, 2, 0, 2), (31, 4, 2, 3),
                       (64, 7, 3, 2), (9, 9, 0, 1), (13, 3, 1, 2)]:
        got = conv_output_size(h, k, p, s)
        if got != convolution.conv_output_size(h, k, p, s):
            fail(ja=f"conv_output_size({h}, {k}, {p}, {s}) が ⌊(h + 2p − k) / s⌋ + 1 になりません",
                 en=f"conv_output_size({h}, {k}, {p}, {s}) is not ⌊(h + 2p − k) / s⌋ + 1")
    if conv_output_size(28, 3) != 26 or conv_output_size(24, 2, s=2) != 12:
        fail(ja="p と s を省略したときは p=0、s=1 として計算してください",
             en="p and s default to 0 and 1")


@pytest.mark.points(1)
def test_feature_shapes(submission):
    got = submission.value("feature_shapes")
    values.expect_equal(got, [tuple(s) for s in ref.feature_shapes],
                        what="feature_shapes（conv1, conv2, pool の後の (チャンネル, 縦, 横)）")


# ---------------------------------------------------------------- the network

@pytest.mark.points(1)
def test_net_output(submission):
    net = models.new_model(submission, "Net", INPUT)
    for n in (1, 5):
        out = shapes.expect_shape(net.forward(torch.zeros(n, *INPUT)), (n, 10),
                                  what=f"Net()(torch.zeros({n}, 1, 28, 28))")
        models.expect_log_softmax(out, what="Net")


@pytest.mark.points(2)
def test_net_structure(submission):
    _expect_lecture_net(models.new_model(submission, "Net", INPUT), "Net()", 3)


@pytest.mark.points(1)
def test_model_is_trained_net(submission):
    models.expect_class_name(submission, "model", "Net")
    _expect_lecture_net(models.trained_model(submission, INPUT), "model", 4)


# ---------------------------------------------------------------- evaluate

@pytest.mark.points(2)
def test_evaluate(submission):
    model = models.trained_model(submission, INPUT)
    # a loader in the kernel over random images, 250 = 35 × 7 + 5, labelled so that the
    # model is wrong in the short batch and on a number of other images drawn now (no
    # test image: a model could answer those from a table of their labels; no fixed
    # answer: a constant could be it)
    x = torch.rand(250, *INPUT, generator=data.generator(12)) - 0.5
    y, want = accuracy.designed_labels(model, x, 7, seed=secrets.randbits(62))
    loader = data.kernel_loader(submission, x, y, batch_size=7)
    try:
        got = values.as_number(submission.function("evaluate")(
            submission.value("model", remote_ok=True), loader))
    except StudentError as exc:
        fail(ja=f"evaluate(model, loader) の実行中にエラー: {exc.detail()}",
             en=f"error while running evaluate(model, loader): {exc.detail()}")
    if not values.is_fraction(got):
        fail(ja="evaluate は 0〜1 の数（正解率）を返してください",
             en="evaluate should return a number in [0, 1] (the accuracy)")
    if not values.within(got, want, 1e-6):
        fail(ja=f"evaluate の正解率 {got:.4f} が正しくありません（正解数 ÷ データ数。"
                "最後のミニバッチは batch_size より小さいことがあります）",
             en=f"evaluate's accuracy {got:.4f} is wrong (correct ÷ number of items; the last "
                "batch can be smaller than batch_size)")


@pytest.mark.points(1)
@pytest.mark.time_limit(300)
def test_evaluate_on_test_loader(submission):
    model = models.trained_model(submission, INPUT)
    reported = values.as_number(submission.evaluate("evaluate(model, test_loader)"))
    if not values.is_fraction(reported):
        fail(ja="evaluate(model, test_loader) が 0〜1 の数（正解率）を返しません",
             en="evaluate(model, test_loader) does not return a number in [0, 1] (the "
                "accuracy)")
    measured = _test_accuracy(submission, model)
    if not values.within(reported, measured, 0.003):
        fail(ja=f"evaluate(model, test_loader)（{reported:.4f}）が、採点側で計算した model の"
                f"テスト正解率（{measured:.4f}）と一致しません",
             en=f"evaluate(model, test_loader) ({reported:.4f}) does not match the test "
                f"accuracy of model computed by the grader ({measured:.4f})")


# ---------------------------------------------------------------- the trained model

@pytest.mark.points(3)
@pytest.mark.time_limit(300)
def test_model_accuracy(submission):
    measured = _test_accuracy(submission, models.trained_model(submission, INPUT))
    accuracy.expect_accuracy(measured, submission.assignment.thresholds["accuracy"],
                             what="model のテスト正解率")


# ---------------------------------------------------------------- kernels_figure

_FIGURE = ("isinstance(kernels_figure, "
           "__import__('matplotlib.figure', fromlist=['Figure']).Figure)")
_IMAGES = ("[__import__('numpy').asarray(im.get_array(), dtype=float).tolist() "
           "for ax in kernels_figure.axes for im in ax.get_images()]")


def _figure_images(submission: Any) -> list[torch.Tensor]:
    if submission.evaluate(_FIGURE) is not True:
        fail(ja="kernels_figure には matplotlib の Figure（plt.subplots の fig）を入れてください",
             en="kernels_figure should be a matplotlib Figure (the fig of plt.subplots)")
    raw = submission.evaluate(_IMAGES)
    images = [values.as_tensor(a, what="kernels_figure の画像") for a in raw] \
        if isinstance(raw, list) else []
    return [im for im in images if im.dim() == 2]


@pytest.mark.points(1)
def test_kernels_figure(submission):
    images = _figure_images(submission)
    if len(images) < 32:
        fail(ja=f"kernels_figure に conv1 の 32 個のカーネルを表示してください"
                f"（画像は {len(images)} 個）",
             en=f"kernels_figure should show conv1's 32 kernels (it has {len(images)} images)")


def _standardised(t: torch.Tensor) -> torch.Tensor:
    t = t.to(torch.float64).flatten()
    return (t - t.mean()) / (t.std() + 1e-12)


@pytest.mark.points(1)
def test_kernels_figure_shows_conv1(submission):
    images = [_standardised(im) for im in _figure_images(submission) if im.shape == (3, 3)]
    # conv1's weight, whatever the layer is called: the one tensor of shape (32, 1, 3, 3)
    found = [w for w in models.trained_model(submission, INPUT).state_dict().values()
             if tuple(w.shape) == (32, 1, 3, 3)]
    if len(found) != 1:
        fail(ja="model に講義の conv1（nn.Conv2d(1, 32, 3)）が見つかりません",
             en="model has no lecture conv1 (nn.Conv2d(1, 32, 3))")
    weights = found[0].to(torch.float64)
    missing = 0
    for kernel in weights[:, 0]:
        k = _standardised(kernel)
        # imshow may rescale colours, so an image shows a kernel up to a positive scale;
        # a kernel shown as 256 grey levels (``.astype(np.uint8)`` after min-max scaling)
        # is off by up to ~0.01 once standardised
        if not any(torch.allclose(im, k, atol=0.02) for im in images):
            missing += 1
    if missing:
        fail(ja=f"学習した model.conv1 のカーネルのうち {missing} 個が kernels_figure に"
                "見当たりません（1 つのサブプロットに 3×3 のカーネル weight[i, 0] を "
                "1 個ずつ表示します）",
             en=f"{missing} of model.conv1's learned kernels are not in kernels_figure (one 3×3 "
                "kernel weight[i, 0] per subplot)")
