"""A text earns structure points only where its name runs it (``code_identity``).

Each row plays a notebook in a real ipykernel (its cells run in order, on a namespace
emptied before), then reads one name's text through ``Submission.source``: honest
forms keep their text; every way of making the name run something else at run time —
reflection the text does not show — takes it away, as a missing definition does."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import pytest
from local_kernel import LocalKernel

from autograder.checks import source
from autograder.checks.source import RUN_TIME
from autograder.core.errors import BridgeError
from autograder.engine.bridge import code_identity, kernel_code, library_paths
from autograder.engine.bridge.notebook_source import NotebookSource
from autograder.engine.bridge.submission import SourceUnavailable, Submission

PERCEPTRON = """
def perceptron(x, w, threshold):
    return 1 if sum(a * b for a, b in zip(x, w)) - threshold > 0 else 0
"""
GATE_CLASS = """
class Gate:
    def __init__(self, w, threshold):
        self.w, self.threshold = w, threshold

    def __call__(self, a, b):
        return perceptron([a, b], self.w, self.threshold)
"""
FACTORY = """
def make_gate(w1, w2, threshold):
    def gate(a, b):
        return perceptron([a, b], [w1, w2], threshold)
    return gate
"""
DATACLASS_GATE = """
from dataclasses import dataclass

@dataclass(frozen=True)
class Gate:
    w: tuple
    threshold: float = 0.0

    def __call__(self, a, b):
        return perceptron([a, b], self.w, self.threshold)
