"""Hidden checks of 03_n: the lecture's fully connected ``Net`` on MNIST.

The network is checked as a fresh ``Net()`` and as the trained ``model``: its layers by
their shapes (whatever their names: ``l1``, ``layers.0``, ...), and its forward pass
against ``autograder_reference.mnist.MLPNet`` carrying the student's own weights. ``evaluate`` runs
in the kernel on a loader the grader builds from its own images (a batch size that leaves
a short last batch), and its answer must equal the accuracy the grader computes from the
model's outputs on the same batches. The trained ``model`` is judged on the grader's
MNIST test set (``submission.data_dir``, ``Normalize((0.5,), (1.0,))`` as in the
lecture), run by the grader itself: the lecture's network carrying the model's weights
(``models.grader_copy``), never the model's outputs on test images the kernel can read.
Any dtype, and a number or a one-element tensor for an accuracy, are accepted.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest
import torch

from autograder.checks import StudentError, accuracy, data, fail, memo, models, shapes, values
from autograder_reference import mnist as ref

INPUT = (784,)
# The lecture's layers, for the message of a network whose layers differ.
LECTURE_NET = ("講義の Net（nn.Linear(784, 784) が 2 つと nn.Linear(784, 10)）",
               "the lecture's Net (two nn.Linear(784, 784) and one nn.Linear(784, 10))")


def _mnist_test(submission: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """The grader's MNIST test set as ``(10000, 1, 28, 28)`` normalised images, labels."""
    return data.mnist_test(submission, mean=0.5, std=1.0)


def _expect_lecture_net(model: Any, what: str, seed: int) -> None:
    """The lecture's layers (by shape, whatever their names) and parameter count, and the
    lecture's forward pass with the student's weights in one placement of those layers."""
    placements = models.expect_layers(model, ref.MLPNet(), what=what, described=LECTURE_NET)
    x = torch.randn(9, 784, generator=data.generator(seed))
    models.expect_reference_outputs(
        model, ref.MLPNet, placements, x, rtol=1e-4, atol=1e-4, what=f"{what} の出力",
        computes=f"{what} の出力（Linear → sigmoid → Linear → sigmoid → Linear → log_softmax）")


# ---------------------------------------------------------------- the network

@pytest.mark.points(1)
def test_net_output(submission):
    net = models.new_model(submission, "Net", INPUT)
    for n in (1, 5):
        out = shapes.expect_shape(net.forward(torch.zeros(n, 784)), (n, 10),
                                  what=f"Net()(torch.zeros({n}, 784))")
        models.expect_log_softmax(out, what="Net")


@pytest.mark.points(2)
def test_net_structure(submission):
    _expect_lecture_net(models.new_model(submission, "Net", INPUT), "Net()", 3)


@pytest.mark.points(1)
def test_model_is_trained_net(submission):
    models.expect_class_name(submission, "model", "Net")
    _expect_lecture_net(models.trained_model(submission, INPUT), "model", 4)


# ---------------------------------------------------------------- data

def _train_size_allowed(submission: Any) -> int:
    # the grading run's TRAIN_SUBSET (the manifest's [grading], else the notebook's None),
    # never the kernel's: a later cell could set it to the size of whatever it loaded
    subset = submission.params.get("TRAIN_SUBSET")
    if isinstance(subset, int) and not isinstance(subset, bool) and subset > 0:
        return min(subset, 60000)
    return 60000


@pytest.mark.points(1)
def test_loaders(submission):
    n_train = submission.evaluate("len(train_loader.dataset)")
    n_test = submission.evaluate("len(test_loader.dataset)")
    wanted = _train_size_allowed(submission)
    if n_train != wanted:
        fail(ja=f"train_loader のデータは {wanted:,} 枚のはずです（{n_train} 枚）",
             en=f"train_loader should hold {wanted:,} images (holds {n_train})")
    if n_test != 10000:
        fail(ja=f"test_loader にはテストデータ 10,000 枚を使ってください（{n_test} 枚）",
             en=f"test_loader should hold the 10,000 test images (holds {n_test})")
    batch = submission.evaluate("next(iter(test_loader))[0][:4]")
    images = shapes.expect_shape(batch, (None, 1, 28, 28), what="test_loader の画像")
    # each image is one of the normalised test images (in any order: shuffling is allowed)
    test_images = _mnist_test(submission)[0].reshape(10000, -1)
    # exact distances: the default matrix-product form is off by 1e-2 and more for some
    # of the 10,000 images in float32, and a correct shuffled loader failed now and then
    nearest = torch.cdist(images.float().reshape(len(images), -1), test_images,
                          compute_mode="donot_use_mm_for_euclid_dist").min(dim=1)
    if len(images) == 0 or not bool((nearest.values < 1e-2).all()):
        fail(ja="test_loader の画像が、テストデータに ToTensor と Normalize((0.5,), (1.0,)) を"
                "かけたものになっていません",
             en="test_loader's images are not the test set after ToTensor + "
                "Normalize((0.5,), (1.0,))")


# ---------------------------------------------------------------- evaluate

@pytest.mark.points(2)
def test_evaluate(submission):
    model = models.trained_model(submission, INPUT)
    # a loader in the kernel over random images, 250 = 35 × 7 + 5, labelled so that the
    # model is wrong in the short batch and on a number of other images drawn now (no
    # test image: a model could answer those from a table of their labels; no fixed
    # answer: a constant could be it)
    x = torch.rand(250, 1, 28, 28, generator=data.generator(11))
    y, want = accuracy.designed_labels(model, x.reshape(-1, *INPUT), 7,
                                       seed=secrets.randbits(62))
    loader = data.kernel_loader(submission, x, y, batch_size=7)
    try:
        got = submission.function("evaluate")(submission.value("model", remote_ok=True), loader)
    except StudentError as exc:
        fail(ja=f"evaluate(model, loader) の実行中にエラー: {exc.detail()}",
             en=f"error while running evaluate(model, loader): {exc.detail()}")
    got = values.as_number(got)
    if not values.is_fraction(got):
        fail(ja="evaluate は 0〜1 の数（正解率）を返してください",
             en="evaluate should return a number in [0, 1] (the accuracy)")
    if not values.within(got, want, 1e-6):
        fail(ja=f"evaluate の正解率 {got:.4f} が正しくありません（正解数 ÷ データ数。"
                "最後のミニバッチは batch_size より小さいことがあります）",
             en=f"evaluate's accuracy {got:.4f} is wrong (correct ÷ number of items; the last "
                "batch can be smaller than batch_size)")


@pytest.mark.points(1)
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

def _flat(test_set: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    return test_set[0].reshape(-1, 784), test_set[1]


def _test_accuracy(submission: Any, model: Any) -> float:
    """The accuracy on the grader's 10,000 test images of the lecture's network carrying
    ``model``'s weights, run by the grader; once per submission."""
    def measure() -> float:
        placements = models.expect_layers(model, ref.MLPNet(), what="model",
                                          described=LECTURE_NET)
        x = torch.randn(9, 784, generator=data.generator(5))
        net = models.grader_copy(model, ref.MLPNet, placements, x, what="model",
                                 rtol=1e-4, atol=1e-4)
        return accuracy.accuracy_of(net, _flat(_mnist_test(submission)))

    return memo.once(submission, "test accuracy", measure)


@pytest.mark.points(3)
def test_model_accuracy(submission):
    measured = _test_accuracy(submission, models.trained_model(submission, INPUT))
    accuracy.expect_accuracy(measured, submission.assignment.thresholds["accuracy"],
                             what="model のテスト正解率")
