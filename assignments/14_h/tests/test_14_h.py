"""Hidden checks of 14_h: the lecture's AlexNet trained on CIFAR-10 on the GPU.

``AlexNet`` is compared with ``autograder_reference.cifar.AlexNet``: its layers by their shapes
(whatever their names: ``features.0`` or ``conv1``), the parameter count, the output of
the reference carrying the student's weights, and dropout by what it does (outputs vary
in training mode, not in eval mode) so ``nn.Dropout`` and ``F.dropout`` are alike. The
transforms are run in the kernel on images the grader made: the horizontal flip is judged by
what it does (an image bright on one side comes out swapped in some of 24 tries and not in
others), not by a class name the kernel reports, and ``test_transform`` must give the same
``ToTensor → Normalize`` result every time. The trained ``model`` is
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

import math
from functools import lru_cache, partial
from typing import Any

import pytest
import torch

from autograder.checks import StudentError, accuracy, data, fail, memo, models, shapes, values
from autograder_reference import cifar as ref

INPUT = (3, 32, 32)
HISTORY_KEYS = ("train_loss", "val_loss", "train_acc", "val_acc")
# The lecture's layers, for the message of a network whose layers differ.
LECTURE_ALEXNET = ("講義の AlexNet（畳み込み 64-192-384-256-256、全結合 4096-4096-クラス数）",
                   "the lecture's AlexNet (convolutions 64-192-384-256-256, "
                   "linear 4096-4096-classes)")


def _expect_alexnet(model: Any, what: str, num_classes: int = 10
                    ) -> list[dict[str, torch.Tensor]]:
    """The lecture's parameter count and layers (by shape, whatever their names: the
    weights are matched to ``autograder_reference.cifar.AlexNet`` layer by layer); the
    ways to place the student's weights in it."""
    return models.expect_layers(model, ref.AlexNet(num_classes), what=what,
                                described=LECTURE_ALEXNET)


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
    # the grading run's DEVICE, not the kernel's: a notebook may rebind its own
    requested = submission.params.get("DEVICE")
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
    net = models.new_model(submission, "AlexNet", INPUT, 10)
    if net.output_shape != (2, 10):
        fail(ja=f"AlexNet(10) の出力の形は (N, 10) のはずです（{net.output_shape}）",
             en=f"AlexNet(10) should output (N, 10) (got {net.output_shape})")
    placements = _expect_alexnet(net, "AlexNet(10)")
    x = torch.randn(3, *INPUT, generator=data.generator(5))
    models.expect_reference_outputs(
        net, partial(ref.AlexNet, 10), placements, x, rtol=1e-3, atol=1e-4,
        dtype=torch.float32, what="AlexNet(10) の出力",
        computes="AlexNet の出力（畳み込み・プーリング → 1 次元に → 全結合）")
    _expect_dropout(submission, x)
    other = models.new_model(submission, "AlexNet", INPUT, 7)
    # three classes fewer: Linear(4096, 7) has 3 × (4096 + 1) parameters fewer than the 10's
    if other.output_shape != (2, 7) or other.num_parameters != net.num_parameters - 3 * 4097:
        fail(ja="AlexNet(num_classes) の最後の層の出力の数は num_classes にしてください",
             en="AlexNet(num_classes) should end with num_classes outputs")


@pytest.mark.points(1)
def test_model_is_alexnet(submission):
    models.expect_class_name(submission, "model", "AlexNet")
    _expect_alexnet(models.trained_model(submission, INPUT), "model")


# ---------------------------------------------------------------- transforms

# every transform inside a Compose (nested ones and RandomApply's too), as a kernel lambda
_ALL = ("(lambda walk: walk(walk, {0}))(lambda walk, t: [t] + [u for c in "
        "(getattr(t, 'transforms', None) or []) for u in walk(walk, c)])")
_NAMES = "[type(t).__name__ for t in " + _ALL + "]"
# a mean or std as torchvision takes it: a sequence, a tensor or one number (``Normalize(0.5,
# 0.5)``), as a list of floats
_FLOATS = ("__import__('torch').as_tensor({0}, dtype=__import__('torch').float64)"
           ".reshape(-1).tolist()")
_NORMALIZE = ("[(" + _FLOATS.format("t.mean") + ", " + _FLOATS.format("t.std") + ") for t in "
              + _ALL.format("test_transform") + " if type(t).__name__ == 'Normalize']")
# a transform's results on one image, n times, as plain tensors (transforms.v2 gives
# tv_tensors.Image)
_APPLY = ("lambda f, image, n: [(lambda out: __import__('torch').Tensor.as_subclass(out, "
          "__import__('torch').Tensor) if isinstance(out, __import__('torch').Tensor) "
          "else out)(f(image)) for _ in range(n)]")