"""
TORCH = "import torch\nfrom torch import nn\n"
CHEAT = "def _real(a, b):\n    return int(a and b)\n"
SIGMOID = "def sigmoid(u, eps=0.0, *, scale=1):\n    return 1 / (1 + 2.718281828 ** (-u))\n"

ACT = ("class Act:\n    @staticmethod\n    def sigmoid(u, eps=0.0):\n"
       "        return 1 / (1 + 2.718281828 ** (-u))\n"
       "    def relu(u):\n        return max(u, 0)\n")

HONEST: list[tuple[str, list[str], str]] = [
    ("def", [PERCEPTRON], "perceptron"),
    # settings of a library and its functions named like list methods change none of
    # what the text calls (a Japanese course's ``fix_seed``, ``np.append``)
    ("library settings and module functions named like list methods", [
        TORCH + "import numpy as np\n"
        "def fix_seed(seed):\n    torch.manual_seed(seed)\n"
        "    torch.backends.cudnn.deterministic = True\n"
        "    torch.backends.cudnn.benchmark = False\nfix_seed(0)\n",
        "log = np.append(np.zeros(1), 1.0)\norder = torch.sort(torch.tensor([2, 1])).values\n",
        "def s(u):\n    return 1 / (1 + torch.exp(-u)) + np.abs(0) * torch.abs(u)\n"], "s"),
    ("literal and keyword defaults", [SIGMOID], "sigmoid"),
    ("expression default", ["def f(x, eps=float('1e-7'), dim=-1, axis=(0, 1)):\n"
                            "    return x\n"], "f"),
    ("lambda", ["relu = lambda u, floor=0: max(u, floor)\n"], "relu"),
    ("library objects as defaults", [
        "import math\nfrom math import exp\n"
        "def s(u, f=math.exp, *, g=exp, h=math.pi, k=len):\n    return f(u) + g(h) + k([])\n",
        "s2 = lambda u, f=math.tanh: f(u)\n"], "s"),
    ("a library default of a lambda", ["import math\ns2 = lambda u, f=math.tanh: f(u)\n"],
     "s2"),
    ("library functions in a container", [
        "import math\nfrom math import exp as e\n_t = {'f': math.exp, 'g': [e, len, abs]}\n"],
     "_t"),
    ("a library function in an instance", [
        "import math\nclass Ops:\n    def __init__(self):\n        self.f = math.exp\n",
        "ops = Ops()\n"], "ops"),
    ("a library function whose C name is longer", [
        TORCH + "_t = [torch.special.expit]\n"], "_t"),
    ("methods of C types in a container", [TORCH + "_t = [str.upper, torch.Tensor.exp]\n"],
     "_t"),
    ("factory product", [PERCEPTRON, FACTORY, "AND = make_gate(5, 5, 9)\n"], "AND"),
    ("tuple of products", [PERCEPTRON, FACTORY,
                           "AND, OR = make_gate(5, 5, 9), make_gate(5, 5, 2)\n"], "OR"),
    ("partial", [PERCEPTRON, "from functools import partial\n"
                 "AND = partial(perceptron, w=[5, 5], threshold=9)\n"], "AND"),
    ("class", [PERCEPTRON, GATE_CLASS], "Gate"),
    ("instance", [PERCEPTRON, GATE_CLASS, "AND = Gate([5, 5], 9)\n"], "AND"),
    ("subclass instance", [PERCEPTRON, GATE_CLASS,
                           "class AndGate(Gate):\n    def __init__(self):\n"
                           "        super().__init__([5, 5], 9)\n", "AND = AndGate()\n"], "AND"),
    ("container", [PERCEPTRON, FACTORY, "GATES = {'and': make_gate(5, 5, 9), 'n': [abs, 1]}\n"],
     "GATES"),
    ("alias", [PERCEPTRON, "p = perceptron\n"], "p"),
    ("lru_cache", ["import functools\n", "@functools.lru_cache\ndef fib(n):\n"
                   "    return n if n < 2 else fib(n - 1) + fib(n - 2)\n"], "fib"),
    ("future annotations", ["from __future__ import annotations\n",
                            "def outer(x: int) -> int:\n    def inner(y: int) -> int:\n"
                            "        return y\n    return inner(x)\n"], "outer"),
    ("%%time cell", ["%%time\ndef timed(x):\n    return x + 1\n"], "timed"),
    ("redefined later", ["def g(x):\n    return 1\n", "def g(x):\n    return 2\n"], "g"),
    ("data", ["TABLE = [(0, 0), (1, 1)]\n"], "TABLE"),
    ("class with a lambda attribute", [
        PERCEPTRON, "class Gate:\n    w = (5, 5)\n"
        "    fire = lambda self, a, b: perceptron([a, b], self.w, 9)\n"
        "    def __call__(self, a, b):\n        return self.fire(a, b)\n"], "Gate"),
    ("shell and magic lines", ["!echo hi\n%time x = 1\ndef h(u):\n    return u * 2\n"], "h"),
    ("%%capture cell", ["%%capture\nprint('quiet')\ndef c(u):\n    return u\n"], "c"),
    ("torch module class", [TORCH, "class Sig(nn.Module):\n    def forward(self, u):\n"
                            "        return 1 / (1 + torch.exp(-u))\n"], "Sig"),
    ("torch module instance", [TORCH, "class Sig(nn.Module):\n    def forward(self, u):\n"
                               "        return 1 / (1 + torch.exp(-u))\n", "sigmoid = Sig()\n"],
     "sigmoid"),
    ("dataclass", [PERCEPTRON, DATACLASS_GATE], "Gate"),
    ("dataclass instance", [PERCEPTRON, DATACLASS_GATE, "AND = Gate((5, 5), 9)\n"], "AND"),
    # a namedtuple's generated methods are the grader's own namedtuple's of those fields
    ("namedtuple", ["from collections import namedtuple\n",
                    "Cache = namedtuple('Cache', 'hidden probs')\n"], "Cache"),
    ("a namedtuple's instance", ["from collections import namedtuple\n",
                                 "Gate = namedtuple('Gate', ['w', 'threshold'])\n",
                                 "AND_P = Gate(w=(5, 5), threshold=9)\n"], "AND_P"),
    ("collections.namedtuple, a list of fields", [
        "import collections\n", "Cache = collections.namedtuple('Cache', ['h', 'y'])\n"],
     "Cache"),
    ("typing.NamedTuple class", ["from typing import NamedTuple\n",
                                 "class Cache(NamedTuple):\n    h: float\n    y: float = 0.0\n"
                                 "    def total(self):\n        return self.h + self.y\n"],
     "Cache"),
    ("torch.no_grad", [TORCH, "@torch.no_grad()\ndef relu(u):\n"
                       "    return torch.where(u > 0, u, torch.zeros_like(u))\n"], "relu"),
    ("a number", ["EPS = 1e-7\n"], "EPS"),
    ("class with a static method", [ACT], "Act"),
    ("a static method by the class", [ACT, "sigmoid = Act.sigmoid\n"], "sigmoid"),
    ("a method without self by the class", [ACT, "relu = Act.relu\n"], "relu"),
    ("library paths of every kind, none changed", [
        "import math\nimport numpy as np\nimport torch\nimport torch.nn.functional as F\n"
        "from torch import nn\nfrom torch.nn import functional\n",
        "def lib(u):\n    v = torch.as_tensor(u, dtype=torch.float64)\n"
        "    w = F.relu(v).sum() + functional.softplus(v).mean() + np.abs(-1.0)\n"
        "    w = w + math.fabs(-1) + v.exp().mean() + (-v).abs().max() + np.linalg.norm([3, 4])\n"
        "    w += nn.Linear(2, 2).weight.shape[0] + len(v) + abs(v).sum() + v[0] ** 2\n"
        "    return +w if w > 0 else torch.nn.functional.sigmoid(w)\n"], "lib"),
    ("the default device set, a library attribute the text does not read changed", [
        "import torch\nimport math\ntorch.set_default_device('cpu')\n",
        "exec('math.my_constant_helper = lambda v: v')\n",
        "def s(u):\n    return 1 / (1 + torch.exp(-torch.as_tensor(u)))\n"], "s"),
]

TORCH_MODE = """\
exec('''class _M(torch.overrides.TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        func = torch.sigmoid if func is torch.abs else func
        return func(*args, **(kwargs or {}))
_M().__enter__()''')
"""

ATTACKS: list[tuple[str, list[str], str]] = [
    # a library function the text calls, made another one for the whole run
    ("a module's function swapped by exec", [
        "import math\n", "exec('math.fabs = math.tanh')\n",
        "def s(u):\n    return math.fabs(u)\n"], "s"),
    ("swapped before the import that names it", [
        "exec('import math; math.fabs = math.tanh')\n",
        "from math import fabs as _f\ndef s(u):\n    return _f(u)\n"], "s"),
    ("a module swapped in sys.modules before its import", [
        "exec(\"import sys, types, math; m = types.ModuleType('math'); "
        "m.__dict__.update(vars(math)); m.fabs = math.tanh; sys.modules['math'] = m\")\n",
        "import math\ndef s(u):\n    return math.fabs(u)\n"], "s"),
    ("a module swapped for a namespace in sys.modules before its import", [
        "exec(\"import sys, types, math; sys.modules['math'] = "
        "types.SimpleNamespace(**{**vars(math), 'fabs': math.tanh})\")\n",
        "import math\ndef s(u):\n    return math.fabs(u)\n"], "s"),
    ("a numpy ufunc swapped by exec", [
        "import numpy as np\n", "exec('np.abs = np.tanh')\n",
        "def s(u):\n    return np.abs(u)\n"], "s"),
    # the same, written in the notebook's own text: the path assigned to (a Python
    # function of torch's, which the kernel's answer does not compare) is not what runs
    ("a submodule's Python function assigned to through an alias", [
        "import torch\nimport torch.nn.functional as F\n", "F.hardtanh = torch.sigmoid\n",
        "def s(u):\n    return F.hardtanh(u)\n"], "s"),
    ("a tensor operator assigned to in a helper", [
        TORCH, "def setup():\n    torch.Tensor.__pos__ = torch.Tensor.sigmoid\nsetup()\n",
        "def s(u):\n    return +u\n"], "s"),
    ("a submodule's function swapped through an alias", [
        "import torch\nimport torch.nn.functional as F\n",
        "exec('F.softplus = torch.sigmoid')\n", "def s(u):\n    return F.softplus(u)\n"], "s"),
    ("a tensor method swapped by exec", [
        TORCH, "exec('torch.Tensor.abs = torch.Tensor.sigmoid')\n",
        "def s(u):\n    return u.abs()\n"], "s"),
    ("a tensor operator swapped by exec", [
        TORCH, "exec('torch.Tensor.__pos__ = torch.Tensor.sigmoid')\n",
        "def s(u):\n    return +u\n"], "s"),
    ("a torch function mode left active", [TORCH, TORCH_MODE,
                                           "def s(u):\n    return torch.abs(u)\n"], "s"),
    ("a library function in a container swapped for another", [
        "import math\n_t = {'f': math.exp}\n", "exec(\"_t['f'] = math.tanh\")\n"], "_t"),
    ("a method of a C type in a container swapped for another", [
        TORCH + "_t = [torch.Tensor.exp]\n", "exec('_t[0] = torch.Tensor.sigmoid')\n"], "_t"),
    ("a library function in an instance swapped for another", [
        "import math\nclass Ops:\n    def __init__(self):\n        self.f = math.exp\n",
        "ops = Ops()\n", "exec('ops.f = math.tanh')\n"], "ops"),
    ("a library function swapped for one named like the student's own", [
        "import math\ndef tanh(u):\n    return u\n_t = [math.exp, tanh]\n",
        "exec('_t[0] = math.tanh')\n"], "_t"),
    ("a partial's library argument swapped by __setstate__", [
        "import math\nfrom functools import partial\n"
        "def _apply(f, u):\n    return f(u)\n_s = partial(_apply, math.exp)\n",
        "exec('_s.__setstate__((_s.func, (math.tanh,), {}, None))')\n"], "_s"),
    ("a library default swapped for another by exec", [
        "import math\ndef s(u, f=math.exp):\n    return f(u)\n",
        "exec('s.__defaults__ = (math.tanh,)')\n"], "s"),
    ("a keyword-only library default swapped for another by exec", [
        "import math\ndef s(u, *, f=math.exp):\n    return f(u)\n",
        "exec('s.__kwdefaults__ = {\"f\": math.tanh}')\n"], "s"),
    ("a lambda's library default swapped for another by exec", [
        "import math\ns2 = lambda u, f=math.exp: f(u)\n",
        "exec('s2.__defaults__ = (math.tanh,)')\n"], "s2"),
    ("a number rebound by exec", ["EPS = 1e-7\n", "exec('EPS = abs')\n"], "EPS"),
    ("static method swapped before its alias", [
        ACT, "exec('Act.sigmoid = staticmethod(lambda u, eps=0.0: abs(u))')\n",
        "sigmoid = Act.sigmoid\n"], "sigmoid"),
    ("alias taken from an earlier class", [
        "class Act:\n    @staticmethod\n    def sigmoid(u, eps=0.0):\n        return abs(u)\n",
        "sigmoid = Act.sigmoid\n", ACT], "sigmoid"),
    ("staticmethod replaced by reflection", [
        "exec('staticmethod = lambda f: (lambda u, eps=0.0: abs(u))')\n", ACT], "Act"),
    ("its alias by reflection too", [
        "exec('staticmethod = lambda f: (lambda u, eps=0.0: abs(u))')\n", ACT,
        "sigmoid = Act.sigmoid\n"], "sigmoid"),
    ("alias defaults replaced", [ACT, "sigmoid = Act.sigmoid\n",
                                 "def _d(f):\n    f.__defaults__ = (5.0,)\n", "_d(sigmoid)\n"],
     "sigmoid"),
    ("exec to a builtin", [SIGMOID, "exec('sigmoid = abs')\n"], "sigmoid"),
    ("exec to another function", [PERCEPTRON, CHEAT, "def AND(a, b):\n"
                                  "    return perceptron([a, b], [5, 5], 9)\n",
                                  "exec('AND = _real')\n"], "AND"),
    ("globals subscript", [SIGMOID, "globals()['sigmoid'] = lambda u, eps=0.0, *, scale=1: u\n"],
     "sigmoid"),
    ("user_ns update", [SIGMOID, "get_ipython().user_ns.update(sigmoid=abs)\n"], "sigmoid"),
    ("run_cell of a string", [SIGMOID, "get_ipython().run_cell('sigmoid = abs')\n"], "sigmoid"),
    ("__code__ through a parameter", [PERCEPTRON, CHEAT, "def AND(a, b):\n"
                                      "    return perceptron([a, b], [5, 5], 9)\n",
                                      "def _same(f, g):\n    f.__code__ = g.__code__\n",
                                      "_same(AND, _real)\n"], "AND"),
    ("defaults through a parameter", [SIGMOID, "def _d(f):\n    f.__defaults__ = (5.0,)\n",
                                      "_d(sigmoid)\n"], "sigmoid"),
    ("foreign globals", [SIGMOID, "import types\n"
                         "exec('sigmoid = types.FunctionType(sigmoid.__code__, {}, \"sigmoid\","
                         " (0.0,))')\n"], "sigmoid"),
    ("product replaced", [PERCEPTRON, FACTORY, "AND = make_gate(5, 5, 9)\n",
                          "exec('AND = lambda a, b: int(a and b)')\n"], "AND"),
    ("method replaced", [PERCEPTRON, GATE_CLASS, "AND = Gate([5, 5], 9)\n",
                         "exec('Gate.__call__ = lambda self, a, b: int(a and b)')\n"], "AND"),
    ("class method replaced", [PERCEPTRON, GATE_CLASS,
                               "exec('Gate.__call__ = lambda self, a, b: int(a and b)')\n"],
     "Gate"),
    ("namedtuple method replaced", ["from collections import namedtuple\n",
                                    "Cache = namedtuple('Cache', 'h y')\n",
                                    "exec('Cache._make = classmethod(lambda c, it: 0)')\n"],
     "Cache"),
    # generated code over the notebook's own objects (a red-team pass of 2026-12-05:
    # ``__new__``'s code kept, its ``_tuple_new`` the notebook's, set on a parameter)
    ("namedtuple's __new__ over other globals", [
        "from collections import namedtuple\nimport types\n",
        "Cache = namedtuple('Cache', 'h y')\n",
        "def _settle(cls, inner):\n    made = cls.__new__\n"
        "    cls.__new__ = types.FunctionType(made.__code__, {'_tuple_new': inner,"
        " '__builtins__': {}, '__name__': 'x'})\n",
        "_settle(Cache, lambda c, t: tuple.__new__(c, t))\n"], "Cache"),
    ("namedtuple's _make over other captured objects", [
        "from collections import namedtuple\nimport types\n",
        "Cache = namedtuple('Cache', 'h y')\n",
        "def _settle(cls, inner):\n    made = cls._make.__func__\n"
        "    cells = tuple(types.CellType(inner if c.cell_contents is tuple.__new__ else"
        " c.cell_contents) for c in made.__closure__)\n"
        "    cls._make = classmethod(types.FunctionType(made.__code__, made.__globals__,"
        " '_make', None, cells))\n",
        "_settle(Cache, lambda c, t: tuple.__new__(c, t))\n"], "Cache"),
    ("namedtuple of fields the text does not spell", [
        "from collections import namedtuple\n", "F = 'h y'\n",
        "Cache = namedtuple('Cache', F)\n"], "Cache"),
    ("namedtuple of other fields", ["from collections import namedtuple\n",
                                    "Cache = namedtuple('Cache', 'h y')\n",
                                    "exec('Cache = namedtuple(\"Cache\", \"h y z\")')\n"],
     "Cache"),
    ("dataclass method replaced", [PERCEPTRON, DATACLASS_GATE, "AND = Gate((5, 5), 9)\n",
                                   "exec('Gate.__call__ = lambda self, a, b: int(a and b)')\n"],
     "AND"),
    ("instance to native", [PERCEPTRON, GATE_CLASS, "AND = Gate([5, 5], 9)\n",
                            "import operator\n", "exec('AND = operator.and_')\n"], "AND"),
    ("expression default replaced", [
        "import math\ndef sigmoid(u, exp=math.exp):\n    return 1 / (1 + exp(-u))\n",
        "def _fast(v):\n    return 1 / (1 / (1 + math.exp(v))) - 1\n",
        "def _d(f, g):\n    f.__defaults__ = (g,)\n", "_d(sigmoid, _fast)\n"], "sigmoid"),
    ("instance's class swapped", [PERCEPTRON, GATE_CLASS, "AND = Gate([5, 5], 9)\n",
                                  "import operator\nclass _Cheat(Gate):\n"
                                  "    __call__ = staticmethod(operator.and_)\n",
                                  "def _become(o, c):\n    o.__class__ = c\n",
                                  "_become(AND, _Cheat)\n"], "AND"),
    ("transparent decorator replaced", [
        "import functools\n", "def _deco(f):\n    g = lambda n: 0\n"
        "    g.__wrapped__ = f\n    return g\n", "exec('functools.lru_cache = _deco')\n",
        "@functools.lru_cache\ndef fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n"],
     "fib"),
    ("closure swapped to exec'd code", [PERCEPTRON, FACTORY, "AND = make_gate(5, 5, 9)\n",
                                        "exec('AND.__closure__[0].cell_contents = "
                                        "lambda *a: 1')\n"], "AND"),
    ("trace function left installed", [
        SIGMOID, "import sys\ndef _t(frame, event, arg):\n    return _t\n",
        "sys.settrace(_t)\n"], "sigmoid"),
    ("input transformer", [
        "def _swap(lines):\n"
        "    first = 'def sigmoid(u, eps=0.0, *, scale=1):\\n'\n"
        "    return ['sigmoid = abs\\n'] if lines[:1] == [first] else lines\n"
        "get_ipython().input_transformers_post.append(_swap)\n", SIGMOID], "sigmoid"),
]


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKernel]:
    with LocalKernel(tmp_path_factory.mktemp("identity")) as k:
        yield k


# what an earlier case replaced (builtins, ``functools.lru_cache``, a library's functions,
# ``sys.modules``, torch's modes) is put back before the next
RESTORE = """\
import builtins, functools, math, sys
import numpy, torch, torch.nn.functional
sys.settrace(None)
_kept = builtins.__dict__.setdefault('_kept', {})
for _m in (builtins, functools, math, numpy, torch, torch.nn.functional):
    _saved = _kept.setdefault(_m.__name__, (_m, dict(_m.__dict__)))
    sys.modules[_m.__name__] = _saved[0]
    _saved[0].__dict__.update(_saved[1])
