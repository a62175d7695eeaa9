"""Hidden checks of 14_h: the lecture's AlexNet trained on CIFAR-10 on the GPU.

``AlexNet`` is compared with ``autograder_reference.cifar.AlexNet``: its layers by their shapes
(whatever their names: ``features.0`` or ``conv1``), the parameter count, the output of
the reference carrying the student's weights, and dropout by what it does (outputs vary
in training mode, not in eval mode) so ``nn.Dropout`` and ``F.dropout`` are alike. The
transforms are run in the kernel on an image the grader made. The trained ``model`` is
judged on the grader's own test set, chosen by the *grading* parameters (never by the
notebook's own values): real CIFAR-10 from ``submission.data_dir``, or with
``DATASET=synthetic`` the reference generator's test split (``make_fake_cifar``, the
distribution of the notebook's ``FakeCIFAR10``); the first ``TEST_SUBSET`` images when that
parameter is set. Images are normalised with the student's own ``Normalize`` (checked to
be what ``test_transform`` computes). ``confusion`` must be a 10×10 count matrix of that
test set and agree with the grader's predictions up to a few flips (the notebook predicts
under autocast, the grader in float32). Transforms may be ``torchvision.transforms`` or
``transforms.v2``; history values numbers or one-element tensors; ``confusion`` any
integer dtype.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import pytest
import torch

from autograder.checks import RemoteModel, StudentError, accuracy, fail, shapes, values
from autograder_reference import cifar as ref

N_PARAMS = 36_051_786
INPUT = (3, 32, 32)
HISTORY_KEYS = ("train_loss", "val_loss", "train_acc", "val_acc")


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


def _params_for(num_classes: int) -> int:
    return N_PARAMS - (4096 * 10 + 10) + (4096 * num_classes + num_classes)


def _expect_alexnet(model: RemoteModel, what: str, num_classes: int = 10
                    ) -> list[dict[str, torch.Tensor]]:
    """The lecture's layers (by shape) and parameter count; the ways to place them."""
    if model.num_parameters != _params_for(num_classes):
        fail(ja=f"{what} のパラメータ数は {_params_for(num_classes):,} 個のはずです"
                f"（{model.num_parameters:,} 個）",
             en=f"{what} should have {_params_for(num_classes):,} parameters "
                f"(has {model.num_parameters:,})")
    placements = _placements(ref.AlexNet(num_classes), model.state_dict())
    if not placements:
        fail(ja=f"{what} の層が講義の AlexNet（畳み込み 64-192-384-256-256、"
                "全結合 4096-4096-クラス数）と違います",
             en=f"{what}'s layers differ from the lecture's AlexNet (convolutions "
                "64-192-384-256-256, linear 4096-4096-classes)")
    return placements


def _fresh(submission: Any, num_classes: int) -> RemoteModel:
    net = submission.function("AlexNet")(num_classes)
    return submission.model(net, torch.zeros(2, *INPUT))


def _trained(submission: Any) -> RemoteModel:
    return submission.model("model", torch.zeros(2, *INPUT))


def _expect_dropout(submission: Any, x: torch.Tensor) -> None:
    """Dropout by its behaviour: a fresh AlexNet(10) gives varying outputs in training
    mode and the same outputs in eval mode."""
    net = submission.function("AlexNet")(10)
    try:
        net.attr("train")()
        varying = not torch.equal(net(x), net(x))
        net.attr("eval")()
        steady = torch.equal(net(x), net(x))
    except StudentError as exc:
        fail(ja=f"AlexNet(10) の実行中にエラー: {exc.detail()}",
             en=f"error while running AlexNet(10): {exc.detail()}")
    if not varying:
        fail(ja="classifier に Dropout を入れてください（学習モードで出力が毎回変わるはずです）",
             en="the classifier should use dropout (outputs vary in training mode)")
    if not steady:
        fail(ja="評価モード（model.eval()）では Dropout を止めてください"
                "（F.dropout なら training=self.training を渡します）",
             en="dropout should be off in eval mode (pass training=self.training to F.dropout)")