# a random flip shows both sides within this many tries but once in 2**23 runs where
# every result is recognisable; where other transforms stacked on it leave only one in
# five so (RandomAffine's shift after a padded crop, RandomRotation(30): an honest-style
# hunt measured 19-22 %), once in four million runs at worst (48 tries: once in 60)
_FLIP_TRIES = 160
_SHIFT = 4     # pixels a crop may move the image
_LIKE = 0.9    # a result is the pattern (or its mirror image) from this correlation up


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


def _transform_in_kernel(submission: Any, name: str, pixels: torch.Tensor, times: int = 1
                         ) -> list[Any]:
    """``name`` applied ``times`` times to the image of ``pixels``, in the kernel."""
    image_module = submission.evaluate("__import__('PIL.Image', fromlist=['Image'])",
                                       remote_ok=True)
    image = image_module.attr("fromarray")(pixels.numpy())
    transform = submission.value(name, remote_ok=True)
    try:
        got = submission.evaluate(_APPLY, remote_ok=True)(transform, image, times)
    except StudentError as exc:
        fail(ja=f"{name} を画像にかけるとエラーになります: {exc.detail()}",
             en=f"applying {name} to an image fails: {exc.detail()}")
    if not isinstance(got, list) or len(got) != times:
        fail(ja=f"{name} の結果を読み取れませんでした", en=f"could not read {name}'s results")
    return got


def _flip_pattern() -> torch.Tensor:
    """A smooth grey 32×32 pattern (uint8) unlike its mirror image, its upside-down image,
    its half-turn and its negative (correlations 0.01, 0.18, -0.27, -1): grey, so colour
    changes (jitter, grayscale, hue) keep it; smooth, so crops and small rotations do."""
    g = data.generator(35)
    coarse = torch.rand(1, 1, 4, 4, generator=g, dtype=torch.float64)
    fine = torch.nn.functional.interpolate(coarse, size=(32, 32), mode="bicubic",
                                           align_corners=False)[0, 0]
    fine = (fine - fine.min()) / (fine.max() - fine.min())
    return (30 + 195 * fine).round().to(torch.uint8)