_tensor = _kept.setdefault('Tensor', dict(torch.Tensor.__dict__))
for _k in set(torch.Tensor.__dict__) - set(_tensor):
    delattr(torch.Tensor, _k)
for _k, _v in _tensor.items():
    if torch.Tensor.__dict__.get(_k) is not _v:
        setattr(torch.Tensor, _k, _v)
while torch._C._len_torch_function_stack():
    torch._C._pop_torch_function_stack()
get_ipython().input_transformers_post.clear()
%reset -f
"""


def _played(kernel: LocalKernel, cells: list[str]) -> Submission:
    kernel.run_code(RESTORE)
    cells = [textwrap.dedent(c) for c in cells]
    for cell in cells:
        kernel.execute(cell)
    return Submission(kernel, call_timeout=30, notebook=NotebookSource(cells))


@pytest.mark.parametrize(("cells", "name"), [pytest.param(c, n, id=i) for i, c, n in HONEST])
def test_an_honest_form_keeps_its_text(kernel: LocalKernel, cells: list[str], name: str) -> None:
    assert _played(kernel, cells).source(name)


@pytest.mark.parametrize(("cells", "name"), [pytest.param(c, n, id=i) for i, c, n in ATTACKS])
def test_a_name_changed_at_run_time_has_no_text(kernel: LocalKernel, cells: list[str],
                                                name: str) -> None:
    sub = _played(kernel, cells)
    assert sub.notebook is not None and sub.notebook.definition(name) is not None
    with pytest.raises(SourceUnavailable, match="does not run"):
        sub.source(name)


def test_no_answer_takes_every_text_and_another_python_none(kernel: LocalKernel) -> None:
    sub = _played(kernel, [PERCEPTRON])
    kernel.run_code("import ag_requests\nag_requests._OPS['codes'] = lambda r: 1\n")
    try:
        with pytest.raises(SourceUnavailable):
            sub.source("perceptron")
        kernel.run_code("ag_requests._OPS['codes'] = lambda r: "
                        "{'python': 'cpython-27', 'names': {}, 'shadowed': [], 'traced': False}\n")
        assert Submission(kernel, notebook=sub.notebook).source("perceptron")
    finally:
        kernel.run_code("ag_requests._OPS['codes'] = ag_requests._op_codes\n")


_OK = {"shadowed": [], "traced": False}


@pytest.mark.parametrize("raw", [
    None, [], {"python": "x"}, {"python": 1, "names": {}, **_OK},
    {"python": "x", "names": {}},
    {"python": "x", "names": {}, "shadowed": [1], "traced": False},
    {"python": "x", "names": {}, "shadowed": [], "traced": 0},
    {"python": "x", "names": {"other": None}, **_OK},
    {"python": "x", "names": {"f": {"kind": "magic", "codes": [], "foreign": []}}, **_OK},
    {"python": "x", "names": {"f": {"kind": "function", "codes": [1], "foreign": []}},
     **_OK},
    {"python": "x", "names": {"f": {"kind": "class", "codes": [], "foreign": [],
                                    "methods": [["a"]]}}, **_OK},
    {"python": "x", "names": {"f": {"kind": "data", "codes": [], "foreign": [], "same": 1}},
     **_OK},
    {"python": "x", "names": {"f": {"kind": "function", "codes": [], "foreign": [],
                                    "default_same": {"0": "yes"}}}, **_OK},
    {"python": "x", "names": {"f": {"kind": "function", "codes": [], "foreign": [],
                                    "default_same": [["0", True]]}}, **_OK},
    {"python": "x", "names": {}, **_OK, "paths": []},
    {"python": "x", "names": {}, **_OK, "paths": {"math.exp": "native:x:exp"}},   # not asked
    {"python": "x", "names": {}, **_OK, "paths": {}, "intercepted": 1},
    {"python": "x", "names": {}, **_OK, "surplus": True},
])
def test_a_malformed_answer_is_a_bridge_error(raw: object) -> None:
    with pytest.raises(BridgeError):
        code_identity.parse_answer(raw, ["f"])


def test_a_helper_rebound_at_run_time_is_decided_at_run_time(kernel: LocalKernel) -> None:
    """``sigmoid``'s own text runs, but the helper it calls was rebound by ``exec``: the
    prohibition checks see a name only the run decides (``RUN_TIME``), not its decoy."""
    helper = "import math\ndef _helper(u):\n    return 1 / (1 + math.exp(-u))\n"
    honest = [helper, "def sigmoid(u):\n    return _helper(u)\n"]
    sub = _played(kernel, honest)
    assert source.outside_names(sub, source.read_functions(sub, "sigmoid")) == {"math"}
    sub = _played(kernel, [*honest, "exec('_helper = math.tanh')\n"])
    trees = source.read_functions(sub, "sigmoid")
    assert set(trees) == {"sigmoid"} and RUN_TIME in source.outside_names(sub, trees)


ORIGINS: list[tuple[str, list[str], str, set[str]]] = [
    ("helper bound by exec only", [
        "import math\ndef sigmoid(u):\n    return _s(u)\n", "exec('_s = math.tanh')\n"],
     "sigmoid", {RUN_TIME}),
    ("builtin shadowed in the text", [
        "def _pick(v):\n    return 0\nint = _pick\n",
        "def XOR(a, b):\n    return int(a + b)\n"], "XOR", {RUN_TIME}),
    ("builtin shadowed by exec", [
        "def XOR(a, b):\n    return int(a + b)\n", "exec('int = lambda v: 0')\n"],
     "XOR", {RUN_TIME}),
    ("builtin replaced in builtins", [
        "def XOR(a, b):\n    return pow(a - b, 2)\n",
        "exec('import builtins; builtins.pow = lambda v, e: 0')\n"], "XOR", {RUN_TIME}),
    ("builtins and the kernel's own names", [
        "def s(u):\n    print(len([u]), abs(u))\n    display(u)\n    return u\n"],
     "s", set()),
    ("a module imported under another name, in the same cell", [
        "import numpy as np\ndef s(u):\n    return 1 / (1 + np.exp(-np.asarray(u)))\n"],
     "s", {"numpy"}),
    ("star import", ["from math import *\n", "def s(u):\n    return 1 / (1 + exp(-u))\n"],
     "s", {"exp"}),
    ("alias of an exec-bound name", [
        "import math\n", "def sigmoid(u):\n    return s2(u)\n",
        "exec('_hidden = math.tanh')\n", "s2 = _hidden\n"], "sigmoid", {RUN_TIME}),
    # the text binds a helper to a library function; the run puts another one there
    ("library helper rebound through globals()", [
        "import math\n_act = math.exp\ndef sigmoid(u):\n    return _act(u)\n",
        "globals()['_act'] = math.tanh\n"], "sigmoid", {RUN_TIME}),
    ("library helper imported as, rebound by exec", [
        "import math\nfrom math import exp as _act\ndef sigmoid(u):\n    return _act(u)\n",
        "exec('_act = math.tanh')\n"], "sigmoid", {RUN_TIME}),
    ("library helper rebound to the notebook's own lambda", [
        "import math\n_act = math.exp\ndef sigmoid(u):\n    return _act(u)\n",
        "vars()['_act'] = lambda v: math.tanh(v)\n"], "sigmoid", {RUN_TIME}),
    ("library helper rebound, then bound again as the text says", [
        "import math\n", "exec('_act = math.tanh')\n",
        "_act = math.exp\ndef sigmoid(u):\n    return _act(u)\n"], "sigmoid", {"exp"}),
    ("library names the run left as the text bound them", [
        "import math\nimport numpy as np\nfrom functools import partial\n"
        "from math import exp as _e\n_pi = math.pi\n_join = np.char.join\n"
        "def s(u):\n    return partial(_e, -u)() / (_pi + np.abs(u)) + len(_join)\n"],
     # _pi = math.pi is a library's number: plain data, no name the function calls
     "s", {"exp", "partial", "numpy", "join"}),
]


@pytest.mark.parametrize(("cells", "name", "expected"),
                         [pytest.param(c, n, e, id=i) for i, c, n, e in ORIGINS])
def test_what_a_function_calls_is_read_from_the_run_where_the_text_does_not_say(
        kernel: LocalKernel, cells: list[str], name: str, expected: set[str]) -> None:
    sub = _played(kernel, cells)
    assert source.outside_names(sub, source.read_functions(sub, name)) == expected


def test_same_object_reads_module_and_class_dictionaries_only() -> None:
    """The kernel's check that a name still holds what its dotted name leads to: True or
    False where module and class dictionaries lead there, None where they do not."""
    import collections
    import math
    import os.path

    same = kernel_code.ag_code().same_object
    assert same(math.exp, "math.exp") is True
    assert same(os.path.join, "os.path.join") is True
    assert same(collections.OrderedDict, "collections.OrderedDict") is True
    assert same(dict, "collections.OrderedDict") is False
    assert same(len, "len") is True
    assert same(math, "math") is True
    assert same(math.tanh, "math.exp") is False
    assert same(abs, "len") is False
    assert same(dict.keys, "collections.Counter.keys") is None   # inherited from dict
    assert same(str.join, "str.join") is True
    assert same(dict.fromkeys, "dict.fromkeys") is None   # a class method read is bound
    assert same(str.join, "str.split") is None
    assert same(math.exp, "math.no_such_name") is None
    assert same(math.exp, "no_such_module_here.exp") is None
    assert same(math.exp, 3) is None


def test_library_paths_a_text_reads_and_which_lead_elsewhere() -> None:
    """``library_paths``: the dotted paths a text reads (attribute chains from names
    bound to libraries, with their prefixes; a tensor's methods and operators where torch
    is imported), compared with what they lead to in the grader's own process."""
    nb = NotebookSource(["import torch\nimport numpy as np\nimport torch.nn.functional as F\n"
                         "from math import fabs\n",
                         "def s(u):\n    return F.relu(u).abs() + np.exp(fabs(-1)) + -u[0]\n"])
    node = nb.statement("s")
    assert node is not None
    paths = library_paths.text_paths(nb, node)
    assert paths == {"torch", "torch.nn", "torch.nn.functional", "torch.nn.functional.relu",
                     "numpy", "numpy.exp", "math", "math.fabs", "torch.Tensor.abs",
                     "torch.Tensor.__neg__", "torch.Tensor.__add__", "torch.Tensor.__radd__",
                     "torch.Tensor.__getitem__"}
    prints = kernel_code.ag_code().path_prints(sorted(paths))
    assert all(isinstance(v, str) for v in prints.values()) and prints["numpy"] == \
        "module:str:'numpy'" and prints["math.fabs"].endswith(":fabs")
    assert library_paths.swapped(prints) == frozenset()
    exp = library_paths.grader_print("math.exp")
    assert exp is not None and exp != prints["math.fabs"]
    assert library_paths.swapped({**prints, "math.fabs": exp}) == {"math.fabs"}
    assert library_paths.swapped({**prints, "numpy": None, "no.such": "x"}) == frozenset()
    # a path asked and left unanswered (beyond what the kernel answers) is not checked
    assert library_paths.swapped(prints, asked=[*paths, "math.exp"]) == {"math.exp"}
    assert library_paths.swapped(prints, intercepted=True) == {p for p in paths
                                                               if p.startswith("torch")}
    # without torch, no tensor paths
    plain = NotebookSource(["import math\ndef t(u):\n    return -math.fabs(u)\n"])
    node = plain.statement("t")
    assert node is not None and library_paths.text_paths(plain, node) == {"math", "math.fabs"}


