"""The bridge against a real ipykernel: plain data both ways, handles, student errors,
models, and a notebook that tampers with its kernel or forges answers."""

from __future__ import annotations

import contextlib
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from local_kernel import SANDBOX_FILES, LocalKernel

from autograder.checks import accuracy, gradients
from autograder.core.errors import BridgeError
from autograder.engine.bridge.notebook_source import NotebookSource
from autograder.engine.bridge.submission import (
    BridgeLimits,
    BridgeTimeout,
    KernelDead,
    MissingName,
    ModelOutputError,
    NotAModel,
    NotCallable,
    NotPlainData,
    Remote,
    SourceUnavailable,
    StudentError,
    Submission,
    ValueTooLarge,
)

STUDENT = r'''
import numpy as np, torch

def ident(*args, **kwargs):
    return args[0] if len(args) == 1 and not kwargs else (args, kwargs)

def AND(a, b):
    return 1 if a == 1 and b == 1 else 0

def kind(x):
    return type(x).__module__ + "." + type(x).__name__

class Evil:
    def __eq__(self, other): return True
    def __bool__(self): return True
    __hash__ = object.__hash__

class EvilInt(int):
    def __eq__(self, other): return True
    __hash__ = int.__hash__

import collections

class EvilOrdered(collections.OrderedDict):
    def __eq__(self, other): return True
    __hash__ = None

def evil(): return Evil()
def evil_int(): return EvilInt(0)
def evil_ordered(): return EvilOrdered(a=1)
def 二倍(x): return 2 * x

def moved():
    d = collections.OrderedDict([("b", 1), ("a", 2)])
    d.move_to_end("b")
    return d
def evil_list(): return [1, EvilInt(2)]
def evil_key(): return {EvilInt(1): "a"}
def boom(x): return x / 0
def shout(): raise ValueError("x" * 5000)

class Cache:
    def __init__(self, h): self.h = h

def forward(x):
    h = x * 2
    return h.sum(), Cache(h)

def backward(cache, scale):
    return cache.h * scale

def slow():
    import time
    time.sleep(30)

number = 42
notplain = Evil()
big = torch.zeros(1000, 1000)

class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 3)
        self.drop = torch.nn.Dropout(0.5)
    def forward(self, x):
        return self.fc(self.drop(x))

model = Net()
with torch.no_grad():
    model.fc.weight.copy_(torch.eye(3))
    model.fc.bias.zero_()
model.train()

class Bad(torch.nn.Module):
    def forward(self, x):
        return x[:1]

bad_model = Bad()

class Shared(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = torch.nn.Linear(3, 3)
        self.net = torch.nn.Sequential(self.l1, torch.nn.Sigmoid())
    def forward(self, x):
        return self.net(x)

shared = Shared()
'''


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKernel]:
    with LocalKernel(tmp_path_factory.mktemp("bridge")) as k:
        k.execute(STUDENT)
        yield k


@pytest.fixture
def sub(kernel: LocalKernel) -> Submission:
    return Submission(kernel, call_timeout=30)


# ---------------------------------------------------------------- plain data

@pytest.mark.parametrize(("expr", "expected"), [
    ("1", 1), ("-2**70", -2**70), ("2.5", 2.5), ("True", True), ("None", None),
    ("'日本語 \\x00 \\n \"q\" \\\\'", '日本語 \x00 \n "q" \\'),
    ("'\\U0001F600'", "\U0001F600"), ("''", ""),
    ("[1, [2, 3], []]", [1, [2, 3], []]), ("(1, 'a', ())", (1, "a", ())),
    ("{'a': 1, 2: [None]}", {"a": 1, 2: [None]}), ("{}", {}),
    # a student's params as an OrderedDict or a defaultdict are dictionaries
    ("collections.OrderedDict(W1=[1], b1=2)", {"W1": [1], "b1": 2}),
    ("collections.defaultdict(list, W1=[1])", {"W1": [1]}),
    ("np.float64(0.5)", 0.5), ("np.int64(3)", 3), ("np.bool_(True)", True),
    ("np.float32(0.25)", 0.25), ("torch.Size([2, 3])", (2, 3)),
    ("torch.device('cpu')", "cpu"), ("torch.float32", "torch.float32"),
])
def test_plain_values_arrive_with_exact_types(sub: Submission, expr: str,
                                              expected: Any) -> None:
    got = sub.evaluate(expr)
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize(("expr", "check"), [
    ("float('nan')", math.isnan),
    ("float('inf')", lambda v: v == math.inf),
    ("float('-inf')", lambda v: v == -math.inf),
    ("5e-324", lambda v: v == 5e-324),
])
def test_special_floats(sub: Submission, expr: str, check: Any) -> None:
    assert check(sub.evaluate(expr))