def _correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson's correlation of two images, each channel centred on its own mean (a
    Normalize, brightness or contrast change scales and moves a channel)."""
    a = a - a.mean(dim=(-2, -1), keepdim=True)
    b = b - b.mean(dim=(-2, -1), keepdim=True)
    return float((a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-12))


def _likeness(out: torch.Tensor, image: torch.Tensor) -> float:
    """The best correlation of ``out`` with ``image`` over shifts of up to 4 pixels (a
    ``RandomCrop(32, padding=4)``), on the part they share."""
    best = -1.0
    for dy in range(-_SHIFT, _SHIFT + 1):
        for dx in range(-_SHIFT, _SHIFT + 1):
            a = out[:, max(dy, 0):32 + min(dy, 0), max(dx, 0):32 + min(dx, 0)]
            b = image[:, max(-dy, 0):32 + min(-dy, 0), max(-dx, 0):32 + min(-dx, 0)]
            best = max(best, _correlation(a, b))
    return best


def _expect_flip(submission: Any) -> None:
    """A horizontal flip by what it does (whatever transform does it: ``RandomHorizontalFlip``,
    v2's, a ``RandomApply`` of ``hflip``): over many tries on one pattern, some results
    are the pattern and some its mirror image (each told by a correlation of 0.9 or more,
    up to a crop's shift). Crops, colour changes, small rotations and normalisation keep
    the pattern recognisable; an inversion, a solarization, a vertical flip or a
    half-turn (``RandomRotation(180)``) never gives the mirror image."""
    pattern = _flip_pattern()
    pixels = pattern[:, :, None].expand(32, 32, 3).contiguous()
    kept = pattern.double().expand(3, 32, 32)
    mirrored = pattern.flip(-1).double().expand(3, 32, 32)
    seen = set()
    for out in _transform_in_kernel(submission, "train_transform", pixels, _FLIP_TRIES):
        shapes.expect_shape(out, INPUT, what="train_transform の結果")
        image = values.as_tensor(out, what="train_transform の結果", dtype=torch.float64)
        same, mirror = _likeness(image, kept), _likeness(image, mirrored)
        if max(same, mirror) >= _LIKE:
            seen.add(mirror > same)
    if seen != {True, False}:
        fail(ja="train_transform に左右反転 transforms.RandomHorizontalFlip() を入れてください"
                f"（{_FLIP_TRIES} 回かけて、左右が入れ替わる回と入れ替わらない回の両方が"
                "あるはずです）",
             en="train_transform should include transforms.RandomHorizontalFlip() (in "
                f"{_FLIP_TRIES} tries the sides should swap in some and not in others)")


@pytest.mark.points(1)
def test_transforms(submission):
    test_names = submission.evaluate(_NAMES.format("test_transform"))
    if not isinstance(test_names, list) or any(n.startswith("Random") for n in test_names):
        fail(ja="test_transform にはランダムな処理（データ拡張）を入れないでください",
             en="test_transform should not contain random transforms (augmentation)")
    _expect_flip(submission)
    g = torch.Generator().manual_seed(21)
    pixels = torch.randint(0, 256, (32, 32, 3), generator=g, dtype=torch.uint8)
    mean, std = _normalization(submission)
    # the same result every time: nothing random (of any name) in test_transform
    for got in _transform_in_kernel(submission, "test_transform", pixels, 4):
        values.expect_close(got, _to_input(pixels[None], mean, std)[0], atol=1e-5,
                            what="test_transform の結果（ToTensor → Normalize）")


# ---------------------------------------------------------------- history

@pytest.mark.points(1)
def test_history(submission):
    history = submission.value("history")
    if not (isinstance(history, dict) and set(history) == set(HISTORY_KEYS)):
        fail(ja="history は train_loss, val_loss, train_acc, val_acc の 4 つのキーの"
                "辞書にしてください",
             en="history should be a dict with keys train_loss, val_loss, train_acc, val_acc")
    epochs = int(submission.params["EPOCHS"])   # the grader's ([grading]), not the kernel's
    for key in HISTORY_KEYS:
        series = history[key]
        if not (isinstance(series, (list, tuple)) and len(series) == epochs):
            fail(ja=f"history['{key}'] はエポックごとに 1 つ、{epochs} 個の値の"
                    "リストにしてください",
                 en=f"history['{key}'] should be a list with one value per epoch ({epochs})")
        # numbers, or one-element tensors (a loss summed as a tensor)
        series = [values.as_number(v) for v in series]
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


def _grader_alexnet(submission: Any) -> torch.nn.Module:
    """The lecture's AlexNet carrying the trained ``model``'s weights, run by the grader
    (``models.grader_copy``): the model's own outputs on test images the kernel can read
    score nothing."""
    model = models.trained_model(submission, INPUT)
    placements = _expect_alexnet(model, "model")
    x = torch.randn(3, *INPUT, generator=data.generator(6))
    return models.grader_copy(model, partial(ref.AlexNet, 10), placements, x, what="model",
                              rtol=1e-3, atol=1e-4)


def _predictions(submission: Any) -> tuple[torch.Tensor, torch.Tensor, str]:
    """``(predicted, label, threshold key)`` for the grader's test set, computed once per
    submission."""
    def predict() -> tuple[torch.Tensor, torch.Tensor, str]:
        x, y, threshold_key = _test_set(submission)
        pred, target = accuracy.predict(_grader_alexnet(submission), (x, y), batch_size=250)
        return pred, target, threshold_key

    return memo.once(submission, "predictions", predict)


@pytest.mark.points(4)
@pytest.mark.time_limit(600)
def test_model_accuracy(submission):
    pred, target, key = _predictions(submission)
    measured = float((pred == target).float().mean())
    accuracy.expect_accuracy(measured, submission.assignment.thresholds[key],
                             what="model のテスト正解率")


def _flips_allowed(n: int) -> int:
    """Predictions of ``n`` images that may differ between the notebook's run (autocast)
    and the grader's (float32)."""
    return max(3, n // 50)


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
    pred, target, _ = _predictions(submission)
    confusion = _confusion(submission, len(target))
    if not torch.equal(confusion.sum(dim=1), torch.bincount(target, minlength=10)):
        fail(ja="confusion の各行の合計が、その正解クラスの枚数になっていません"
                "（行が正解、列が予測）",
             en="the rows of confusion do not sum to each true class's count (rows: true, "
                "columns: predicted)")
    # the diagonal is the model's right answers, whichever way the matrix is read: a
    # matrix of the class counts alone (torch.diag(bincount), no model run, red-team
    # pass 6) claims every answer right
    right = int((pred == target).sum())
    if abs(int(confusion.trace()) - right) > _flips_allowed(len(target)):
        fail(ja=f"confusion の対角（正解した枚数 {int(confusion.trace())}）が、model の予測"
                f"（採点側で {right} 枚正解）と合いません",
             en=f"the diagonal of confusion ({int(confusion.trace())} right) does not match"
                f" model's predictions ({right} right by the grader's count)")


@pytest.mark.points(2)
@pytest.mark.time_limit(600)
def test_confusion_matches_model(submission):
    pred, target, _ = _predictions(submission)
    confusion = _confusion(submission, len(target))
    mine = torch.bincount(target * 10 + pred.clamp(0, 9), minlength=100).view(10, 10)
    # Orientation is test_confusion_counts' job: whether a transposed matrix stands out here
    # would depend on how asymmetric the model's mistakes happen to be.
    moved = min(int((confusion - m).abs().sum()) // 2 for m in (mine, mine.T))
    allowed = _flips_allowed(len(target))
    if moved > allowed:
        fail(ja=f"confusion が model の予測と合いません（採点側の予測と {moved} 枚分違います）。"
                "test_loader の全データで、行を正解・列を予測にして数えてください",
             en=f"confusion does not match model's predictions ({moved} images differ from the "
                "grader's); count over the whole test_loader, rows true, columns predicted")