def test_library_prints_read_no_student_code() -> None:
    """What a path leads to is read from module and class dictionaries and C descriptors:
    a class with hooks, a module subclass or a callable instance runs nothing here."""
    import sys
    import types

    ran: list[str] = []

    class Meta(type):
        def __getattribute__(cls, name: str) -> object:
            ran.append(name)
            return super().__getattribute__(name)

    class Hooked(metaclass=Meta):
        def method(self) -> int:
            return 1

    class Odd(types.ModuleType):
        def __getattribute__(self, name: str) -> object:
            ran.append(name)
            return super().__getattribute__(name)

    odd = Odd("ag_test_odd")
    odd.Hooked = Hooked   # type: ignore[attr-defined]
    sys.modules["ag_test_odd"] = odd
    ns = types.ModuleType("ag_test_plain")
    ns.Hooked = Hooked   # type: ignore[attr-defined]
    sys.modules["ag_test_plain"] = ns
    try:
        ag = kernel_code.ag_code()
        prints = ag.path_prints(["ag_test_plain.Hooked", "ag_test_plain.Hooked.method",
                                 "ag_test_odd", "ag_test_odd.Hooked", "ag_test_plain.nope"])
        assert ran == []
        assert prints["ag_test_plain.Hooked"].startswith("class:")
        assert prints["ag_test_plain.Hooked.method"].startswith("code:")
        assert prints["ag_test_odd"].startswith("data:")   # not a plain module
        assert prints["ag_test_odd.Hooked"] is None and prints["ag_test_plain.nope"] is None
    finally:
        del sys.modules["ag_test_odd"], sys.modules["ag_test_plain"]
