"""Hidden checks of 14_n: convolution and pooling arithmetic, the CIFAR-10 split, a CNN.

The arithmetic is compared with ``torch.nn.functional`` (and ``autograder_reference.convolution``)
on random inputs the notebook never shows; ``split_dataset`` is run in the kernel on a
50,000-item dataset of indices; ``model`` is evaluated by the grader on its own test set:
real CIFAR-10 from ``submission.data_dir``, or, when graded with ``DATASET=synthetic``,
fresh images from ``autograder_reference.cifar.fake_cifar_tensors``, the generator the notebook
carries a copy of (same code, so the same distribution; another seed, so images it never
saw).

A check that quotes a deck example (conv ``411, …``, the pooling maps) tries it first and
then inputs of its own, so a table of the deck's numbers earns nothing. Results may be
tensors, numpy arrays (which arrive as tensors) or nested lists, in any dtype. "By hand"
(no ``F.conv2d``, no library pooling) is read from the functions' text
(``submission.source``) with ``ast``, helpers they call included.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

from autograder.checks import StudentError, accuracy, data, fail, models, source, values
from autograder.checks.convolution import expect_conv2d
from autograder_reference import convolution as ref

DECK_X = torch.arange(1, 26).reshape(5, 5)
DECK_K = torch.arange(1, 10).reshape(3, 3)
DECK_CONV = [[411, 456, 501], [636, 681, 726], [861, 906, 951]]
DECK_POOL_X = torch.tensor([[3, 4, 3, 6], [7, 1, 1, 2], [4, 6, 3, 5], [9, 3, 7, 8]])


def _tensor(value: Any, what: str, shape: tuple[int, ...]) -> torch.Tensor:
    """Values (a tensor, an array or nested lists) of ``shape``, as float64."""
    got = values.as_tensor(value, what=f"{what} の結果", dtype=torch.float64)
    if tuple(got.shape) != shape:
        fail(ja=f"{what} の出力の形が {shape} になりません（{tuple(got.shape)} でした）",
             en=f"{what} should return shape {shape} (got {tuple(got.shape)})")
    return got


# ---------------------------------------------------------------- reading function text
#
# ``submission.source(name)`` is untrusted text: parsed, never run (``checks.source``).
# A function and every helper it calls, transitively, are read; what they take from a
# library (an attribute such as ``F.conv2d``, a name imported inside them, a bare call of
# a function whose text cannot be read) must not be one of the forbidden functions, nor
# of their families (the library has many doors to one convolution: ``conv3d`` with a
# depth of one, ``torch.nn.grad.conv2d_weight``, ``torch.ops.aten.mkldnn_convolution``;
# to one pooling: ``max_pool3d``, ``F.interpolate(mode="area")``).

def _no_library(submission: Any, name: str, forbidden: set[str], families: tuple[str, ...],
                *, judged: frozenset[str] = frozenset()) -> None:
    """``judged``: the student's functions this one may call that a check of their own
    judges (conv2d_multi's ``conv2d``): not read again, and not a library's name here."""
    trees = source.read_functions(submission, name, skip=judged)
    # a bare call of a judged function is the student's; ``F.conv2d`` stays the library's
    calls = judged - source.attribute_names(trees) - source.imported_names(trees)
    used = source.prohibited(submission, trees, forbidden, families,
                             used=source.library_names(trees) - calls)
    if used:
        ja, en = source.listed(used)
        fail(ja=f"{name} では {ja} を使わず、自分で計算してください",
             en=f"{name} must compute it itself, without {en}")


_CONV_LIBRARY = {"conv2d", "conv1d", "conv3d", "Conv2d", "convolution", "_convolution",
                 "conv_transpose2d", "correlate", "correlate2d", "convolve2d", "convolve"}
_POOL_LIBRARY = {"max_pool2d", "avg_pool2d", "MaxPool2d", "AvgPool2d", "adaptive_max_pool2d",
                 "adaptive_avg_pool2d", "max_pool2d_with_indices", "lp_pool2d"}
# searched in the lower-case names (not ``convert``; ``filter2D`` is OpenCV's correlation)
# a fifth pass (2026-12-05): a short-time Fourier transform's bin 0 is a strided
# correlation, numpy's polynomial product a convolution
_CONV_FAMILIES = (r"conv(?!er)", r"correl", r"filter2d", r"xcorr", r"stft", r"spectrogram",
                  r"polymul", r"polynomial")
# scipy.ndimage's ``maximum_filter``/``uniform_filter`` (and their rank, median, generic
# kin) are a pooling before its stride
# (and an ``embedding_bag`` in "max" mode over window indices, ``grid_sample`` at the
# blocks' centres, ``local_response_norm``: an average pooling inside)
_POOL_FAMILIES = (r"pool", r"interpolate", r"upsampl", r"block_reduce", r"downscale",
                  r"local_mean", r"reduce_window", r"_filter", r"embedding_bag",
                  r"grid_sample", r"local_response_norm")
# a pooling by hand uses neither the library's poolings nor its convolutions (an average
# pooling is one, with a 1/size² kernel and stride=size); the student's own conv2d, read
# as a helper, is fine
_POOLING_LIBRARY = _POOL_LIBRARY | _CONV_LIBRARY
_POOLING_FAMILIES = _POOL_FAMILIES + _CONV_FAMILIES


# ---------------------------------------------------------------- arithmetic

@pytest.mark.points(1)
def test_output_size(submission):
    output_size = submission.function("output_size")
    for h, k, p, s in [(5, 3, 0, 1), (32, 5, 2, 1), (28, 3, 0, 2), (31, 4, 1, 3), (9, 9, 0, 1),
                       (224, 11, 2, 4), (13, 3, 1, 2)]:
        got = output_size(h, k, p, s)
        if got != ref.output_size(h, k, p, s):
            fail(ja=f"output_size({h}, {k}, {p}, {s}) が ⌊(h + 2p − k) / s⌋ + 1 になりません",
                 en=f"output_size({h}, {k}, {p}, {s}) is not ⌊(h + 2p − k) / s⌋ + 1")


def _expect_conv2d(conv2d: Any, g: torch.Generator,
                   cases: list[tuple[int, int, int, int, int, int]], message: tuple[str, str]
                   ) -> None:
    """``conv2d`` equals ``F.conv2d`` on random float64 inputs of these sizes."""
    for h, w, kh, kw, stride, padding in cases:
        x = torch.randn(h, w, generator=g, dtype=torch.float64)
        k = torch.randn(kh, kw, generator=g, dtype=torch.float64)
        want = F.conv2d(x[None, None], k[None, None], stride=stride, padding=padding)[0, 0]
        got = _tensor(conv2d(x, k, stride=stride, padding=padding), "conv2d",
                      tuple(want.shape))
        if not torch.allclose(got, want, atol=1e-6):
            fail(ja=message[0].format(stride=stride, padding=padding),
                 en=message[1].format(stride=stride, padding=padding))


@pytest.mark.points(1)
def test_conv2d_deck_example(submission):
    conv2d = submission.function("conv2d")
    if _tensor(conv2d(DECK_X, DECK_K), "conv2d", (3, 3)).tolist() != DECK_CONV:
        fail(ja="講義の例（1〜25 の 5×5 と 1〜9 の 3×3）が [[411, 456, 501], …] になりません",
             en="the deck's example (5×5 of 1..25, 3×3 of 1..9) does not give [[411, 456, 501], …]")
    # the deck's numbers are an example: other inputs of the same sizes must work too
    _expect_conv2d(conv2d, data.generator(1404), [(5, 5, 3, 3, 1, 0), (5, 5, 3, 3, 1, 0)],
                   ("講義の例以外の入力で、conv2d の値が正しくありません",
                    "conv2d gives wrong values on inputs other than the deck's example"))


@pytest.mark.points(2)
def test_conv2d_random(submission):
    _expect_conv2d(submission.function("conv2d"), data.generator(1401),
                   [(7, 6, 3, 3, 1, 0), (9, 8, 2, 3, 2, 1), (6, 6, 5, 5, 1, 2),
                    (10, 7, 3, 2, 3, 0)],
                   ("conv2d の値が正しくない入力があります（stride={stride}, padding={padding}）",
                    "conv2d gives wrong values on some input (stride={stride}, "
                    "padding={padding})"))


@pytest.mark.points(1)
def test_conv2d_by_hand(submission):
    _no_library(submission, "conv2d", _CONV_LIBRARY, _CONV_FAMILIES)
    conv2d = submission.function("conv2d")
    if _tensor(conv2d(DECK_X, DECK_K, stride=2), "conv2d", (2, 2)).tolist() != [[411, 501],
                                                                               [861, 951]]:
        fail(ja="conv2d(…, stride=2) が講義の例の 1 つおきの値になりません",
             en="conv2d(…, stride=2) does not give every other value of the deck's example")
    _expect_conv2d(conv2d, data.generator(1405), [(5, 5, 3, 3, 2, 0), (8, 7, 3, 3, 2, 0)],
                   ("講義の例以外の入力で、conv2d(…, stride=2) の値が正しくありません",
                    "conv2d(…, stride=2) gives wrong values on inputs other than the deck's"))


@pytest.mark.points(2)
def test_conv2d_multi(submission):
    # the notebook asks for it from 問 2's conv2d, without nn.Conv2d: by hand as well
    _no_library(submission, "conv2d_multi", _CONV_LIBRARY, _CONV_FAMILIES,
                judged=frozenset({"conv2d"}))
    conv2d_multi = submission.function("conv2d_multi")
    g = data.generator(1402)
    for c, k_out, h, w, kh in [(3, 4, 6, 7, 3), (1, 2, 5, 5, 2), (5, 8, 7, 6, 3)]:
        x = torch.randn(c, h, w, generator=g, dtype=torch.float64)
        weight = torch.randn(k_out, c, kh, kh, generator=g, dtype=torch.float64)
        bias = torch.randn(k_out, generator=g, dtype=torch.float64)
        want = F.conv2d(x[None], weight, bias)[0]
        got = _tensor(conv2d_multi(x, weight, bias), "conv2d_multi", tuple(want.shape))
        if not torch.allclose(got, want, atol=1e-6):
            fail(ja="conv2d_multi の値が F.conv2d と一致しません（チャンネルの和とバイアス）",
                 en="conv2d_multi disagrees with F.conv2d (sum over channels plus bias)")


def _expect_pooling(submission: Any, g: torch.Generator, cases: list[tuple[int, int, int]],
                    message: tuple[str, str]) -> None:
    """Both poolings equal torch's on random float64 inputs of these sizes."""
    for h, w, size in cases:
        x = torch.randn(h, w, generator=g, dtype=torch.float64)
        for name, torch_pool in (("max_pool2d", F.max_pool2d), ("avg_pool2d", F.avg_pool2d)):
            want = torch_pool(x[None, None], size)[0, 0]
            got = _tensor(submission.function(name)(x, size), name, tuple(want.shape))
            if not torch.allclose(got, want, atol=1e-6):
                fail(ja=message[0].format(name=name, size=size),
                     en=message[1].format(name=name, size=size))


@pytest.mark.points(1)
def test_pooling_deck_example(submission):
    got_max = submission.function("max_pool2d")(DECK_POOL_X)
    got_avg = submission.function("avg_pool2d")(DECK_POOL_X)
    if _tensor(got_max, "max_pool2d", (2, 2)).tolist() != [[7, 6], [9, 8]]:
        fail(ja="講義の例の Max プーリングが [[7, 6], [9, 8]] になりません",
             en="the deck's max-pooling example does not give [[7, 6], [9, 8]]")
    if _tensor(got_avg, "avg_pool2d", (2, 2)).tolist() != [[3.75, 3.0], [5.5, 5.75]]:
        fail(ja="講義の例の Average プーリングが [[3.75, 3], [5.5, 5.75]] になりません",
             en="the deck's average-pooling example does not give [[3.75, 3], [5.5, 5.75]]")
    # the deck's maps are an example: other 4×4 inputs must work too
    _expect_pooling(submission, data.generator(1406), [(4, 4, 2), (4, 4, 2)],
                    ("講義の例以外の入力で、{name} の値が正しくありません",
                     "{name} gives wrong values on inputs other than the deck's example"))


@pytest.mark.points(1)
def test_pooling_random(submission):
    for name in ("max_pool2d", "avg_pool2d"):
        _no_library(submission, name, _POOLING_LIBRARY, _POOLING_FAMILIES)
    _expect_pooling(submission, data.generator(1403), [(6, 8, 2), (7, 9, 3), (5, 4, 2)],
                    ("{name}(x, size={size}) の値が正しくない入力があります",
                     "{name}(x, size={size}) gives wrong values on some input"))


@pytest.mark.points(1)
def test_conv_params(submission):
    conv_params = submission.function("conv_params")
    for c_in, c_out, k in [(5, 8, 3), (3, 64, 11), (64, 192, 5), (1, 1, 1), (16, 32, 3)]:
        want = sum(p.numel() for p in torch.nn.Conv2d(c_in, c_out, k).parameters())
        if conv_params(c_in, c_out, k) != want:
            fail(ja=f"conv_params({c_in}, {c_out}, {k}) が nn.Conv2d のパラメータ数 {want} と"
                    "一致しません（バイアスも数えます）",
                 en=f"conv_params({c_in}, {c_out}, {k}) is not nn.Conv2d's {want} "
                    "(count the biases too)")


# ---------------------------------------------------------------- the split

def _split(submission: Any, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``split_dataset`` in the kernel on a dataset whose items are their indices."""
    t = "__import__('torch')"
    expr = (f"(lambda s: ({t}.tensor([int(s[0][i][0]) for i in range(len(s[0]))]), "
            f"{t}.tensor([int(s[1][i][0]) for i in range(len(s[1]))])))"
            f"(split_dataset({t}.utils.data.TensorDataset({t}.arange(50000)), seed={seed}))")
    try:
        out = submission.evaluate(expr)
    except StudentError as exc:  # the expression would show how the check works: say less
        fail(ja=f"関数 split_dataset の実行中にエラー: {exc.detail()}",
             en=f"error while running function split_dataset: {exc.detail()}")
    if not (isinstance(out, tuple) and len(out) == 2
            and all(isinstance(v, torch.Tensor) for v in out)):
        fail(ja="split_dataset は (train, val) の 2 つのデータセットを返してください",
             en="split_dataset should return two datasets (train, val)")
    return out[0], out[1]


@pytest.mark.points(2)
def test_split_dataset(submission):
    train, val = _split(submission, 0)
    if (len(train), len(val)) != (40000, 10000):
        fail(ja=f"50,000 枚は 40,000 枚と 10,000 枚に分けてください（{len(train)} と {len(val)}）",
             en=f"50,000 items should split into 40,000 and 10,000 ({len(train)} and {len(val)})")
    together = torch.cat([train, val]).sort().values
    if not torch.equal(together, torch.arange(50000)):
        fail(ja="訓練用と検証用が重なっているか、使われていないデータがあります",
             en="the two parts overlap or leave items out")
    again, _ = _split(submission, 0)
    if not torch.equal(train, again):
        fail(ja="同じ seed なら同じ分け方になるようにしてください（torch.Generator を使います）",
             en="the same seed should give the same split (use a torch.Generator)")
    other, _ = _split(submission, 7)
    if torch.equal(train.sort().values, other.sort().values):
        fail(ja="seed が違っても同じ分け方になります。seed で乱数を決めてください",
             en="another seed gives the same split: let the seed drive the shuffling")


# ---------------------------------------------------------------- the trained model

# The synthetic test images come from the notebook's own generator (``FakeCIFAR10``, kept
# identical to ``autograder_reference.cifar.fake_cifar_item``) with a seed the notebook never uses:
# it trains on seed 1 and tests on seed 2.
SYNTHETIC_TEST_SEED = 1414


def _test_set(submission: Any) -> tuple[torch.Tensor, torch.Tensor, str]:
    """The grader's own test images (normalised like the notebook), labels, threshold key."""
    if submission.params.get("DATASET", "cifar10") == "synthetic":
        from autograder_reference import cifar

        images, labels = cifar.fake_cifar_tensors(10000, seed=SYNTHETIC_TEST_SEED)
        return images, labels, "accuracy_synthetic"
    from torchvision import datasets, transforms

    transform = transforms.Compose([transforms.ToTensor(),
                                    transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
    test = datasets.CIFAR10(root=str(submission.data_dir), train=False, download=False,
                            transform=transform)
    images = torch.stack([test[i][0] for i in range(len(test))])
    return images, torch.as_tensor(list(test.targets)), "accuracy"


@pytest.mark.points(1)
def test_model_is_cnn(submission):
    model = models.trained_model(submission, (3, 32, 32))
    if model.output_shape != (2, 10):
        fail(ja=f"model の出力の形は (N, 10) のはずです（{model.output_shape}）",
             en=f"model's output should have shape (N, 10) (got {model.output_shape})")
    # a layer's type name is the kernel's word: the layer must compute a convolution
    expect_conv2d(submission, model, name="model", seed=7)


@pytest.mark.points(4)
def test_model_accuracy(submission):
    model = models.trained_model(submission, (3, 32, 32))
    images, labels, key = _test_set(submission)
    threshold = submission.assignment.thresholds[key]
    measured = accuracy.accuracy_of(model, (images, labels))
    accuracy.expect_accuracy(measured, threshold, what="model のテスト正解率")
