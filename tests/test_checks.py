"""The checks engine: run_checks on a fixture assignment against real kernels (twice in
one process, two submissions), configuration errors, time limits, and the helpers."""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from local_kernel import LocalKernel

from autograder import checks
from autograder.checks import accuracy, gradients, shapes, values
from autograder.core.config import Assignment, load_manifest
from autograder.core.errors import BridgeError, ConfigError
from autograder.core.results import CheckResult
from autograder.engine.bridge.submission import MissingName, StudentError, Submission

FIXTURE = Path(__file__).parent / "fixtures" / "assignments" / "01_n"

GOOD = r'''
import torch

def AND(a, b): return int(a == 1 and b == 1)
def OR(a, b): return int(a == 1 or b == 1)
def NAND(a, b): return 1 - AND(a, b)
def softmax(a):
    e = torch.exp(a - a.max(dim=-1, keepdim=True).values)
    return e / e.sum(dim=-1, keepdim=True)
def slow():
    import time
    time.sleep(30)

class Evil:
    def __eq__(self, other): return True
def evil(): return Evil()

model = torch.nn.Linear(3, 3)
with torch.no_grad():
    model.weight.copy_(torch.eye(3))
    model.bias.zero_()
'''

BAD = r'''
import torch

def AND(a, b): return int(a == 1 or b == 1)
def NAND(a, b): return 0
def softmax(a): return a / 0 if False else 1 / 0
model = torch.nn.Linear(3, 3)
with torch.no_grad():
    model.weight.copy_(-torch.eye(3))
    model.bias.zero_()
torch.manual_seed = lambda *a: None
'''


def _kernel(tmp: Path, code: str) -> LocalKernel:
    kernel = LocalKernel(tmp)
    kernel.execute(code)
    return kernel


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Submission]:
    with _kernel(tmp_path_factory.mktemp("good"), GOOD) as k:
        yield Submission(k, call_timeout=30)


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Submission]:
    with _kernel(tmp_path_factory.mktemp("bad"), BAD) as k:
        yield Submission(k, call_timeout=30)


@pytest.fixture(scope="module")
def fixture_assignment() -> Assignment:
    return load_manifest(FIXTURE / "assignment.toml")


def _table(results: list[CheckResult]) -> dict[str, tuple[float, float, bool, str]]:
    return {r.name: (r.points, r.max_points, r.passed, r.message) for r in results}


def _bad_accuracy() -> float:
    x = gradients.random_tensors(seed=7, x=(200, 3))["x"].float()
    return float(((-x).argmax(dim=1) == x.argmax(dim=1)).float().mean())


# ---------------------------------------------------------------- run_checks

@pytest.mark.slow
def test_two_submissions_in_one_process(fixture_assignment: Assignment, good: Submission,
                                        bad: Submission) -> None:
    first = checks.run_checks(assignment=fixture_assignment, submission=good)
    second = checks.run_checks(assignment=fixture_assignment, submission=bad)
    third = checks.run_checks(assignment=fixture_assignment, submission=good)
    assert _table(first) == {
        "test_and": (2.0, 2.0, True, ""), "test_or": (3.0, 3.0, True, ""),
        "test_softmax": (4.0, 4.0, True, ""), "test_gates_defined": (3.0, 3.0, True, ""),
        "test_accuracy": (1.0, 1.0, True, ""), "test_fresh_module_and_rng": (1.0, 1.0, True, ""),
    }
    acc = _bad_accuracy()
    assert _table(second) == {
        "test_and": (0.0, 2.0, False, "AND(0, 1) が正しくありません"),
        "test_or": (0.0, 3.0, False, "`OR` が定義されていません"),
        "test_softmax": (0.0, 4.0, False,
                         "関数 softmax の実行中にエラー: ZeroDivisionError"),
        "test_gates_defined": (2.0, 3.0, False, "3 個中 2 個のゲートが定義されています"),
        "test_accuracy": (0.0, 1.0, False, f"テスト精度 {acc:.4f} が基準 0.9000 に届きません"),
        "test_fresh_module_and_rng": (1.0, 1.0, True, ""),
    }
    assert _table(third) == _table(first)
    metrics = {r.name: r.metric for r in first}, {r.name: r.metric for r in second}
    assert metrics[0]["test_accuracy"] == 1.0 and metrics[1]["test_accuracy"] == acc
    # the grader's RNG is seeded per check: the same "random" value for every submission
    assert metrics[0]["test_fresh_module_and_rng"] == metrics[1]["test_fresh_module_and_rng"]
    assert metrics[0]["test_and"] is None
    assert not [m for m in sys.modules if m in ("test_demo_gates", "conftest")]