# ---------------------------------------------------------------- device and network

@pytest.mark.points(1)
def test_device(submission):
    device = submission.evaluate("str(device)")
    requested = submission.evaluate("globals().get('DEVICE')")
    if isinstance(requested, str):
        wanted = requested
    else:
        has_gpu = submission.evaluate("__import__('torch').cuda.is_available()")
        wanted = "cuda" if has_gpu is True else "cpu"
    if device not in (wanted, f"{wanted}:0"):
        fail(ja=f"device は '{wanted}' のはずです（{device!r}）。"
                "GPU があれば 'cuda'、なければ 'cpu' です",
             en=f"device should be '{wanted}' (got {device!r}): 'cuda' with a GPU, else 'cpu'")


@pytest.mark.points(3)
def test_alexnet_structure(submission):
    net = _fresh(submission, 10)
    if net.output_shape != (2, 10):
        fail(ja=f"AlexNet(10) の出力の形は (N, 10) のはずです（{net.output_shape}）",
             en=f"AlexNet(10) should output (N, 10) (got {net.output_shape})")
    placements = _expect_alexnet(net, "AlexNet(10)")
    x = torch.randn(3, *INPUT, generator=torch.Generator().manual_seed(5))
    got = shapes.expect_shape(net.forward(x), (3, 10), what="AlexNet(10) の出力")
    wants = []
    for state in placements:
        reference = ref.AlexNet(10)
        reference.load_state_dict(state)
        with torch.no_grad():
            wants.append(reference.eval()(x))
        if torch.allclose(got.float(), wants[-1], rtol=1e-3, atol=1e-4):
            break
    else:
        values.expect_close(got, wants[0], rtol=1e-3, atol=1e-4,
                            what="AlexNet の出力（畳み込み・プーリング → 1 次元に → 全結合）")
    _expect_dropout(submission, x)
    other = _fresh(submission, 7)
    if other.output_shape != (2, 7) or other.num_parameters != _params_for(7):
        fail(ja="AlexNet(num_classes) の最後の層の出力の数は num_classes にしてください",
             en="AlexNet(num_classes) should end with num_classes outputs")


@pytest.mark.points(1)
def test_model_is_alexnet(submission):
    kind = submission.evaluate("type(model).__name__")
    if kind != "AlexNet":
        fail(ja=f"model は AlexNet のインスタンスにしてください（{kind}）",
             en=f"model should be an instance of AlexNet ({kind})")
    _expect_alexnet(_trained(submission), "model")


# ---------------------------------------------------------------- transforms

# every transform inside a Compose (nested ones and RandomApply's too), as a kernel lambda
_ALL = ("(lambda walk: walk(walk, {0}))(lambda walk, t: [t] + [u for c in "
        "(getattr(t, 'transforms', None) or []) for u in walk(walk, c)])")
_NAMES = "[type(t).__name__ for t in " + _ALL + "]"
_NORMALIZE = ("[([float(v) for v in t.mean], [float(v) for v in t.std]) for t in "
              + _ALL.format("test_transform") + " if type(t).__name__ == 'Normalize']")
# a transform's result as a plain tensor (transforms.v2 gives tv_tensors.Image)
_APPLY = ("lambda f, image: (lambda out: __import__('torch').Tensor.as_subclass(out, "
          "__import__('torch').Tensor) if isinstance(out, __import__('torch').Tensor) "
          "else out)(f(image))")