@pytest.mark.parametrize("value", [
    0, -7, 2**100, 1.5, float("inf"), True, None, "テキスト\ud800", [1, "a", [2.0]],
    (1, (2, 3)), {"k": (1, 2), 5: None}, [],
])
def test_grader_values_round_trip(sub: Submission, value: Any) -> None:
    got = sub.function("ident")(value)
    assert got == value and type(got) is type(value)


def test_value_and_has(sub: Submission) -> None:
    assert sub.has("number") and not sub.has("undefined_name")
    assert sub.value("number") == 42
    assert sub.value("model.fc.in_features") == 3


def test_kwargs_and_function_as_argument(sub: Submission) -> None:
    assert sub.function("ident")(1, k=2) == ((1,), {"k": 2})
    fn = sub.function("ident")(sub.function("AND"))  # the kernel gets the function itself
    assert isinstance(fn, Remote) and fn.type_name == "function"
    assert fn(1, 1) == 1


# ---------------------------------------------------------------- tensors

@pytest.mark.parametrize("tensor", [
    torch.tensor(3.5), torch.arange(6, dtype=torch.float64).reshape(2, 3),
    torch.arange(12).reshape(3, 4).T, torch.tensor([True, False]),
    torch.arange(200, dtype=torch.uint8), torch.randn(50, 40, dtype=torch.float16),
    torch.randn(300, 7), torch.zeros(0, 5), torch.tensor([math.nan, math.inf, -0.0]),
], ids=lambda t: f"{t.dtype}{tuple(t.shape)}")
def test_tensors_round_trip(sub: Submission, tensor: torch.Tensor) -> None:
    got = sub.function("ident")(tensor)
    assert isinstance(got, torch.Tensor) and got.dtype == tensor.dtype
    assert got.shape == tensor.shape
    assert torch.equal(torch.nan_to_num(got), torch.nan_to_num(tensor))


def test_kernel_side_arrays_become_tensors(sub: Submission) -> None:
    arr = sub.evaluate("np.arange(100, dtype=np.uint16).reshape(10, 10)")
    assert isinstance(arr, torch.Tensor) and arr.dtype == torch.int64
    assert arr[9, 9] == 99
    bf = sub.evaluate("torch.ones(3, dtype=torch.bfloat16, requires_grad=True) * 2")
    assert bf.dtype == torch.float32 and bf.tolist() == [2.0, 2.0, 2.0]
    param = sub.evaluate("model.fc.weight")
    assert torch.equal(param, torch.eye(3))
    assert isinstance(sub.evaluate("np.array(['a'])", remote_ok=True), Remote)


@pytest.mark.parametrize(("value", "seen"), [
    (np.arange(3), "numpy.ndarray"), (np.zeros((100, 3)), "numpy.ndarray"),
    (torch.zeros(2), "torch.Tensor"), (torch.zeros(100, 3), "torch.Tensor"),
    (np.float32(1.5), "builtins.float"), ((1,), "builtins.tuple"), ([1], "builtins.list"),
])
def test_arguments_arrive_as_their_kind(sub: Submission, value: Any, seen: str) -> None:
    assert sub.function("kind")(value) == seen


# ---------------------------------------------------------------- handles