def test_messages_in_english(fixture_assignment: Assignment, bad: Submission) -> None:
    results = _table(checks.run_checks(assignment=fixture_assignment, submission=bad,
                                       lang="en"))
    assert results["test_or"][3] == "`OR` is not defined"
    assert results["test_softmax"][3] == \
        "error while running function softmax: ZeroDivisionError"
    assert results["test_gates_defined"][3] == "2 of 3 gates are defined"
    assert results["test_accuracy"][3] == \
        f"テスト精度 {_bad_accuracy():.4f} is below the required 0.9000"


def test_collect_checks(fixture_assignment: Assignment) -> None:
    assert checks.collect_checks(assignment=fixture_assignment) == [
        ("test_and", 2.0), ("test_or", 3.0), ("test_softmax", 4.0),
        ("test_gates_defined", 3.0), ("test_accuracy", 1.0),
        ("test_fresh_module_and_rng", 1.0)]


def test_manifest_points_must_name_a_check(fixture_assignment: Assignment) -> None:
    typo = dataclasses.replace(fixture_assignment, points={"test_andd": 2.0})
    with pytest.raises(ConfigError, match="test_andd"):
        checks.collect_checks(assignment=typo)


def _assignment(tmp_path: Path, files: dict[str, str], points: str = "") -> Assignment:
    root = tmp_path / "02_h"
    (root / "tests").mkdir(parents=True)
    (root / "assignment.toml").write_text(
        '[assignment]\nid = "02_h"\ntitle = { ja = "t", en = "t" }\nlecture = 2\n'
        f'level = "h"\n{points}', encoding="utf-8")
    for name, text in files.items():
        (root / "tests" / name).write_text(text, encoding="utf-8")
    return load_manifest(root / "assignment.toml")


