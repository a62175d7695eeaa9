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

import itertools
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import torch

from autograder.checks import RemoteModel, StudentError, accuracy, fail, shapes, values
from autograder_reference import convolution
from autograder_reference import mnist as ref

N_PARAMS = 1_199_882
INPUT = (1, 28, 28)


@lru_cache(maxsize=2)
def _mnist_test(data_dir: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The grader's MNIST test set as ``(10000, 1, 28, 28)`` normalised images, labels."""
    from torchvision import datasets

    test = datasets.MNIST(root=str(data_dir), train=False, download=False)
    data = ref.tensor_dataset(test)
    return data.tensors[0], data.tensors[1]


def _fresh_net(submission: Any) -> RemoteModel:
    net = submission.function("Net")()
    return submission.model(net, torch.zeros(2, *INPUT))


def _trained(submission: Any) -> RemoteModel:
    return submission.model("model", torch.zeros(2, *INPUT))


_ACCURACY: dict[int, float] = {}


def _test_accuracy(submission: Any, model: RemoteModel) -> float:
    """The trained model's accuracy on the grader's 10,000 test images, computed once per
    run (this module is reloaded for every submission)."""
    key = id(submission)
    if key not in _ACCURACY:
        _ACCURACY[key] = accuracy.accuracy_of(model, _mnist_test(submission.data_dir))
    return _ACCURACY[key]


# ---------------------------------------------------------------- layers, whatever their names
#
# The contract pins the lecture's layers (shapes) and what the network computes, not the
# attribute names: the student's weights are matched to the reference network layer by
# layer by their shapes (``l1`` or ``layers.0`` or ``hidden``), trying every order among
# layers of equal shapes, and the network must compute what the reference computes with
# one of those placements.

_MAX_PLACEMENTS = 24


def _layers(state: Mapping[str, torch.Tensor]) -> dict[tuple[Any, ...], list[str]]:
    """Layer prefixes by signature (their tensors' names and shapes), in state order."""
    groups: dict[str, list[tuple[str, tuple[int, ...]]]] = {}
    for key, value in state.items():
        prefix, _, leaf = key.rpartition(".")
        groups.setdefault(prefix, []).append((leaf, tuple(value.shape)))
    by_signature: dict[tuple[Any, ...], list[str]] = {}
    for prefix, tensors in groups.items():
        by_signature.setdefault(tuple(sorted(tensors)), []).append(prefix)
    return by_signature


def _placements(reference: torch.nn.Module, state: Mapping[str, torch.Tensor]
                ) -> list[dict[str, torch.Tensor]]:
    """The student's tensors as state dicts of ``reference``, one per way of placing
    layers of equal shapes; none when the layers' shapes differ from the reference's."""
    want, have = _layers(reference.state_dict()), _layers(state)
    if {k: len(v) for k, v in want.items()} != {k: len(v) for k, v in have.items()}:
        return []
    choices = [[list(zip(want[sig], order, strict=True))
                for order in itertools.permutations(have[sig])] for sig in want]
    out = []
    for combination in itertools.product(*choices):
        placed = {}
        for pairs in combination:
            for ref_prefix, own_prefix in pairs:
                for key in reference.state_dict():
                    prefix, _, leaf = key.rpartition(".")
                    if prefix == ref_prefix:
                        placed[key] = state[f"{own_prefix}.{leaf}" if own_prefix else leaf]
        out.append(placed)
        if len(out) >= _MAX_PLACEMENTS:
            break
    return out


def _expect_layers(model: RemoteModel, what: str) -> list[dict[str, torch.Tensor]]:
    """The lecture's layers (by shape) and parameter count; the ways to place them."""
    if model.num_parameters != N_PARAMS:
        fail(ja=f"{what} のパラメータ数は {N_PARAMS:,} 個のはずです（{model.num_parameters:,} 個）",
             en=f"{what} should have {N_PARAMS:,} parameters (has {model.num_parameters:,})")
    placements = _placements(ref.CNNNet(), model.state_dict())
    if not placements:
        fail(ja=f"{what} の層が講義の Net（Conv2d(1, 32, 3), Conv2d(32, 64, 3), "
                "Linear(9216, 128), Linear(128, 10)）と違います",
             en=f"{what}'s layers differ from the lecture's Net (Conv2d(1, 32, 3), "
                "Conv2d(32, 64, 3), Linear(9216, 128), Linear(128, 10))")
    return placements


def _expect_lecture_forward(model: RemoteModel, what: str, seed: int,
                            placements: list[dict[str, torch.Tensor]]) -> None:
    """Outputs equal the lecture's forward pass with the student's weights."""
    x = torch.randn(6, *INPUT, generator=torch.Generator().manual_seed(seed))
    got = shapes.expect_shape(model.forward(x), (6, 10), what=f"{what} の出力")
    wants = []
    for state in placements:
        reference = ref.CNNNet().double()
        reference.load_state_dict(state)
        with torch.no_grad():
            wants.append(reference.eval()(x.double()))
        if torch.allclose(got.double(), wants[-1], rtol=1e-3, atol=1e-3):
            return
    values.expect_close(got, wants[0], rtol=1e-3, atol=1e-3,
                        what=f"{what} の出力（conv1 → ReLU → conv2 → ReLU → pool → fc1 → ReLU → "
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
    net = _fresh_net(submission)
    for n in (1, 5):
        out = shapes.expect_shape(net.forward(torch.zeros(n, *INPUT)), (n, 10),
                                  what=f"Net()(torch.zeros({n}, 1, 28, 28))")
        if not torch.allclose(out.double().exp().sum(dim=1), torch.ones(n, dtype=torch.float64),
                              atol=1e-4):
            fail(ja="Net の出力は log_softmax です。exp をとると各行の合計が 1 になるはずです",
                 en="Net's output is log_softmax: each row's exp should sum to 1")


@pytest.mark.points(2)
def test_net_structure(submission):
    net = _fresh_net(submission)
    _expect_lecture_forward(net, "Net()", 3, _expect_layers(net, "Net()"))


@pytest.mark.points(1)
def test_model_is_trained_net(submission):
    kind = submission.evaluate("type(model).__name__")
    if kind != "Net":
        fail(ja=f"model は Net のインスタンスにしてください（{kind}）",
             en=f"model should be an instance of Net ({kind})")
    model = _trained(submission)
    _expect_lecture_forward(model, "model", 4, _expect_layers(model, "model"))


# ---------------------------------------------------------------- evaluate

def _grader_loader(submission: Any, seed: int, n: int, batch_size: int
                   ) -> tuple[Any, torch.Tensor, torch.Tensor]:
    """A DataLoader built in the kernel over MNIST test images the grader picked."""
    images, labels = _mnist_test(submission.data_dir)
    pick = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))[:n]
    x, y = images[pick].contiguous(), labels[pick].contiguous()
    dataset = submission.function("torch.utils.data.TensorDataset")(x, y)
    loader = submission.function("torch.utils.data.DataLoader")(dataset, batch_size=batch_size)
    return loader, x, y