def test_forward_cache_backward_pattern(sub: Submission) -> None:
    x = torch.arange(4, dtype=torch.float64)
    total, cache = sub.function("forward")(x)
    assert total == 12.0
    assert isinstance(cache, Remote) and cache.type_name == "Cache"
    grads = sub.function("backward")(cache, 0.5)
    assert torch.equal(grads, x)
    assert torch.equal(cache.attr("h"), 2 * x)


def test_remote_handles_refuse_to_pose_as_values(sub: Submission) -> None:
    obj = sub.function("evil")()
    assert isinstance(obj, Remote)
    assert obj != 1 and obj == obj and obj != sub.function("evil")()
    with pytest.raises(NotPlainData):
        bool(obj)
    with pytest.raises(NotPlainData):
        list(obj)


def test_names_in_any_script(sub: Submission) -> None:
    """A student's Japanese names are Python names (NFKC-normalised, as Python does)."""
    assert sub.function("二倍")(3) == 6
    assert sub.value("ｎｕｍｂｅｒ") == 42
    with pytest.raises(ValueError):
        sub.function("二 倍")


def test_ordered_dictionaries_keep_their_order(sub: Submission) -> None:
    assert list(sub.function("moved")().items()) == [("a", 2), ("b", 1)]


@pytest.mark.parametrize("name", ["evil", "evil_int", "evil_ordered"])
def test_rigged_eq_cannot_pass_an_equality_check(sub: Submission, name: str) -> None:
    got = sub.function(name)()
    assert isinstance(got, Remote)
    assert not got == 0 and got != 1  # noqa: SIM201


def test_rigged_values_inside_containers(sub: Submission) -> None:
    items = sub.function("evil_list")()
    assert items[0] == 1 and isinstance(items[1], Remote) and items != [1, 2]
    assert isinstance(sub.function("evil_key")(), Remote)
    with pytest.raises(NotPlainData) as err:
        sub.value("notplain")
    # a student-made class name is not shown: it could spell out captured inputs
    message = err.value.student_message("ja")
    assert "Evil" not in message and "型: object" in message


def test_handles_are_released_and_stay_with_their_kernel(kernel: LocalKernel) -> None:
    sub, other = Submission(kernel), Submission(kernel)
    count = "len(__import__('ag_bridge')._HANDLES)"
    before = sub.evaluate(count)
    handle = sub.function("evil")()
    assert sub.evaluate(count) == before + 1
    with pytest.raises(BridgeError):
        other.function("ident")(handle)
    del handle
    sub.evaluate("0")  # the release travels with the next request
    assert sub.evaluate(count) == before


def test_unsendable_argument_leaves_nothing_behind(sub: Submission,
                                                   kernel: LocalKernel) -> None:
    with pytest.raises(TypeError):
        sub.function("ident")(torch.zeros(500), object())
    assert list(Path(kernel.exchange_dir).iterdir()) == []


# ---------------------------------------------------------------- errors

def test_student_exception(sub: Submission) -> None:
    with pytest.raises(StudentError) as err:
        sub.function("boom")(1)
    # the built-in type only: the text of a student's exception could carry grader inputs
    assert err.value.student_message("ja") == "関数 boom の実行中にエラー: ZeroDivisionError"
    with pytest.raises(StudentError) as err:
        sub.function("shout")()
    assert len(err.value.student_message("en")) < 400


def test_missing_and_uncallable_names(sub: Submission) -> None:
    with pytest.raises(MissingName) as err:
        sub.function("OR")
    assert err.value.student_message("ja") == "`OR` が定義されていません"
    with pytest.raises(NotCallable):
        sub.function("number")
    with pytest.raises(MissingName):
        sub.value("model.nothing_here")
    with pytest.raises(ValueError):
        sub.value("number; import os")


def test_timeout_then_kernel_still_usable(kernel: LocalKernel) -> None:
    sub = Submission(kernel, call_timeout=1.0)
    with pytest.raises(BridgeTimeout):
        sub.function("slow")()
    assert sub.function("AND")(1, 1) == 1
    with sub.time_limit(0.0), pytest.raises(BridgeTimeout):
        sub.value("number")
    # a check's own limit inside the runner's never extends the runner's
    with sub.time_limit(0.0), sub.time_limit(60.0), pytest.raises(BridgeTimeout):
        sub.value("number")
    with sub.time_limit(60.0), sub.time_limit(30.0):
        assert sub.value("number") is not None