@pytest.mark.parametrize(("files", "message"), [
    ({"test_a.py": "def test_x(:\n    pass\n"}, "could not be collected"),
    ({"test_a.py": "import pytest\n@pytest.mark.points('two')\ndef test_x(): pass\n"},
     "needs one non-negative number"),
    ({"test_a.py": "import no_such_module_here\n"}, "could not be collected"),
])
def test_broken_checks_are_the_instructors_error(tmp_path: Path, files: dict[str, str],
                                                 message: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOGRADER_LANG", "en")  # the English words (both exist)
    with pytest.raises(ConfigError, match=message):
        checks.collect_checks(assignment=_assignment(tmp_path, files))


def test_no_tests_folder(fixture_assignment: Assignment, tmp_path: Path) -> None:
    empty = dataclasses.replace(fixture_assignment, root=tmp_path)
    assert checks.collect_checks(assignment=empty) == []


TIMING = '''
import pytest

@pytest.mark.time_limit(1)
def test_slow_student(submission):
    submission.function("slow")()

@pytest.mark.time_limit(0.5)
def test_grader_loop():
    while True:
        pass

def test_after(submission):
    assert submission.function("AND")(1, 1) == 1

def test_fixture_error(submission, missing_gate):
    pass

def test_bug_in_check(submission):
    {}["key"]

def test_skipped():
    pytest.skip("not applicable")

@pytest.fixture
def missing_gate(submission):
    return submission.function("XOR")
'''


@pytest.mark.slow
def test_time_limits_and_odd_outcomes(tmp_path: Path, good: Submission) -> None:
    assignment = _assignment(tmp_path, {"test_timing.py": TIMING})
    results = _table(checks.run_checks(assignment=assignment, submission=good,
                                       timeout_per_check=20))
    assert results == {
        "test_slow_student": (0.0, 1.0, False, "slow が時間内に終わりませんでした"),
        "test_grader_loop": (0.0, 1.0, False, "時間制限 (0.5 秒) を超えました"),
        "test_after": (1.0, 1.0, True, ""),
        "test_fixture_error": (0.0, 1.0, False, "`XOR` が定義されていません"),
        "test_bug_in_check": (0.0, 1.0, False, "チェックを完了できませんでした (KeyError)"),
        "test_skipped": (0.0, 1.0, False, "スキップされました: not applicable"),
    }
    assert good.alive


# ---------------------------------------------------------------- helpers

def _message(call: Any, lang: str = "ja") -> str:
    with pytest.raises(checks.CheckFailed) as err:
        call()
    return err.value.text(lang)  # type: ignore[arg-type]


def test_expect_shape() -> None:
    t = torch.zeros(4, 10)
    assert shapes.expect_shape(t, (None, 10)) is t
    assert _message(lambda: shapes.expect_shape(t, (4, 5), what="出力")) == \
        "出力 の形が (4, 5) ではなく (4, 10) です"
    assert _message(lambda: shapes.expect_shape([1], (1,), what="y"), "en") == \
        "y is not a tensor (type: list)"
    assert _message(lambda: shapes.expect_shape(torch.zeros(3), (None, 3))) == \
        "出力 の形が (*, 3) ではなく (3,) です"


def test_expect_close() -> None:
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    values.expect_close(x.tolist(), x)
    values.expect_close(x + 1e-9, x.double())
    assert _message(lambda: values.expect_close(x.T, x + 0.5 * torch.eye(2), what="z")) == \
        "z が正しくありません (最大誤差 1, 位置 (0, 1))"
    assert _message(lambda: values.expect_close([math.nan, 1.0], [0.0, 1.0])) == \
        "結果 に NaN が含まれています"
    values.expect_close([math.nan], [math.nan], allow_nan=True)
    assert _message(lambda: values.expect_close(x[0], x)) == \
        "結果 の形が (2, 2) ではなく (2,) です"
    assert _message(lambda: values.expect_close(2.0, 1.0, show_expected=True), "en") == \
        "結果 is not correct (largest error 1): expected 1, got 2"
    assert _message(lambda: values.expect_close("1.0", 1.0), "en") == \
        "結果 is not a number or tensor (type: str)"


@pytest.mark.parametrize(("actual", "expected", "equal"), [
    (1, 1, True), (True, 1, True), (1.0, 1, True), ("a", "a", True), (None, None, True),
    ([(32, 26, 26)], [(32, 26, 26)], True), ([[1, 2]], [(1, 2)], True),
    ({"a": [1]}, {"a": (1,)}, True), (torch.tensor(3), 3, True),
    (torch.tensor([1, 2]), [1, 2], True), ("1", 1, False), (1, "1", False),
    ([1, 2], [1, 2, 3], False), ({"a": 1}, {"b": 1}, False), (None, 0, False),
    (torch.tensor([1, 2]), torch.tensor([[1, 2]]), False), (2, 3, False),
])
def test_plain_equal(actual: Any, expected: Any, equal: bool) -> None:
    assert values.plain_equal(actual, expected) is equal


def test_a_student_object_never_equals_anything(good: Submission) -> None:
    evil = good.function("evil")()
    assert not values.plain_equal(evil, 1) and not values.plain_equal([evil], [1])
    assert _message(lambda: values.expect_equal(evil, 1, what="AND(1, 1)")) == \
        "AND(1, 1) が正しくありません"
    assert _message(lambda: values.as_tensor(evil, what="y")) == \
        "y が数値やテンソルではありません (型: Evil)"


def _loss(p: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.sigmoid(p["x"] @ p["W"]).pow(2).sum()


def test_gradients() -> None:
    params = gradients.random_tensors(seed=0, x=(3, 4), W=(4, 2))
    want = gradients.autograd_gradients(_loss, params)
    numeric = gradients.numerical_gradient(lambda w: _loss({**params, "W": w}), params["W"])
    assert torch.allclose(numeric, want["W"], rtol=1e-6, atol=1e-9)
    gradients.expect_gradients({k: v.float() for k, v in want.items()}, want, rtol=1e-5,
                               atol=1e-6)
    off = {**want, "W": want["W"] * 1.01}
    assert _message(lambda: gradients.expect_gradients(off, want)).startswith(
        "勾配 W が torch.autograd の結果と一致しません (相対誤差 1.00e-02")
    assert _message(lambda: gradients.expect_gradients({"x": want["x"]}, want)) == \
        "勾配 にキー W がありません"
    assert _message(lambda: gradients.expect_gradients({**want, "W": want["W"].T}, want)) \
        == "勾配 W の形が (4, 2) ではなく (2, 4) です"
    assert _message(lambda: gradients.expect_gradients([1], want), "en") == \
        "勾配 is not a dict (type: list)"


def test_accuracy_helpers() -> None:
    x = gradients.random_tensors(seed=2, dtype=torch.float32, x=(100, 4))["x"]
    y = x.argmax(dim=1)
    net = torch.nn.Linear(4, 4)
    with torch.no_grad():
        net.weight.copy_(torch.eye(4))
        net.bias.zero_()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=30)
    assert accuracy.accuracy_of(net, loader) == 1.0
    assert accuracy.accuracy_of(lambda b: -b, (x, y)) == pytest.approx(0.0)
    nan_out = accuracy.predict(lambda b: b * math.nan, (x[:3], y[:3]))[0]
    assert nan_out.tolist() == [-1, -1, -1]
    assert _message(lambda: accuracy.accuracy_of(lambda b: b[:, 0], (x, y))) == \
        "モデルの出力が (バッチ数, クラス数) の形ではありません: (100,)"
    accuracy.expect_accuracy(0.95, 0.9)
    assert _message(lambda: accuracy.expect_accuracy(0.5, 0.9)) == \
        "テスト精度 0.5000 が基準 0.9000 に届きません"


@pytest.mark.parametrize(("exc", "lang", "text"), [
    (checks.CheckTimeout(2.5), "ja", "時間制限 (2.5 秒) を超えました"),
    (checks.CheckFailed(ja="だめ", en="no"), "en", "no"),
    (checks.Partial(0.5, ja="半分"), "en", "半分"),
    (MissingName(what="XOR"), "ja", "`XOR` が定義されていません"),
    (StudentError(what="f", error_name="ValueError", error_message="bad",
                  context="expression"), "ja", "式 f の評価中にエラー: ValueError"),
    (BridgeError("garbage"), "ja", "提出物のカーネルから正しい応答が得られませんでした"),
    (AssertionError("x が違います"), "ja", "x が違います"),
    (AssertionError(), "en", "the check did not pass"),
    (AssertionError("a\n" * 400), "ja", " ".join(["a"] * 400)[:499] + "…"),
    (RuntimeError("secret hidden value 42"), "ja", "チェックを完了できませんでした (RuntimeError)"),
])
def test_student_message(exc: BaseException, lang: str, text: str) -> None:
    assert checks.student_message(exc, lang=lang) == text  # type: ignore[arg-type]


def test_partial_fraction_is_bounded() -> None:
    with pytest.raises(ValueError):
        checks.partial(1.5)


# ---------------------------------------------------------------- models, data, source, memo

class _Lecture(torch.nn.Module):
    """A small "lecture network" for the model helpers: 4 → 5 → 5 → 5 → 3, sigmoids,
    log-probabilities out; two layers of the same shape."""

    def __init__(self) -> None:
        super().__init__()
        self.l1, self.l2 = torch.nn.Linear(4, 5), torch.nn.Linear(5, 5)
        self.l3, self.l4 = torch.nn.Linear(5, 5), torch.nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.sigmoid(self.l3(torch.sigmoid(self.l2(torch.sigmoid(self.l1(x))))))
        return torch.log_softmax(self.l4(x), dim=1)


class _Kept:
    """What the model helpers read of a ``RemoteModel``, over a module in this process."""

    def __init__(self, module: torch.nn.Module, num_parameters: int | None = None):
        self.module = module
        self.num_parameters = num_parameters if num_parameters is not None else sum(
            p.numel() for p in module.parameters())

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.module.state_dict().items()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.module.eval()(x)


def _sequential(activation: type[torch.nn.Module] = torch.nn.Sigmoid) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(4, 5), activation(), torch.nn.Linear(5, 5),
                               activation(), torch.nn.Linear(5, 5), activation(),
                               torch.nn.Linear(5, 3), torch.nn.LogSoftmax(dim=1))


