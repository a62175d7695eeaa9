"""Hidden checks of 13_n: perceptron, logic gates, activations, softmax, cross-entropy.

Each check calls the student's function through the ``submission`` fixture on inputs the
notebook never shows (seeded here, so a regrade gives the same result) and compares the
answer with ``reference.perceptron``. Structure checks read the function's source (ast)
and, for XOR and the gates, also swap a building block in the kernel to see that the
function really goes through it.
"""

from __future__ import annotations

import ast
import math
import textwrap
from typing import Any

import pytest
import torch

from autograder.bridge import StudentError
from autograder.checks import fail
from reference import perceptron as ref

INPUTS = [(0, 0), (1, 0), (0, 1), (1, 1)]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _bit(value: Any, what: str) -> int:
    """A gate's or step's output as 0/1: an int, a bool or a one-element tensor."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, (bool, int, float)) and value in (0, 1):
        return int(value)
    fail(ja=f"{what} は 0 か 1 を返すはずですが、{type(value).__name__} が返りました",
         en=f"{what} should return 0 or 1, got a {type(value).__name__}")
    raise AssertionError  # unreachable: fail() raises


def _tensor(value: Any, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        fail(ja=f"{what} はテンソルを返すはずですが、{type(value).__name__} が返りました",
             en=f"{what} should return a tensor, got a {type(value).__name__}")
    return value


def _scalar(value: Any, what: str) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.item())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    fail(ja=f"{what} は 1 つの数（0 次元テンソル）を返すはずです",
         en=f"{what} should return a single number (a 0-d tensor)")
    raise AssertionError


def _called_names(source: str, own: str | None = None) -> set[str]:
    """Every name called in ``source``: ``f(...)`` gives f, ``a.b.f(...)`` gives f.

    A bare call of ``own`` (the function being checked) is the function calling itself, a
    correct recursive answer, unless ``source`` imports a name as ``own``.
    """
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:
        return set()
    imported = {alias.asname or alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and (func.id != own or own in imported):
                names.add(func.id)
            elif isinstance(func, ast.Attribute):
                names.add(func.attr)
    return names


def _truth_table(submission: Any, name: str) -> list[int]:
    gate = submission.function(name)
    return [_bit(gate(a, b), f"{name}({a}, {b})") for a, b in INPUTS]


def _with_replaced(submission: Any, owner: str, block: str, stub: str, expr: str) -> Any:
    """Evaluate ``expr`` while ``block`` in ``owner``'s globals is replaced by ``stub``.

    A student error is reported by the function's name only: the expressions here would
    show how the check works.
    """
    g = f"{owner}.__globals__"
    try:
        submission.evaluate(f"{g}.__setitem__('__ag_saved', {g}.get({block!r}))")
        try:
            submission.evaluate(f"{g}.__setitem__({block!r}, {stub})")
            return submission.evaluate(expr)
        finally:
            submission.evaluate(f"{g}.__setitem__({block!r}, {g}.pop('__ag_saved'))")
    except StudentError as exc:
        fail(ja=f"関数 {owner} の実行中にエラー: {exc.detail()}",
             en=f"error while running function {owner}: {exc.detail()}")


# ---------------------------------------------------------------- step and perceptron

@pytest.mark.points(1)
def test_step_numbers(submission):
    step = submission.function("step")
    for u, want in [(0.25, 1), (7, 1), (-0.5, 0), (0, 0), (0.0, 0), (-3, 0), (1e-9, 1)]:
        got = step(u)
        if not isinstance(got, int) or isinstance(got, bool):
            fail(ja="Python の数を渡したとき step は int を返すはずです"
                    f"（{type(got).__name__} が返りました）",
                 en=f"step on a Python number should return an int (got {type(got).__name__})")
        if got != want:
            fail(ja=f"step({u}) は {want} になるはずです", en=f"step({u}) should be {want}")


@pytest.mark.points(1)
def test_step_tensor(submission):
    step = submission.function("step")
    for shape in [(9,), (4, 5), (2, 3, 3)]:
        u = torch.randn(*shape, generator=_gen(sum(shape)))
        u.view(-1)[0] = 0.0
        got = _tensor(step(u), "step(テンソル)")
        if tuple(got.shape) != shape:
            fail(ja=f"形 {shape} のテンソルには同じ形のテンソルを返してください"
                    f"（{tuple(got.shape)} でした）",
                 en=f"a tensor of shape {shape} should give the same shape "
                    f"(got {tuple(got.shape)})")
        if not torch.equal(got.to(torch.int64), (u > 0).to(torch.int64)):
            fail(ja="テンソルの各要素に階段関数（u > 0 なら 1、それ以外 0）を適用してください",
                 en="apply the step function (1 where u > 0, else 0) to every element")


@pytest.mark.points(1)
def test_perceptron_single(submission):
    perceptron = submission.function("perceptron")
    g = _gen(131)
    for _ in range(6):
        x = torch.randint(-3, 4, (3,), generator=g).to(torch.float64)
        w = torch.randint(-4, 5, (3,), generator=g).to(torch.float64)
        threshold = float(torch.randint(-5, 6, (1,), generator=g)) + 0.5
        want = ref.perceptron(x, w, threshold)
        if _bit(perceptron(x, w, threshold), "perceptron") != want:
            fail(ja="入力 1 つ（形 (n,)）の perceptron が step(w・x − threshold) と一致しません",
                 en="perceptron on one input (shape (n,)) does not equal step(w·x − threshold)")
    if _bit(perceptron([1, 1], [5, 5], 9), "perceptron") != 1:
        fail(ja="perceptron はリストの入力も受け付けてください",
             en="perceptron should accept lists as inputs")


@pytest.mark.points(1)
def test_perceptron_batch(submission):
    perceptron = submission.function("perceptron")
    g = _gen(132)
    x = torch.randint(-3, 4, (11, 4), generator=g).to(torch.float64)
    w = torch.randn(4, generator=g, dtype=torch.float64)
    got = _tensor(perceptron(x, w, 0.3), "perceptron(形 (N, n) の x)")
    if tuple(got.shape) != (11,):
        fail(ja=f"x の形が (N, n) のときは形 (N,) を返してください（{tuple(got.shape)} でした）",
             en=f"x of shape (N, n) should give shape (N,) (got {tuple(got.shape)})")
    if not torch.equal(got.to(torch.int64), ref.perceptron(x, w, 0.3)):
        fail(ja="各行 x[i] について step(w・x[i] − threshold) を計算してください",
             en="compute step(w·x[i] − threshold) for every row x[i]")


# ---------------------------------------------------------------- gates

def _check_gate(submission: Any, name: str) -> None:
    want = [getattr(ref, name)(a, b) for a, b in INPUTS]
    got = _truth_table(submission, name)
    if got != want:
        fail(ja=f"{name} の真理値表が違います（入力 (0,0), (1,0), (0,1), (1,1) に対して {got}）",
             en=f"{name}'s truth table is wrong (inputs (0,0), (1,0), (0,1), (1,1) gave {got})")


@pytest.mark.points(1)
def test_and(submission):
    _check_gate(submission, "AND")


@pytest.mark.points(1)
def test_or(submission):
    _check_gate(submission, "OR")


@pytest.mark.points(1)
def test_nand(submission):
    _check_gate(submission, "NAND")


@pytest.mark.points(1)
def test_gates_use_perceptron(submission):
    for name in ("AND", "OR", "NAND"):
        if "perceptron" not in _called_names(submission.source(name)):
            fail(ja=f"{name} は perceptron を呼んで作ってください",
                 en=f"{name} should be built by calling perceptron")
        got = _with_replaced(submission, name, "perceptron", "lambda x, w, threshold: 7",
                             f"{name}(1, 0)")
        if got != 7:
            fail(ja=f"{name} が perceptron の結果を返していません",
                 en=f"{name} does not return perceptron's result")


@pytest.mark.points(1)
def test_xor_truth_table(submission):
    got = _truth_table(submission, "XOR")
    if got != [0, 1, 1, 0]:
        fail(ja=f"XOR の真理値表が違います（{got}、正しくは [0, 1, 1, 0]）",
             en=f"XOR's truth table is wrong ({got}, expected [0, 1, 1, 0])")


_NOT_GATES = (ast.BitXor, ast.NotEq)


@pytest.mark.points(2)
def test_xor_built_from_gates(submission):
    source = submission.source("XOR")
    calls = _called_names(source)
    missing = sorted({"AND", "NAND", "OR"} - calls)
    if missing:
        fail(ja="XOR は NAND・OR・AND を組み合わせて作ってください"
                f"（{', '.join(missing)} を呼んでいません）",
             en=f"build XOR from NAND, OR and AND (it does not call {', '.join(missing)})")
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:
        tree = ast.Module(body=[], type_ignores=[])
    operators = any(isinstance(n, _NOT_GATES) for n in ast.walk(tree))
    if operators or any("xor" in c.lower() for c in calls):
        fail(ja="XOR に != や ^ などの演算は使わず、ゲートの組み合わせだけで作ってください",
             en="build XOR from the gates only, without !=, ^ or xor functions")
    table = "[XOR(a, b) for a, b in [(0, 0), (1, 0), (0, 1), (1, 1)]]"
    got = _with_replaced(submission, "XOR", "AND", "lambda a, b: 0", table)
    if got == [0, 1, 1, 0]:
        fail(ja="XOR の出力が AND の結果から作られていません（出力層は AND です）",
             en="XOR's output does not come from AND (the output layer is AND)")


# ---------------------------------------------------------------- activations

_TORCH = {"sigmoid": torch.sigmoid, "relu": torch.relu, "tanh": torch.tanh}
_FORBIDDEN = {
    "sigmoid": {"sigmoid", "sigmoid_", "expit", "Sigmoid", "logistic"},
    "relu": {"relu", "relu_", "ReLU", "relu6"},
    "tanh": {"tanh", "tanh_", "Tanh"},
    "softmax": {"softmax", "log_softmax", "Softmax", "LogSoftmax", "logsumexp"},
}


def _check_activation(submission: Any, name: str) -> None:
    f = submission.function(name)
    for i, shape in enumerate([(17,), (4, 6), (2, 3, 5)]):
        u = (torch.rand(*shape, generator=_gen(200 + i)) * 40 - 20).to(torch.float32)
        got = _tensor(f(u), name)
        if tuple(got.shape) != shape:
            fail(ja=f"{name} は入力と同じ形のテンソルを返してください"
                    f"（{shape} → {tuple(got.shape)}）",
                 en=f"{name} should keep the input's shape ({shape} → {tuple(got.shape)})")
        want = _TORCH[name](u.double())
        if not torch.allclose(got.double(), want, atol=1e-6, rtol=1e-5) or got.isnan().any():
            fail(ja=f"{name} の値が式と一致しない入力があります",
                 en=f"{name} disagrees with its formula on some inputs")


@pytest.mark.points(1)
def test_sigmoid(submission):
    _check_activation(submission, "sigmoid")


@pytest.mark.points(1)
def test_relu(submission):
    _check_activation(submission, "relu")


@pytest.mark.points(1)
def test_tanh(submission):
    _check_activation(submission, "tanh")


@pytest.mark.points(1)
def test_activations_from_formulas(submission):
    u = torch.tensor([-2.0, 0.0, 3.0])
    for name in ("sigmoid", "relu", "tanh"):
        used = _called_names(submission.source(name), own=name) & _FORBIDDEN[name]
        if used:
            fail(ja=f"{name} は式から書いてください（{', '.join(sorted(used))} は使わないこと）",
                 en=f"write {name} from its formula (do not use {', '.join(sorted(used))})")
        # the formula must also be there: a stub that only raises earns nothing here
        got = _tensor(submission.function(name)(u), name)
        if not torch.allclose(got.double(), _TORCH[name](u.double()), atol=1e-6):
            fail(ja=f"{name} の値が式と一致しません", en=f"{name} disagrees with its formula")


# ---------------------------------------------------------------- softmax, cross-entropy

DECK_LOGITS = [3.0, -1.5, 0.2, 2.3, 3.5, 2.0, -2.2, 2.1, 1.0, 2.5]
DECK_SOFTMAX = [0.2110, 0.0023, 0.0128, 0.1048, 0.3479, 0.0776, 0.0012, 0.0858, 0.0286, 0.1280]


@pytest.mark.points(1)
def test_softmax_deck_example(submission):
    got = _tensor(submission.function("softmax")(torch.tensor(DECK_LOGITS)), "softmax")
    if tuple(got.shape) != (10,):
        fail(ja="1 次元の入力には同じ長さの 1 次元テンソルを返してください",
             en="a 1-D input should give a 1-D tensor of the same length")
    if any(abs(float(v) - e) > 5e-5 for v, e in zip(got.tolist(), DECK_SOFTMAX, strict=True)):
        fail(ja="講義の例 [3.0, -1.5, …] のソフトマックスが 0.2110, 0.0023, … になりません",
             en="the deck's example [3.0, -1.5, …] does not give 0.2110, 0.0023, …")


@pytest.mark.points(1)
def test_softmax_rows(submission):
    softmax = submission.function("softmax")
    a = torch.randn(6, 9, generator=_gen(301), dtype=torch.float64) * 4
    got = _tensor(softmax(a), "softmax")
    if tuple(got.shape) != (6, 9):
        fail(ja="2 次元の入力 (N, n) には同じ形のテンソルを返してください",
             en="a 2-D input (N, n) should give a tensor of the same shape")
    if not torch.allclose(got.double(), torch.softmax(a, dim=1), atol=1e-6):
        fail(ja="2 次元の入力では各行ごとにソフトマックスを計算してください",
             en="for a 2-D input, apply softmax to each row")
    used = _called_names(submission.source("softmax"), own="softmax") & _FORBIDDEN["softmax"]
    if used:
        fail(ja=f"softmax は式から書いてください（{', '.join(sorted(used))} は使わないこと）",
             en=f"write softmax from its formula (do not use {', '.join(sorted(used))})")


@pytest.mark.points(1)
def test_softmax_stable(submission):
    softmax = submission.function("softmax")
    got = _tensor(softmax([1000.0, 1001.0]), "softmax")
    big = torch.tensor([[1000.0, 1001.0, 998.0], [-1000.0, -1003.0, -999.0], [800.0, -800.0, 0.0]])
    rows = _tensor(softmax(big), "softmax")
    if got.isnan().any() or rows.isnan().any() or rows.isinf().any():
        fail(ja="大きな入力で nan になります。最大値を引いてから exp を計算しましょう",
             en="large inputs give nan: subtract the maximum before exp")
    if not (torch.allclose(got.double(), torch.softmax(torch.tensor([1000.0, 1001.0]).double(), 0),
                           atol=1e-6)
            and torch.allclose(rows.double(), torch.softmax(big.double(), dim=1), atol=1e-6)):
        fail(ja="大きな入力でのソフトマックスの値が正しくありません",
             en="softmax of large inputs gives wrong values")


@pytest.mark.points(1)
def test_cross_entropy_deck_example(submission):
    ce = submission.function("cross_entropy")
    got = _scalar(ce(torch.tensor([0.2, 0.7, 0.1]), torch.tensor([0.0, 1.0, 0.0])), "cross_entropy")
    if abs(got - 0.357) > 5e-4:
        fail(ja="講義の例 y=(0.2, 0.7, 0.1), t=(0, 1, 0) は 0.357 になるはずです"
                f"（{got:.4f} でした）",
             en="the deck's example y=(0.2, 0.7, 0.1), t=(0, 1, 0) should give 0.357 "
                f"(got {got:.4f})")


@pytest.mark.points(1)
def test_cross_entropy_batch(submission):
    ce = submission.function("cross_entropy")
    g = _gen(401)
    y = torch.softmax(torch.randn(8, 5, generator=g, dtype=torch.float64) * 2, dim=1)
    t = torch.nn.functional.one_hot(torch.randint(0, 5, (8,), generator=g), 5).to(torch.float64)
    want = float(ref.cross_entropy(y, t))
    got = _scalar(ce(y, t), "cross_entropy")
    if not math.isclose(got, want, rel_tol=1e-5):
        fail(ja="バッチ (N, K) では各データの −Σ t log y の平均を返してください",
             en="for a batch (N, K), return the mean over the rows of −Σ t log y")
    single = _scalar(ce(y[3], t[3]), "cross_entropy")
    if not math.isclose(single, float(ref.cross_entropy(y[3], t[3])), rel_tol=1e-5):
        fail(ja="形 (K,) の入力（データ 1 つ）でも正しく計算してください",
             en="a single sample of shape (K,) should work too")