def test_size_limits(kernel: LocalKernel) -> None:
    sub = Submission(kernel, limits=BridgeLimits(max_bytes=1 << 20, max_depth=5))
    with pytest.raises(ValueTooLarge):
        sub.value("big")
    with pytest.raises(ValueTooLarge):
        sub.evaluate("[[[[[[[1]]]]]]]")


def test_source_comes_from_the_notebook_text(kernel: LocalKernel) -> None:
    sub = Submission(kernel, notebook=NotebookSource([STUDENT]))
    assert sub.source("AND").startswith("def AND(a, b):")
    assert "class Cache" in sub.source("Cache")
    assert sub.source("number") == "number = 42"   # a number is its own text
    with pytest.raises(SourceUnavailable):
        sub.source("np")  # bound, but not by a definition (an import)
    with pytest.raises(SourceUnavailable):
        Submission(kernel).source("AND")  # no notebook: no source (never the kernel's)


# ---------------------------------------------------------------- models

def test_a_layer_registered_twice_is_one_layer(sub: Submission) -> None:
    """``l1`` reused in an ``nn.Sequential``: its tensors once, under its first name."""
    model = sub.model("shared", torch.zeros(2, 3))
    assert model.num_parameters == 12
    assert sorted(model.state_dict()) == ["l1.bias", "l1.weight"]