LECTURE = ("講義の Net", "the lecture's Net")


def test_model_helpers_match_layers_by_shape_and_outputs() -> None:
    x = torch.randn(6, 4, generator=checks.data.generator(0))
    student = _Kept(_sequential())   # other names (0, 2, 4, 6), same layers and computation
    placements = checks.models.expect_layers(student, _Lecture(), what="net", described=LECTURE)
    assert len(placements) == 2      # the two 5×5 layers, in either order
    got = checks.models.expect_reference_outputs(
        student, _Lecture, placements, x, rtol=1e-5, atol=1e-6, what="net の出力",
        computes="net の出力（Linear → sigmoid → …）")
    checks.models.expect_log_softmax(got, what="net")

    relu = _Kept(_sequential(torch.nn.ReLU))
    assert _message(lambda: checks.models.expect_reference_outputs(
        relu, _Lecture, checks.models.expect_layers(relu, _Lecture(), what="net",
                                                    described=LECTURE),
        x, rtol=1e-5, atol=1e-6, what="net の出力", computes="net の出力（…）")
    ).startswith("net の出力（…） が正しくありません (最大誤差")
    small = _Kept(torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Linear(5, 3)))
    assert _message(lambda: checks.models.expect_layers(
        small, _Lecture(), what="net", described=LECTURE)) == \
        "net のパラメータ数は 103 個のはずです（43 個）"
    small.num_parameters = 103       # the count alone is not enough: the layers' shapes
    assert _message(lambda: checks.models.expect_layers(
        small, _Lecture(), what="net", described=LECTURE), "en") == \
        "net's layers differ from the lecture's Net"
    assert checks.models.layer_placements(_Lecture(), small.state_dict()) == []
    two = _Kept(torch.nn.Sequential(_sequential(), torch.nn.Unflatten(1, (3, 1))))
    assert _message(lambda: checks.models.expect_reference_outputs(
        two, _Lecture, placements, x, rtol=1e-5, atol=1e-6, what="net の出力",
        computes="-")) == "net の出力 の形が (6, 3) ではなく (6, 3, 1) です"
    assert _message(lambda: checks.models.expect_log_softmax(torch.zeros(2, 3), what="Net"),
                    "en") == "Net's output is log_softmax: each row's exp should sum to 1"