def _accuracy_in_batches(model: RemoteModel, x: torch.Tensor, y: torch.Tensor,
                         batch_size: int) -> float:
    correct = 0
    for i in range(0, len(y), batch_size):
        out = model.forward(x[i:i + batch_size])
        correct += int((out.float().argmax(dim=1) == y[i:i + batch_size]).sum())
    return correct / len(y)


def _number(value: Any) -> Any:
    return float(value) if isinstance(value, torch.Tensor) and value.numel() == 1 else value


@pytest.mark.points(2)
def test_evaluate(submission):
    model = _trained(submission)
    loader, x, y = _grader_loader(submission, seed=12, n=250, batch_size=7)
    try:
        got = _number(submission.function("evaluate")(
            submission.value("model", remote_ok=True), loader))
    except StudentError as exc:
        fail(ja=f"evaluate(model, loader) の実行中にエラー: {exc.detail()}",
             en=f"error while running evaluate(model, loader): {exc.detail()}")
    if type(got) not in (int, float) or not 0.0 <= got <= 1.0:
        fail(ja="evaluate は 0〜1 の数（正解率）を返してください",
             en="evaluate should return a number in [0, 1] (the accuracy)")
    want = _accuracy_in_batches(model, x, y, 7)
    if abs(got - want) > 1e-6:
        fail(ja=f"evaluate の正解率 {got:.4f} が正しくありません（正解数 ÷ データ数。"
                "最後のミニバッチは batch_size より小さいことがあります）",
             en=f"evaluate's accuracy {got:.4f} is wrong (correct ÷ number of items; the last "
                "batch can be smaller than batch_size)")


@pytest.mark.points(1)
@pytest.mark.time_limit(300)
def test_evaluate_on_test_loader(submission):
    model = _trained(submission)
    reported = _number(submission.evaluate("evaluate(model, test_loader)"))
    if type(reported) not in (int, float):
        fail(ja="evaluate(model, test_loader) が数を返しません",
             en="evaluate(model, test_loader) does not return a number")
    measured = _test_accuracy(submission, model)
    if abs(reported - measured) > 0.003:
        fail(ja=f"evaluate(model, test_loader)（{reported:.4f}）が、採点側で計算した model の"
                f"テスト正解率（{measured:.4f}）と一致しません",
             en=f"evaluate(model, test_loader) ({reported:.4f}) does not match the test "
                f"accuracy of model computed by the grader ({measured:.4f})")


# ---------------------------------------------------------------- the trained model

@pytest.mark.points(3)
@pytest.mark.time_limit(300)
def test_model_accuracy(submission):
    measured = _test_accuracy(submission, _trained(submission))
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
    found = [w for w in _trained(submission).state_dict().values()
             if tuple(w.shape) == (32, 1, 3, 3)]
    if len(found) != 1:
        fail(ja="model に講義の conv1（nn.Conv2d(1, 32, 3)）が見つかりません",
             en="model has no lecture conv1 (nn.Conv2d(1, 32, 3))")
    weights = found[0].to(torch.float64)
    missing = 0
    for kernel in weights[:, 0]:
        k = _standardised(kernel)
        # imshow may rescale colours, so an image shows a kernel up to a positive scale
        if not any(torch.allclose(im, k, atol=1e-3) for im in images):
            missing += 1
    if missing:
        fail(ja=f"学習した model.conv1 のカーネルのうち {missing} 個が kernels_figure に"
                "見当たりません（1 つのサブプロットに 3×3 のカーネル weight[i, 0] を "
                "1 個ずつ表示します）",
             en=f"{missing} of model.conv1's learned kernels are not in kernels_figure (one 3×3 "
                "kernel weight[i, 0] per subplot)")