def _labelled(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = gradients.random_tensors(seed=seed, dtype=torch.float32, x=(n, 3))["x"]
    return x, x.argmax(dim=1)


def test_model_forward_path_gives_the_graders_accuracy(kernel: LocalKernel) -> None:
    sub = Submission(kernel, limits=BridgeLimits(max_batch_bytes=12 * 64))
    model = sub.model("model", torch.zeros(2, 3))
    assert model.num_parameters == 12 and model.output_shape == (2, 3)
    assert [m.type_name for m in model.modules] == ["Net", "Linear", "Dropout"]
    assert model.modules[1] == ("fc", "Linear",
                                "in_features=3, out_features=3, bias=True")
    x, y = _labelled(300, seed=3)
    assert accuracy.accuracy_of(model, (x, y)) == 1.0  # dropout off: eval mode
    wrong = y.clone()
    wrong[:90] = (wrong[:90] + 1) % 3
    assert accuracy.accuracy_of(model, (x, wrong), batch_size=64) == pytest.approx(0.7)
    with pytest.raises(RuntimeError):
        model.load_into(torch.nn.Sequential())  # strict: the keys must match
    net = model.load_into(_LocalNet())
    assert torch.equal(net.fc.weight, torch.eye(3))
    assert accuracy.accuracy_of(net, (x, wrong), device="cpu") == pytest.approx(0.7)


class _LocalNet(torch.nn.Module):
    """The student's architecture rebuilt in the grader (weights come from the kernel)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


def test_model_errors(sub: Submission) -> None:
    with pytest.raises(NotAModel):
        sub.model("number", torch.zeros(1, 3))
    with pytest.raises(ModelOutputError) as err:
        sub.model("bad_model", torch.zeros(4, 3))
    assert "4" in err.value.student_message("ja")
    with pytest.raises(StudentError):  # the example input does not fit the model
        sub.model("model", torch.zeros(2, 5))


# ---------------------------------------------------------------- a hostile notebook

FORGER = r'''
import os, ag_bridge

def _forge(request):
    rid, folder = request["rid"], request["dir"]
    for name, content in FILES.items():
        path = os.path.join(folder, name.replace("RID", rid))
        if isinstance(content, tuple):
            os.symlink(content[1], path)
        elif isinstance(content, bytes):
            open(path, "wb").write(content)
        else:
            open(path, "w").write(content.replace("RID", rid))

ag_bridge.serve = _forge
'''


def _npy(arr: np.ndarray, **kw: Any) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, arr, **kw)
    return buf.getvalue()


_OK = '{"v": 1, "rid": "RID", "ok": true, "value": %s}'
_ARR = '{"t": "array", "kind": "tensor", "dtype": "float32", "shape": [2], "file": "%s"}'
FORGERIES = {
    "no rid": {"RID.json": '{"v": 1, "ok": true, "value": 1}'},
    "other rid": {"RID.json": '{"v": 1, "rid": "r00", "ok": true, "value": 1}'},
    "not json": {"RID.json": "1; import os"},
    "pickle protocol": {"RID.json": "\x80\x04K\x01."},
    "extra key": {"RID.json": '{"v": 1, "rid": "RID", "ok": true, "value": 1, "x": 0}'},
    "duplicate key": {"RID.json": '{"v": 1, "rid": "RID", "ok": true, "ok": true, "value": 1}'},
    "unknown tag": {"RID.json": _OK % '{"t": "pickle", "v": "gASVAAAAAA=="}'},
    "remote in value()": {"RID.json": _OK % '{"t": "remote", "id": 1, "type": "int"}'},
    "path traversal": {"RID.json": _OK % (_ARR % "../../etc/passwd")},
    "foreign file": {"RID.json": _OK % (_ARR % "other-0.npy")},
    "object dtype": {"RID.json": _OK % _ARR.replace("float32", "object") % "RID-0.npy"},
    "pickled npy": {"RID.json": _OK % (_ARR % "RID-0.npy"),
                    "RID-0.npy": _npy(np.array([{}, 1], dtype=object), allow_pickle=True)},
    "npy shape lie": {"RID.json": _OK % (_ARR % "RID-0.npy"),
                      "RID-0.npy": _npy(np.zeros(3, dtype=np.float32))},
    "npy dtype lie": {"RID.json": _OK % (_ARR % "RID-0.npy"),
                      "RID-0.npy": _npy(np.zeros(2, dtype=np.float64))},
    "npy truncated": {"RID.json": _OK % (_ARR % "RID-0.npy"),
                      "RID-0.npy": _npy(np.zeros(2, dtype=np.float32))[:-3]},
    "inline length": {"RID.json": _OK % _ARR.replace('"file": "%s"', '"data": [1.0]')},
    "inline type": {"RID.json": _OK % _ARR.replace('"file": "%s"', '"data": ["a", "b"]')},
    "huge shape": {"RID.json": _OK % _ARR.replace("[2]", "[1099511627775, 1099511627775]")
                   .replace('"file": "%s"', '"data": []')},
    "deep nesting": {"RID.json": _OK % ("[" * 50_000 + "]" * 50_000)},
    "symlinked answer": {"RID.json": ("link", "/etc/hostname")},
    "symlinked dir": {"RID.json": ("link", "/tmp")},
    "bool as dict key": {"RID.json": _OK % '{"t": "dict", "v": [[true, 1]]}'},
    "error kind spoof": {"RID.json": '{"v": 1, "rid": "RID", "ok": false, "kind": 1}'},
    "no answer": {},
}


@pytest.fixture(scope="module")
def forger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKernel]:
    with LocalKernel(tmp_path_factory.mktemp("forger")) as k:
        k.execute(FORGER)
        yield k


@pytest.mark.parametrize("case", list(FORGERIES))
def test_forged_answers_fail_cleanly(forger: LocalKernel, case: str) -> None:
    forger.execute(f"FILES = {FORGERIES[case]!r}")
    sub = Submission(forger)
    with pytest.raises(BridgeError):
        sub.value("anything")
    assert not [p for p in Path(forger.exchange_dir).iterdir() if p.name.startswith("r")]


STUDENT_CHEATS = r'''
class EvilInt(int):
    def __eq__(self, other): return True
    __hash__ = int.__hash__

def AND(a, b): return EvilInt(1)
def ident(x): return x
'''

# What the bridge uses, rebound after it was imported: it must keep working exactly.
TAMPER_CAPTURED = r'''
import builtins, torch
builtins.print = lambda *a, **k: None
builtins.callable = lambda *a: True
builtins.eval = lambda *a, **k: 1
builtins.open = lambda *a, **k: None
torch.manual_seed = lambda *a, **k: None
torch.randn = lambda *a, **k: torch.zeros(*a[:1])
'''

# Tampering that breaks IPython itself or its messages: a clean BridgeError, nothing more.
TAMPER_FATAL = {
    "isinstance": "import builtins; builtins.isinstance = lambda *a: True",
    "json": "import json; json.dumps = lambda *a, **k: '{\"v\": 1, \"ok\": true}'",
}


@pytest.mark.slow
@pytest.mark.parametrize("preload", [True, False], ids=["bridge-at-start", "bridge-late"])
def test_tampered_builtins_cannot_inflate(tmp_path: Path, preload: bool) -> None:
    with LocalKernel(tmp_path, preload_bridge=preload) as k:
        k.execute(STUDENT_CHEATS + TAMPER_CAPTURED)
        sub = Submission(k)
        x = gradients.random_tensors(seed=5, x=(300, 3))["x"]  # large: sent as .npy
        try:
            got, echoed = sub.function("AND")(1, 1), sub.function("ident")(x)
        except BridgeError:
            assert not preload  # imported before the notebook, the bridge must not fail
            return
        assert isinstance(got, Remote) and not got == 1  # noqa: SIM201
        assert torch.equal(echoed, x)
        with pytest.raises(MissingName):
            sub.function("OR")


KERNEL_SIDE_PARTS = r'''
import builtins, sys
import ag_bridge
import ag_requests, ag_wire
assert {"ag_wire", "ag_requests"} <= set(sys.modules)
assert ag_requests._open is ag_wire._open is builtins.open
assert ag_requests._getattr is ag_wire._getattr is builtins.getattr
assert ag_bridge._Encoder is ag_requests._Encoder is ag_wire._Encoder
assert ag_bridge._HANDLES is ag_wire._HANDLES
print("ok")
'''


def test_importing_ag_bridge_captures_its_parts_at_once() -> None:
    """``ag_startup`` imports only ``ag_bridge``: its parts must come with it, holding the
    same pristine references (and the names tests and hostile notebooks reach)."""
    out = subprocess.run([sys.executable, "-c", KERNEL_SIDE_PARTS], capture_output=True,
                         text=True, timeout=60, check=False,
                         env={"PYTHONPATH": str(SANDBOX_FILES), "PATH": "/usr/bin:/bin",
                              "PYTHONDONTWRITEBYTECODE": "1"})  # sandbox_files is hashed
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("tamper", list(TAMPER_FATAL))
def test_kernel_broken_by_tampering_fails_cleanly(tmp_path: Path, tamper: str) -> None:
    with LocalKernel(tmp_path) as k:
        k.execute(STUDENT_CHEATS)
        with contextlib.suppress(Exception):  # the reply itself may be unreadable
            k.run_code(TAMPER_FATAL[tamper], timeout=1)
        sub = Submission(k, call_timeout=2)
        with pytest.raises(BridgeError):
            sub.function("AND")(1, 1)


def test_kernel_rng_tampering_does_not_touch_grader_inputs() -> None:
    first = gradients.random_tensors(seed=5, x=(4, 3), w=(3,))
    torch.manual_seed(123)  # the grader's own global RNG does not matter either
    again = gradients.random_tensors(seed=5, x=(4, 3), w=(3,))
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert first["x"].dtype == torch.float64 and first["x"].std() > 0.1
def test_dead_kernel(tmp_path: Path) -> None:
    with LocalKernel(tmp_path) as k:
        k.execute("import os\ndef die(): os._exit(1)\ndef ok(): return 1")
        sub = Submission(k, call_timeout=30)
        with pytest.raises(KernelDead):
            sub.function("die")()
        assert not sub.alive
        with pytest.raises(KernelDead):
            sub.function("ok")