class _Recalling(_Kept):
    """A model that answers some inputs from a table (the test set, which a kernel can
    read) and computes its network on every other input."""

    def __init__(self, module: torch.nn.Module, table: dict[bytes, int]):
        super().__init__(module)
        self.table = table

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        for i, row in enumerate(x):
            if row.numpy().tobytes() in self.table:
                out[i] = torch.full((out.shape[1],), -30.0)
                out[i, self.table[row.numpy().tobytes()]] = 0.0
        return out


def test_the_grader_runs_its_copy_of_the_network_for_an_accuracy() -> None:
    """``grader_copy``: the reference carrying the student's weights in the placement whose
    outputs on the grader's inputs are the model's; its accuracy on a test set is the
    network's, whatever the model answers there."""
    torch.manual_seed(0)
    test_x = torch.randn(40, 4, generator=checks.data.generator(1))
    test_y = torch.randint(0, 3, (40,), generator=checks.data.generator(2))
    untrained = _sequential()
    liar = _Recalling(untrained, {row.numpy().tobytes(): int(y)
                                  for row, y in zip(test_x, test_y, strict=True)})
    assert checks.accuracy.accuracy_of(liar.forward, (test_x, test_y)) == 1.0   # its answers
    x = torch.randn(6, 4, generator=checks.data.generator(0))
    placements = checks.models.expect_layers(liar, _Lecture(), what="net", described=LECTURE)
    net = checks.models.grader_copy(liar, _Lecture, placements, x, what="net",
                                    rtol=1e-5, atol=1e-6)
    want = _Kept(untrained).forward(test_x).argmax(1)
    assert net(test_x).argmax(1).equal(want)
    assert checks.accuracy.accuracy_of(net, (test_x, test_y)) == float(
        (want == test_y).float().mean())
    # the same network without its log_softmax (logits), or with a softmax: the same
    # ranking of the classes, so the same accuracy
    layers = list(untrained)[:-1]
    for other in (_Kept(torch.nn.Sequential(*layers)),
                  _Kept(torch.nn.Sequential(*layers, torch.nn.Softmax(dim=1)))):
        net = checks.models.grader_copy(other, _Lecture, placements, x, what="net",
                                        rtol=1e-5, atol=1e-6)
        assert net(test_x).argmax(1).equal(want)
    # the same layers computing something else: no network for the grader to run
    relu = _Kept(_sequential(torch.nn.ReLU))
    assert _message(lambda: checks.models.grader_copy(
        relu, _Lecture, placements, x, what="net", rtol=1e-5, atol=1e-6), "en") == \
        "net's outputs are not those of the lecture's network with its weights, so the " \
        "grader cannot compute its test accuracy"