def _normalization(submission: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of the student's ``Normalize`` (none: identity), shaped (1, 3, 1, 1)."""
    found = submission.evaluate(_NORMALIZE)
    mean, std = ([0.0] * 3, [1.0] * 3) if not found else found[0]
    if not (len(found) <= 1 and len(mean) in (1, 3) and len(std) in (1, 3)
            and all(isinstance(v, float) and math.isfinite(v) for v in [*mean, *std])
            and all(v != 0 for v in std)):
        fail(ja="test_transform の Normalize は 3 チャンネル分の平均と標準偏差にしてください",
             en="test_transform's Normalize should have a mean and std per channel")
    return (torch.tensor(mean).expand(3).view(1, 3, 1, 1),
            torch.tensor(std).expand(3).view(1, 3, 1, 1))


def _to_input(pixels: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 ``(N, 32, 32, 3)`` → what ``ToTensor`` + ``Normalize(mean, std)`` gives."""
    return (pixels.permute(0, 3, 1, 2).float() / 255 - mean) / std


def _transform_in_kernel(submission: Any, name: str, pixels: torch.Tensor) -> Any:
    image_module = submission.evaluate("__import__('PIL.Image', fromlist=['Image'])",
                                       remote_ok=True)
    image = image_module.attr("fromarray")(pixels.numpy())
    transform = submission.value(name, remote_ok=True)
    try:
        return submission.evaluate(_APPLY, remote_ok=True)(transform, image)
    except StudentError as exc:
        fail(ja=f"{name} を画像にかけるとエラーになります: {exc.detail()}",
             en=f"applying {name} to an image fails: {exc.detail()}")


@pytest.mark.points(1)
def test_transforms(submission):
    train_names = submission.evaluate(_NAMES.format("train_transform"))
    test_names = submission.evaluate(_NAMES.format("test_transform"))
    if not isinstance(train_names, list) or "RandomHorizontalFlip" not in train_names:
        fail(ja="train_transform に左右反転 transforms.RandomHorizontalFlip() を入れてください",
             en="train_transform should include transforms.RandomHorizontalFlip()")
    if not isinstance(test_names, list) or any(n.startswith("Random") for n in test_names):
        fail(ja="test_transform にはランダムな処理（データ拡張）を入れないでください",
             en="test_transform should not contain random transforms (augmentation)")
    g = torch.Generator().manual_seed(21)
    pixels = torch.randint(0, 256, (32, 32, 3), generator=g, dtype=torch.uint8)
    mean, std = _normalization(submission)
    got = _transform_in_kernel(submission, "test_transform", pixels)
    values.expect_close(got, _to_input(pixels[None], mean, std)[0], atol=1e-5,
                        what="test_transform の結果（ToTensor → Normalize）")
    shapes.expect_shape(_transform_in_kernel(submission, "train_transform", pixels),
                        INPUT, what="train_transform の結果")


# ---------------------------------------------------------------- history

@pytest.mark.points(1)
def test_history(submission):
    history = submission.value("history")
    if not (isinstance(history, dict) and set(history) == set(HISTORY_KEYS)):
        fail(ja="history は train_loss, val_loss, train_acc, val_acc の 4 つのキーの"
                "辞書にしてください",
             en="history should be a dict with keys train_loss, val_loss, train_acc, val_acc")
    epochs = submission.evaluate("EPOCHS")
    for key in HISTORY_KEYS:
        series = history[key]
        if not (isinstance(series, (list, tuple)) and len(series) == epochs):
            fail(ja=f"history['{key}'] はエポックごとに 1 つ、{epochs} 個の値の"
                    "リストにしてください",
                 en=f"history['{key}'] should be a list with one value per epoch ({epochs})")
        # numbers, or one-element tensors (a loss summed as a tensor)
        series = [float(v) if isinstance(v, torch.Tensor) and v.numel() == 1 else v
                  for v in series]
        if not all(type(v) in (int, float) and math.isfinite(v) and v >= 0 for v in series):
            fail(ja=f"history['{key}'] の値は 0 以上の有限の数にしてください",
                 en=f"history['{key}'] should hold finite non-negative numbers")
        if key.endswith("_acc") and not all(v <= 1 for v in series):
            fail(ja=f"history['{key}'] は正解率（0〜1）です",
                 en=f"history['{key}'] is an accuracy in [0, 1]")


# ---------------------------------------------------------------- the trained model

@lru_cache(maxsize=4)
def _test_pixels(dataset: str, n: int, data_dir: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The grader's first ``n`` test images as uint8 ``(n, 32, 32, 3)``, and labels."""
    if dataset == "synthetic":
        fake = ref.make_fake_cifar(n, seed=ref.FAKE_TEST_SEED)
        return torch.from_numpy(fake.data), torch.tensor(fake.targets)
    from torchvision import datasets

    test = datasets.CIFAR10(root=data_dir, train=False, download=False)
    return torch.from_numpy(test.data[:n]), torch.tensor(test.targets[:n])


def _test_set(submission: Any) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Inputs, labels and the threshold's key, by the grading parameters."""
    dataset = str(submission.params.get("DATASET", "cifar10"))
    subset = submission.params.get("TEST_SUBSET")
    n = min(int(subset), 10000) if isinstance(subset, int) and subset > 0 else 10000
    pixels, labels = _test_pixels(dataset, n, str(submission.data_dir))
    mean, std = _normalization(submission)
    key = "accuracy_synthetic" if dataset == "synthetic" else "accuracy"
    return _to_input(pixels, mean, std), labels, key


_PREDICTIONS: dict[int, tuple[torch.Tensor, torch.Tensor, str]] = {}


def _predictions(submission: Any) -> tuple[torch.Tensor, torch.Tensor, str]:
    """``(predicted, label, threshold key)`` for the grader's test set, computed once per
    run (this module is reloaded for every submission)."""
    key = id(submission)
    if key not in _PREDICTIONS:
        x, y, threshold_key = _test_set(submission)
        pred, target = accuracy.predict(_trained(submission), (x, y), batch_size=250)
        _PREDICTIONS[key] = (pred, target, threshold_key)
    return _PREDICTIONS[key]


@pytest.mark.points(4)
@pytest.mark.time_limit(600)
def test_model_accuracy(submission):
    pred, target, key = _predictions(submission)
    measured = float((pred == target).float().mean())
    accuracy.expect_accuracy(measured, submission.assignment.thresholds[key],
                             what="model のテスト正解率")


def _confusion(submission: Any, n: int) -> torch.Tensor:
    raw = submission.value("confusion")
    if not isinstance(raw, torch.Tensor):
        fail(ja="confusion はテンソルにしてください", en="confusion should be a tensor")
    shapes.expect_shape(raw, (10, 10), what="confusion")
    if raw.is_floating_point() or raw.dtype == torch.bool:
        fail(ja="confusion は枚数なので整数のテンソルにしてください",
             en="confusion holds counts: make it an integer tensor")
    if int(raw.sum()) != n:
        fail(ja=f"confusion の合計はテスト用データの枚数 {n} のはずです（{int(raw.sum())}）",
             en=f"confusion should sum to the test set size {n} (sums to {int(raw.sum())})")
    return raw.to(torch.int64)


@pytest.mark.points(1)
@pytest.mark.time_limit(600)
def test_confusion_counts(submission):
    _, target, _ = _predictions(submission)
    confusion = _confusion(submission, len(target))
    if not torch.equal(confusion.sum(dim=1), torch.bincount(target, minlength=10)):
        fail(ja="confusion の各行の合計が、その正解クラスの枚数になっていません"
                "（行が正解、列が予測）",
             en="the rows of confusion do not sum to each true class's count (rows: true, "
                "columns: predicted)")


@pytest.mark.points(2)
@pytest.mark.time_limit(600)
def test_confusion_matches_model(submission):
    pred, target, _ = _predictions(submission)
    confusion = _confusion(submission, len(target))
    mine = torch.bincount(target * 10 + pred.clamp(0, 9), minlength=100).view(10, 10)
    # Orientation is test_confusion_counts' job: whether a transposed matrix stands out here
    # would depend on how asymmetric the model's mistakes happen to be.
    moved = min(int((confusion - m).abs().sum()) // 2 for m in (mine, mine.T))
    allowed = max(3, len(target) // 50)  # autocast (notebook) vs float32 (grader) flips
    if moved > allowed:
        fail(ja=f"confusion が model の予測と合いません（採点側の予測と {moved} 枚分違います）。"
                "test_loader の全データで、行を正解・列を予測にして数えてください",
             en=f"confusion does not match model's predictions ({moved} images differ from the "
                "grader's); count over the whole test_loader, rows true, columns predicted")
