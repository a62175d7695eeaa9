"""Hidden checks of 03_n: the lecture's fully connected ``Net`` on MNIST.

The network is checked as a fresh ``Net()`` and as the trained ``model``: its layers by
their shapes (whatever their names: ``l1``, ``layers.0``, ...), and its forward pass
against ``autograder_reference.mnist.MLPNet`` carrying the student's own weights. ``evaluate`` runs
in the kernel on a loader the grader builds from its own images (a batch size that leaves
a short last batch), and its answer must equal the accuracy the grader computes from the
model's outputs on the same batches. The trained ``model`` is judged on the grader's
MNIST test set (``submission.data_dir``, ``Normalize((0.5,), (1.0,))`` as in the
lecture). Any dtype, and a number or a one-element tensor for an accuracy, are accepted.
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
from autograder_reference import mnist as ref

N_PARAMS = 1_238_730


@lru_cache(maxsize=2)
def _mnist_test(data_dir: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The grader's MNIST test set as ``(10000, 1, 28, 28)`` normalised images, labels."""
    from torchvision import datasets

    test = datasets.MNIST(root=str(data_dir), train=False, download=False)
    data = ref.tensor_dataset(test)
    return data.tensors[0], data.tensors[1]


def _fresh_net(submission: Any) -> RemoteModel:
    """A new ``Net()`` built in the kernel, kept there as a model handle."""
    net = submission.function("Net")()
    return submission.model(net, torch.zeros(2, 784))


def _trained(submission: Any) -> RemoteModel:
    return submission.model("model", torch.zeros(2, 784))


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
    placements = _placements(ref.MLPNet(), model.state_dict())
    if not placements:
        fail(ja=f"{what} の層が講義の Net（nn.Linear(784, 784) が 2 つと nn.Linear(784, 10)）"
                "と違います",
             en=f"{what}'s layers differ from the lecture's Net (two nn.Linear(784, 784) and "
                "one nn.Linear(784, 10))")
    return placements


def _expect_lecture_forward(model: RemoteModel, what: str, seed: int,
                            placements: list[dict[str, torch.Tensor]]) -> None:
    """Outputs equal the lecture's forward pass with the student's weights."""
    x = torch.randn(9, 784, generator=torch.Generator().manual_seed(seed))
    got = shapes.expect_shape(model.forward(x), (9, 10), what=f"{what} の出力")
    wants = []
    for state in placements:
        reference = ref.MLPNet().double()
        reference.load_state_dict(state)
        with torch.no_grad():
            wants.append(reference.eval()(x.double()))
        if torch.allclose(got.double(), wants[-1], rtol=1e-4, atol=1e-4):
            return
    values.expect_close(got, wants[0], rtol=1e-4, atol=1e-4,
                        what=f"{what} の出力（Linear → sigmoid → Linear → sigmoid → Linear → "
                             "log_softmax）")


# ---------------------------------------------------------------- the network

@pytest.mark.points(1)
def test_net_output(submission):
    net = _fresh_net(submission)
    for n in (1, 5):
        out = shapes.expect_shape(net.forward(torch.zeros(n, 784)), (n, 10),
                                  what=f"Net()(torch.zeros({n}, 784))")
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


# ---------------------------------------------------------------- data

def _train_size_allowed(submission: Any) -> int:
    subset = submission.evaluate("globals().get('TRAIN_SUBSET')")
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
    test_images = _mnist_test(submission.data_dir)[0].reshape(10000, -1)
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

def _grader_loader(submission: Any, seed: int, n: int, batch_size: int
                   ) -> tuple[Any, torch.Tensor, torch.Tensor]:
    """A DataLoader built in the kernel over MNIST test images the grader picked."""
    images, labels = _mnist_test(submission.data_dir)
    pick = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))[:n]
    x, y = images[pick].contiguous(), labels[pick].contiguous()
    dataset = submission.function("torch.utils.data.TensorDataset")(x, y)
    loader = submission.function("torch.utils.data.DataLoader")(dataset, batch_size=batch_size)
    return loader, x, y


def _number(value: Any) -> Any:
    """A one-element tensor as a Python number; anything else unchanged."""
    return float(value) if isinstance(value, torch.Tensor) and value.numel() == 1 else value


def _accuracy_in_batches(model: RemoteModel, x: torch.Tensor, y: torch.Tensor,
                         batch_size: int) -> float:
    """The grader's accuracy from the model's outputs, batched as the loader batches."""
    correct = 0
    for i in range(0, len(y), batch_size):
        out = model.forward(x[i:i + batch_size].reshape(-1, 784))
        correct += int((out.float().argmax(dim=1) == y[i:i + batch_size]).sum())
    return correct / len(y)


@pytest.mark.points(2)
def test_evaluate(submission):
    model = _trained(submission)
    loader, x, y = _grader_loader(submission, seed=11, n=250, batch_size=7)
    try:
        got = submission.function("evaluate")(submission.value("model", remote_ok=True), loader)
    except StudentError as exc:
        fail(ja=f"evaluate(model, loader) の実行中にエラー: {exc.detail()}",
             en=f"error while running evaluate(model, loader): {exc.detail()}")
    got = _number(got)
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
def test_evaluate_on_test_loader(submission):
    model = _trained(submission)
    reported = _number(submission.evaluate("evaluate(model, test_loader)"))
    if type(reported) not in (int, float):
        fail(ja="evaluate(model, test_loader) が数を返しません",
             en="evaluate(model, test_loader) does not return a number")
    measured = accuracy.accuracy_of(model, _flat(_mnist_test(submission.data_dir)))
    if abs(reported - measured) > 0.003:
        fail(ja=f"evaluate(model, test_loader)（{reported:.4f}）が、採点側で計算した model の"
                f"テスト正解率（{measured:.4f}）と一致しません",
             en=f"evaluate(model, test_loader) ({reported:.4f}) does not match the test "
                f"accuracy of model computed by the grader ({measured:.4f})")


# ---------------------------------------------------------------- the trained model

def _flat(data: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    return data[0].reshape(-1, 784), data[1]


@pytest.mark.points(3)
def test_model_accuracy(submission):
    model = _trained(submission)
    measured = accuracy.accuracy_of(model, _flat(_mnist_test(submission.data_dir)))
    accuracy.expect_accuracy(measured, submission.assignment.thresholds["accuracy"],
                             what="model のテスト正解率")