def test_model_helpers_in_the_kernel(good: Submission) -> None:
    model = checks.models.trained_model(good, (3,))
    assert model.output_shape == (2, 3) and model.num_parameters == 12
    checks.models.expect_class_name(good, "model", "Linear")
    assert _message(lambda: checks.models.expect_class_name(good, "model", "Net")) == \
        "model は Net のインスタンスにしてください（Linear）"
    good.evaluate("globals().__setitem__('Net', type(model))")   # Net = Linear: an alias
    checks.models.expect_class_name(good, "model", "Net")
    good.evaluate("globals().pop('Net') and None")
    made = checks.models.new_model(good, "torch.nn.Linear", (3,), 3, 2)
    assert made.output_shape == (2, 2) and made.num_parameters == 8
    x = torch.randn(23, 3, generator=checks.data.generator(1))
    y = x.argmax(dim=1)
    y[:5] = (y[:5] + 1) % 3          # five wrong labels: the identity model gets 18 of 23
    loader = checks.data.kernel_loader(good, x, y, batch_size=7)
    sizes = good.evaluate("lambda loader: [len(labels) for _, labels in loader]",
                          remote_ok=True)(loader)
    assert sizes == [7, 7, 7, 2]
    assert checks.accuracy.accuracy_in_batches(model, x, y, 7) == pytest.approx(18 / 23)
    predicted = model.forward(x).argmax(dim=1)
    answers = set()
    for seed in range(12):
        labels, want = checks.accuracy.designed_labels(model, x, 7, seed=seed)
        assert (labels[21:] != predicted[21:]).all()          # the short batch: all wrong
        assert (labels[:21] != predicted[:21]).sum() <= 21 // 6
        assert checks.accuracy.accuracy_in_batches(model, x, labels, 7) == pytest.approx(want)
        answers.add(want)
    assert len(answers) > 1 and max(answers) == pytest.approx(21 / 23)  # no one answer


def test_data_helpers() -> None:
    g1, g2 = checks.data.generator(3), checks.data.generator(3)
    assert torch.equal(torch.randn(5, generator=g1), torch.randn(5, generator=g2))
    x, y = torch.arange(40).reshape(20, 2), torch.arange(20)
    sub_x, sub_y = checks.data.random_subset(x, y, 6, seed=9)
    assert sub_x.is_contiguous() and len(sub_y) == 6 and len(set(sub_y.tolist())) == 6
    assert torch.equal(sub_x[:, 0] // 2, sub_y)            # images stay with their labels
    assert torch.equal(checks.data.random_subset(x, y, 6, seed=9)[1], sub_y)
    assert checks.values.as_number(torch.tensor([0.5])) == 0.5
    assert checks.values.as_number(torch.tensor(3)) == 3.0
    assert checks.values.as_number([1.0]) == [1.0]


@pytest.mark.slow
def test_mnist_test_set(mnist_data_dir: Path) -> None:
    from torchvision import datasets

    from autograder_reference import mnist as ref

    class Graded:
        data_dir = mnist_data_dir

    sub = Graded()
    images, labels = checks.data.mnist_test(sub, mean=0.5, std=1.0)
    lecture = ref.tensor_dataset(datasets.MNIST(root=str(mnist_data_dir), train=False))
    assert images.shape == (10000, 1, 28, 28) and images.dtype == torch.float32
    assert torch.equal(images, lecture.tensors[0]) and torch.equal(labels, lecture.tensors[1])
    assert checks.data.mnist_test(sub, mean=0.5, std=1.0)[0] is images   # once per submission
    plain = checks.data.mnist_test(sub)[0]
    pixels = checks.data.mnist_test_pixels(sub)[0]
    assert pixels.dtype == torch.uint8 and torch.equal(plain[:, 0], pixels.float() / 255)
    checks.memo.forget_all()


class _Texts:
    """``submission.source`` from a dict of definitions."""

    def __init__(self, **defs: str):
        self.defs = defs

    def source(self, name: str) -> str:
        if name not in self.defs:
            raise MissingName(what=name)
        return self.defs[name]


def test_source_helpers() -> None:
    texts = _Texts(
        conv="def conv(x, k):\n    y = pad(x)\n    return F.conv2d(y, k) + helper(y)",
        pad="def pad(x):\n    from torch.nn.functional import pad as p\n    return p(x, (1,) * 4)",
        helper="helper = lambda y: torch.zeros(len(y))",
        klass="class Net:\n    pass")
    trees = checks.source.read_functions(texts, "conv")
    assert list(trees) == ["conv", "pad", "helper"]
    # ``p`` is the function's own name for torch's ``pad``: the import names what it is
    used = checks.source.library_names(trees)
    assert used >= {"conv2d", "pad", "zeros"} and "p" not in used
    assert list(checks.source.read_functions(texts, "conv", skip=frozenset({"pad"}))) == \
        ["conv", "helper"]
    assert {"pad", "helper", "F"} <= checks.source.names_read(trees)
    assert checks.source.attribute_names(trees) == {"conv2d", "zeros"}
    with pytest.raises(MissingName):
        checks.source.read_functions(texts, "missing")
    assert _message(lambda: checks.source.read_functions(texts, "klass")) == \
        "klass のコードを読み取れませんでした（def で定義してください）"
    assert checks.source.parse("    def f():\n        return 1\n") is not None
    assert checks.source.parse("def f(:") is None


def test_memo_once_per_submission() -> None:
    class Graded:
        pass

    first, second, calls = Graded(), Graded(), []

    def compute(value: int) -> int:
        calls.append(value)
        return value

    assert checks.memo.once(first, "k", lambda: compute(1)) == 1
    assert checks.memo.once(first, "k", lambda: compute(2)) == 1
    assert checks.memo.once(second, "k", lambda: compute(3)) == 3
    with pytest.raises(checks.CheckFailed):
        checks.memo.once(first, "failing", lambda: checks.fail(ja="x"))
    assert checks.memo.once(first, "failing", lambda: compute(4)) == 4   # nothing was kept
    checks.memo.forget_all()
    assert checks.memo.once(first, "k", lambda: compute(5)) == 5
    assert calls == [1, 3, 4, 5]
    checks.memo.forget_all()


MEMO_CHECK = '''
from autograder.checks import memo

def test_keeps_a_value(submission):
    assert memo.once(submission, "k", lambda: 41) == 41
'''


def test_the_session_drops_memo_after_a_run(tmp_path: Path, good: Submission) -> None:
    from autograder.checks.memo import _VALUES

    assignment = _assignment(tmp_path, {"test_memo.py": MEMO_CHECK})
    results = checks.run_checks(assignment=assignment, submission=good)
    assert _table(results) == {"test_keeps_a_value": (1.0, 1.0, True, "")}
    assert len(_VALUES) == 0


# values.within / values.is_fraction: a NaN or an infinity is never close to anything and
# never an accuracy (``abs(nan - x) > tol`` is False: red-team pass 4, 03_n's evaluate)
@pytest.mark.parametrize(("got", "want", "tol", "ok"), [
    (0.5, 0.5, 0.0, True),
    (0.5004, 0.5, 1e-3, True),
    (0.502, 0.5, 1e-3, False),
    (float("nan"), 0.5, 1e-3, False),
    (float("inf"), 0.5, 1e-3, False),
    (float("-inf"), 0.5, 1e3, False),
    (3, 3.0, 0.0, True),
])
def test_within_refuses_nan(got: float, want: float, tol: float, ok: bool) -> None:
    assert values.within(got, want, tol) is ok


@pytest.mark.parametrize(("value", "ok"), [
    (0.0, True), (1.0, True), (0.97, True), (1, True), (0, True),
    (float("nan"), False), (float("inf"), False), (1.0001, False), (-0.1, False),
    (True, False), ("0.9", False), (None, False),
])
def test_is_fraction(value: object, ok: bool) -> None:
    assert values.is_fraction(value) is ok
