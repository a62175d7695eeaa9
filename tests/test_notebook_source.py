"""Definitions read from the notebook's text: IPython's syntax, and what it may cost.

IPython's transformer rewrites one escape line per pass over the whole cell, so a cell of
hundreds of ``!`` lines among thousands of others kept the grader's own process busy for
minutes (found: 400 shell lines in a 20,000-line cell, two minutes, twice per
submission). These tests count calls of the transformer instead of timing it.

What a name is bound to: each part of ``a, b = x, y``; and no text at all where the text
is a decoy of what runs (a definition that never ran, or that something else rebound or
changed in place afterwards), while honest notebooks keep theirs.
"""

from __future__ import annotations

import textwrap
from typing import Any

import nbformat
import pytest

from autograder.engine.bridge import notebook_source
from autograder.engine.bridge.notebook_source import (
    RUN_TIME,
    TRANSFORM_WORK,
    NotebookSource,
    TransformBudget,
    ipython_transform,
    parse_cell,
    transform_work,
)
from autograder.engine.cells.scores import find_tampering, tampering_notices

HEAVY = "!echo hi\n" * 400 + "x = 1\n" * 20_000   # far over TRANSFORM_WORK
F_TEXT = "def f(x):\n    return x + 1"


class CountingTransformer:
    """Stands in for IPython's ``TransformerManager``; each call advances the clock."""

    def __init__(self, clock: list[float], seconds_per_call: float = 0.0):
        from IPython.core.inputtransformer2 import TransformerManager

        self.real = TransformerManager()
        self.calls = 0
        self.clock, self.seconds = clock, seconds_per_call

    def transform_cell(self, code: str) -> str:
        self.calls += 1
        self.clock[0] += self.seconds
        return str(self.real.transform_cell(code))


@pytest.fixture
def transformer(monkeypatch: pytest.MonkeyPatch) -> CountingTransformer:
    clock = [0.0]
    fake = CountingTransformer(clock)
    monkeypatch.setattr(notebook_source, "_transformer", lambda: fake)
    monkeypatch.setattr(notebook_source.time, "monotonic", lambda: clock[0])
    return fake


@pytest.mark.parametrize(("code", "passes"), [
    ("x = 1\ny = 2", 1),
    ("%matplotlib inline\n!pip install -q einops\nimport torch", 2),
    ("files = !ls\nwho = %who_ls\nresult = x", 2),
    ("torch.tensor?\n  ??len\n# why?\nprint('?')", 3),   # a comment ending in ? counts
    ("!a\n" * 800, 500),                                  # IPython stops after 500 passes
])
def test_transform_work_counts_lines_times_passes(code: str, passes: int) -> None:
    assert transform_work(code) == (code.count("\n") + 1) * passes


@pytest.mark.parametrize(("cell", "transforms"), [
    ("%matplotlib inline\n!pip install -q einops\n" + F_TEXT, 1),
    ("files = !ls\n" + F_TEXT, 1),
    ("len?\n" + F_TEXT, 1),
    # the body of %%time and %%capture runs in the user's namespace: it defines names
    ("%%time\n" + F_TEXT, 0),
    ("\n%%capture out\n%%time\n" + F_TEXT, 0),
    ("%%time\n!nvidia-smi\n" + F_TEXT, 1),
])
def test_colab_syntax_still_defines_names(transformer: CountingTransformer, cell: str,
                                          transforms: int) -> None:
    assert NotebookSource([cell]).definition("f") == F_TEXT
    assert transformer.calls == transforms


@pytest.mark.parametrize("cell", [
    "%%bash\n" + F_TEXT,            # not Python: the kernel defines nothing either
    "%%timeit\n" + F_TEXT,          # timeit runs the body inside a function of its own
    "%%writefile f.py\n" + F_TEXT,
    'text = """\n%%time\n' + F_TEXT + '\n"""',
])
def test_other_cell_magics_define_nothing(cell: str) -> None:
    assert NotebookSource([cell]).definition("f") is None


def test_tampering_under_a_cell_magic_is_found() -> None:
    cell = "%%capture\nget_ipython().showtraceback = lambda *a, **k: None"
    assert find_tampering(cell) == ["get_ipython().showtraceback"]


def test_plain_python_never_reaches_the_transformer(transformer: CountingTransformer) -> None:
    assert NotebookSource([F_TEXT, "import torch\ny = f(2)"]).definition("f") == F_TEXT
    assert find_tampering("import sys\nsys.excepthook = print") == ["sys.excepthook"]
    assert transformer.calls == 0


def test_a_cell_too_costly_to_transform_defines_nothing(
        transformer: CountingTransformer) -> None:
    assert transform_work(HEAVY + F_TEXT) > TRANSFORM_WORK
    source = NotebookSource([HEAVY + F_TEXT, "def g():\n    return 2"])
    assert source.definition("f") is None          # as if the cell did not parse
    assert source.definition("g") == "def g():\n    return 2"
    assert parse_cell(HEAVY) is None
    assert transformer.calls == 0


def test_tampering_in_a_costly_cell_is_found_by_its_words(
        transformer: CountingTransformer) -> None:
    cell = HEAVY + "get_ipython().showtraceback = lambda *a, **k: None\n"
    assert find_tampering(cell) == ["showtraceback"]
    assert transformer.calls == 0


def test_a_spent_budget_stops_transforming(transformer: CountingTransformer) -> None:
    budget = TransformBudget(seconds=0.0)
    assert ipython_transform("!ls\nx = 1", budget) is None
    assert ipython_transform("!ls\nx = 1") == "get_ipython().system('ls')\nx = 1\n"
    assert transformer.calls == 1


def _notebook(cells: list[str]) -> Any:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    return nb


def test_one_notebook_spends_at_most_its_budget(transformer: CountingTransformer) -> None:
    # 200 cells, each cheap alone (under TRANSFORM_WORK), each taking "a second"
    transformer.seconds = 1.0
    cells = ["!echo hi\n" * 50 + "x = (\n"] * 199 + ["!pip list\n" + F_TEXT]
    assert all(transform_work(c) <= TRANSFORM_WORK for c in cells)
    source = NotebookSource(cells)
    spent = transformer.calls
    assert spent == notebook_source.NOTEBOOK_TRANSFORM_SECONDS   # then no more
    assert source.definition("f") is None          # its cell came after the budget
    tampering_notices(_notebook(cells))
    assert transformer.calls == 2 * spent          # the scan has a budget of its own


# the text each name gets from one cell (None: no textual definition)
BINDINGS = {
    "factory calls unpacked": (
        "AND, OR = make(1, 2), make(1, 1)",
        {"AND": "AND, OR = make(1, 2), make(1, 1)", "OR": "AND, OR = make(1, 2), make(1, 1)"}),
    "lambdas unpacked, nested": (
        "(f, g), h = (lambda x: x, lambda x: 2 * x), [1]",
        {"f": "(f, g), h = (lambda x: x, lambda x: 2 * x), [1]",
         "g": "(f, g), h = (lambda x: x, lambda x: 2 * x), [1]",
         "h": "(f, g), h = (lambda x: x, lambda x: 2 * x), [1]"}),
    "a number beside a lambda": ("n, f = 3, lambda x: x",
                                 {"n": "n, f = 3, lambda x: x", "f": "n, f = 3, lambda x: x"}),
    "aliases unpacked": ("def f(x):\n    return x\ng, h = f, 2",
                         {"g": "def f(x):\n    return x", "h": "g, h = f, 2"}),
    "a name in arithmetic": ("n = 2 * k", {"n": None}),
    "a pair from a call": ("a, b = make_pair()", {"a": None, "b": None}),
    "starred": ("a, *b = lambda: 1, lambda: 2, 3", {"a": None, "b": None}),
    "chained": ("a = b = lambda: 1", {"a": None, "b": None}),
    "one name, a tuple of functions": ("GATES = (f, g)", {"GATES": "GATES = (f, g)"}),
}


@pytest.mark.parametrize(("cell", "texts"), list(BINDINGS.values()), ids=list(BINDINGS))
def test_what_each_name_of_an_assignment_is_bound_to(cell: str, texts: dict[str, str | None]
                                                     ) -> None:
    source = NotebookSource([cell])
    assert {name: source.definition(name) for name in texts} == texts


# Decoys: a definition in the text that is not what the name runs. Each must leave the
# name without text (the structure checks then fail), never with the decoy's.
DECOY = "def sigmoid(u):\n    return 1 / (1 + torch.exp(-u))"
REAL = "real = torch.sigmoid"
DECOYS = {
    "inside if False": [f"if False:\n{textwrap.indent(DECOY, '    ')}"],
    "inside try, after a raise": [f"try:\n    raise ValueError\n{textwrap.indent(DECOY, '    ')}"
                                  "\nexcept ValueError:\n    pass"],
    "inside with": [f"with ctx:\n{textwrap.indent(DECOY, '    ')}"],
    "inside a loop": [f"for _ in range(0):\n{textwrap.indent(DECOY, '    ')}"],
    "rebound by a for target": [DECOY, REAL, "for sigmoid in [real]:\n    pass"],
    "rebound by a walrus": [DECOY, REAL, "(sigmoid := real)"],
    "rebound by a walrus in a comprehension": [DECOY, REAL, "[(sigmoid := r) for r in [real]]"],
    "rebound by with ... as": [DECOY, REAL, "with nullcontext(real) as sigmoid:\n    pass"],
    "rebound by a match capture": [DECOY, REAL, "match real:\n    case sigmoid:\n        pass"],
    "rebound by global in a function": [
        DECOY, REAL, "def finish():\n    global sigmoid\n    sigmoid = real\nfinish()"],
    "rebound by a star import": [DECOY, "from torch import *"],
    "rebound in an except clause": [DECOY,
                                    "try:\n    1 / 0\nexcept Exception as sigmoid:\n    pass"],
    "decorated": [f"@swap\n{DECOY}"],
    "decorated by a replaced no_grad": ["import torch", "torch.no_grad = swap",
                                        f"@torch.no_grad()\n{DECOY}"],
    "decorated by no_grad set by setattr": ["import torch", "setattr(torch, name, swap)",
                                            f"@torch.no_grad()\n{DECOY}"],
    "decorated by a no_grad of its own": ["def no_grad():\n    return swap",
                                          f"@no_grad()\n{DECOY}"],
    "code swapped": [DECOY, REAL, "sigmoid.__code__ = (lambda u: real(u)).__code__"],
    "code swapped by setattr": [DECOY, "setattr(sigmoid, '__code__', other.__code__)"],
    "code swapped through an alias": [DECOY, "s = sigmoid", "s.__code__ = other.__code__"],
    "after the error that ended its cell": ["raise KeyboardInterrupt\n" + DECOY],
}


@pytest.mark.parametrize("cells", list(DECOYS.values()), ids=list(DECOYS))
def test_a_decoy_definition_leaves_the_name_without_text(cells: list[str]) -> None:
    assert _as_run(cells).definition("sigmoid") is None


def _as_run(cells: list[str]) -> NotebookSource:
    """From a notebook as the grader records its run: only a cell that raised failed."""
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    for cell in nb.cells:
        failed = cell.source.startswith("raise ")
        cell.metadata["autograder"] = {"status": "error" if failed else "ok"}
    return NotebookSource.from_notebook(nb)


GATE_CLASS = ("class Gate:\n    def __call__(self, a, b):\n"
              "        return perceptron([a, b], self.w, 1)")
CLASSES = {
    "plain": ([GATE_CLASS], True),
    "an nn.Module": (["class Gate(nn.Module):\n    def forward(self, a, b):\n        return a"],
                     True),
    "a plain base of the notebook": ([GATE_CLASS, "class And(Gate):\n    w = [1, 1]"], True),
    "decorated": (["@dataclass\n" + GATE_CLASS], False),
    "a metaclass": ([GATE_CLASS.replace("class Gate:", "class Gate(metaclass=M):")], False),
    "__new__": ([GATE_CLASS + "\n    def __new__(cls):\n        return real"], False),
    "a decorated method": ([GATE_CLASS.replace("    def __call__", "    @swap\n    def __call__")],
                           False),
    "__call__ rebound in the body": ([GATE_CLASS + "\n    __call__ = real"], False),
    "a base changed later": (["class Base:\n    pass", "class Gate(Base):\n    pass",
                              "Base.__new__ = lambda cls: real"], False),
    "a base that is not plain": (["class Base:\n    def __new__(cls):\n        return real",
                                  "class Gate(Base):\n    pass"], False),
    "a base from an import": (["from mine import Base", "class Gate(Base):\n    pass"], False),
    "its method replaced later": ([GATE_CLASS, "Gate.__call__ = real"], False),
    "static and class methods": ([GATE_CLASS + "\n    @staticmethod\n    def s(u):\n"
                                  "        return u\n    @classmethod\n    def c(cls):\n"
                                  "        return cls"], True),
    "staticmethod rebound before": (["staticmethod = swap", GATE_CLASS.replace(
        "    def __call__", "    @staticmethod\n    def __call__")], False),
    "staticmethod rebound in the body": ([GATE_CLASS.replace(
        "    def __call__", "    staticmethod = swap\n    @staticmethod\n    def __call__")],
        False),
    "a method called staticmethod": ([GATE_CLASS + "\n    def staticmethod(self):\n"
                                      "        return 1\n    @staticmethod\n    def s(u):\n"
                                      "        return u"], True),
}

ACT = ("class Act:\n    @staticmethod\n    def sigmoid(u):\n        return 1 / (1 + exp(-u))\n"
       "    def relu(u):\n        return max(u, 0)\n    @classmethod\n    def tanh(cls, u):\n"
       "        return u\n    @staticmethod\n    def plain(u):\n        return u")
MEMBERS = {   # cells, the name read, its text's first line (None: no text)
    "a static method": ([ACT, "sigmoid = Act.sigmoid"], "sigmoid", "@staticmethod"),
    "a method without self": ([ACT, "relu = Act.relu"], "relu", "def relu(u):"),
    "through an alias of the class": ([ACT, "A = Act", "s = A.sigmoid"], "s", "@staticmethod"),
    "an alias of the alias": ([ACT, "s = Act.sigmoid", "t = s"], "t", "@staticmethod"),
    "a class method (a bound method)": ([ACT, "tanh = Act.tanh"], "tanh", None),
    "inherited": ([ACT, "class B(Act):\n    pass", "s = B.sigmoid"], "s", None),
    "not defined": ([ACT, "s = Act.softmax"], "s", None),
    "a library's attribute": (["import torch", "s = torch.sigmoid"], "s", None),
    "the class changed later": ([ACT, "s = Act.sigmoid", "Act.sigmoid = real"], "s", None),
    "the alias changed later": ([ACT, "s = Act.sigmoid", "s.__code__ = real.__code__"], "s",
                                None),
    "the class is not plain": ([ACT.replace("class Act:", "class Act(metaclass=M):"),
                                "s = Act.sigmoid"], "s", None),
    "an instance's method": ([ACT, "s = Act().sigmoid"], "s", None),
    "a chain of attributes": ([ACT, "s = Act.sigmoid.__func__"], "s", None),
    "a cycle": (["A = s", "s = A.x"], "s", None),
}


@pytest.mark.parametrize(("cells", "name", "first"), list(MEMBERS.values()), ids=list(MEMBERS))
def test_a_name_bound_to_a_method_of_the_notebooks_class(cells: list[str], name: str,
                                                         first: str | None) -> None:
    notebook = NotebookSource(cells)
    text = notebook.definition(name)
    assert (text.splitlines()[0] if text else None) == first
    owner = notebook.owner(name)
    assert (owner.name if owner is not None else None) == ("Act" if first else None)
    # a text is the student's own; else what the name holds is what it was assigned from
    assert (notebook.origin(name) is None) is (first is not None)


@pytest.mark.parametrize(("cells", "readable"), list(CLASSES.values()), ids=list(CLASSES))
def test_a_class_has_text_only_where_its_text_says_what_it_does(cells: list[str],
                                                                readable: bool) -> None:
    name = "And" if any(c.startswith("class And") for c in cells) else "Gate"
    assert (NotebookSource(cells).definition(name) is not None) is readable


HONEST = {
    "a gate's name set": ["def make(w):\n    def gate(a, b):\n        return w\n    return gate",
                          "AND = make(1)", "AND.__name__ = 'AND'"],
    "imports and a loop before": ["import torch\nfrom torch import nn",
                                  "for i in range(3):\n    print(i)",
                                  "def AND(a, b):\n    return a"],
    "a star import before": ["from math import *", "def AND(a, b):\n    return a"],
    "a comprehension's variable": ["def AND(a, b):\n    return a",
                                   "table = [AND(a, b) for a, b in [(0, 1)]]"],
    "a later cell that errors": ["def AND(a, b):\n    return a", "raise ValueError"],
    "under torch.no_grad()": ["import torch\ntorch.backends.cudnn.benchmark = True",
                              "@torch.no_grad()\ndef AND(a, b):\n    return a"],
    "under lru_cache": ["from functools import lru_cache",
                        "@lru_cache(maxsize=None)\ndef AND(a, b):\n    return a"],
    # a ``global`` the function only reads through rebinds nothing
    "declared global, only read": ["def AND(a, b):\n    return a",
                                   "def show():\n    global AND\n    print(AND(0, 1))"],
}


@pytest.mark.parametrize("cells", list(HONEST.values()), ids=list(HONEST))
def test_honest_notebooks_keep_their_text(cells: list[str]) -> None:
    assert _as_run(cells).definition("AND") is not None


ORIGINS = {   # name, cell, where the name comes from by the text
    "from-import alias": ("s", "from torch import sigmoid as s", "torch.sigmoid"),
    "module alias": ("F", "import torch.nn.functional as F", "torch.nn.functional"),
    "dotted import": ("torch", "import torch.nn", "torch"),
    "attribute alias": ("s", "s = torch.sigmoid", "torch.sigmoid"),
    "alias of an alias": ("t", "s = torch.sigmoid\nt = s", "torch.sigmoid"),
    "alias of a builtin": ("p", "p = print", "print"),
    "picked from a list": ("s", "s = [torch.sigmoid][0]", RUN_TIME),
    "a for target": ("s", "for s in [torch.sigmoid]:\n    pass", RUN_TIME),
    "changed in place": ("s", "s = torch.sigmoid\ns.__call__ = g", RUN_TIME),
    "a def": ("f", "def f():\n    return 1", None),
    "a number": ("EPS", "EPS = 1e-7", None),
    "arithmetic on numbers": ("SCALE", "SCALE = -1 / 255", None),
    "a repeated tuple": ("PAD", "PAD = (0,) * 4", None),
    "functions repeated": ("FS", "FS = [torch.sigmoid] * 2", RUN_TIME),
    "a library's constant": ("E", "E = torch.e", "torch.e"),
    # plain data whatever runs: no operator on plain data makes a function
    "arithmetic on names of numbers": ("HALF", "ONE = 1\nHALF = ONE / 2", None),
    "a conditional of two strings": (
        "device", "device = 'cuda' if torch.cuda.is_available() else 'cpu'", None),
    "an f-string": ("TAG", "TAG = f'{torch.sigmoid!r}'", None),
    "a conditional of functions": ("s", "s = torch.sigmoid if c else torch.tanh", RUN_TIME),
    "or of a function": ("s", "EPS = 1e-7\ns = EPS or torch.sigmoid", RUN_TIME),
    "arithmetic on what a call made": ("h", "ONE = make()\nh = ONE / 2", RUN_TIME),
    # tensors, arrays and a library's numbers are plain data too (an honest-style hunt:
    # NAND's weights as -W_AND, sigmoid from 1 / math.e, a comprehension over weights)
    "arithmetic on a tensor": (
        "W_NAND", "import torch\nW_AND = torch.tensor([5.0, 5.0])\nW_NAND = -W_AND", None),
    "arithmetic on an array": (
        "w", "import numpy as np\nw_and = np.array([5.0, 5.0], dtype=np.float32)\n"
             "w = -w_and", None),
    "a library's number": ("INV_E", "import math\nINV_E = 1 / math.e", None),
    "a comprehension over data": ("W", "A, T = [5, 5], 9\nW = [-w for w in A]", None),
    "arithmetic on a tensor of what a call made": (
        "h", "import torch\nW = torch.tensor(make())\nh = -W", RUN_TIME),
    "arithmetic on a library's function": ("h", "import torch\nh = 1 / torch.sigmoid",
                                           RUN_TIME),
    "a comprehension over functions": ("h", "import torch\nh = [f for f in [torch.relu]]",
                                       RUN_TIME),
    "arithmetic on a name changed later": ("h", "ONE = 1\nh = ONE / 2\nh.x = f", RUN_TIME),
    "never bound": ("f", "x = 1", None),
    # a comprehension's variables are its own (a test cell's ``for v, e in ...``)
    "a comprehension's target elsewhere": (
        "e", "from math import e\nok = all(v < e for v, e in pairs)", "math.e"),
    "a walrus in a comprehension": ("e", "from math import e\n[(e := v) for v in vs]", RUN_TIME),
}


@pytest.mark.parametrize(("name", "cell", "origin"), list(ORIGINS.values()), ids=list(ORIGINS))
def test_where_a_name_without_text_comes_from(name: str, cell: str, origin: str | None) -> None:
    assert NotebookSource([cell]).origin(name) == origin


def test_origins_are_the_names_bound_to_library_objects_by_the_text() -> None:
    """What ``Submission.origin`` asks the kernel to confirm: imports and assignments of
    dotted names, followed through aliases; not texts, numbers or names only the run
    decides."""
    src = NotebookSource([textwrap.dedent("""
        import numpy as np
        import torch.nn.functional as F
        from math import exp as _e
        act = _e
        EPS = 1e-7
        def f(u):
            return u
        g = [abs][0]
        """)])
    assert src.origins() == {"np": "numpy", "F": "torch.nn.functional", "_e": "math.exp",
                             "act": "math.exp"}


STOPPED = {   # a cell whose run raised at ``line``: what above it ran keeps its text
    "an import the grader lacks": (
        "import torch\nimport japanize_matplotlib\ndef f():\n    return 1", 2,
        {"torch": "torch", "japanize_matplotlib": RUN_TIME, "f": RUN_TIME}),
    "a debug print at the end": (
        "def AND(a, b):\n    return a * b\n\nprint(XOR(0, 1))", 4,
        {"AND": None}),
    "inside a statement": (
        "x = 1\nfor i in range(3):\n    y = 1 / 0\nz = 2", 3,
        {"x": None, "i": RUN_TIME, "z": RUN_TIME}),
}


@pytest.mark.parametrize(("cell", "line", "origins"), list(STOPPED.values()), ids=list(STOPPED))
def test_a_cell_that_raised_keeps_what_ran_before_its_error(cell: str, line: int,
                                                            origins: dict[str, str | None]
                                                            ) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
    nb.cells[0].metadata["autograder"] = {"status": "error", "line": line}
    src = NotebookSource.from_notebook(nb)
    assert {name: src.origin(name) for name in origins} == origins
    # without the line, nothing of the cell has a text
    nb.cells[0].metadata["autograder"] = {"status": "error"}
    assert all(NotebookSource.from_notebook(nb).origin(name) == RUN_TIME for name in origins)


def test_an_assignment_into_a_module_changes_that_path_only() -> None:
    """``torch.backends.cudnn.benchmark = True`` (a course's ``fix_seed``), ``np.append``
    and ``torch.sort`` leave ``torch`` and ``np`` what their imports say; the path
    assigned to is recorded (a text reading it is not what runs: ``CodeIdentity``)."""
    src = NotebookSource([
        "import torch\nimport numpy as np\nimport torch.nn.functional as F\nfrom torch import nn",
        "def fix_seed():\n    torch.backends.cudnn.benchmark = True\n"
        "F.hardtanh = torch.sigmoid\nnn.x = 1\nlog = np.append(log, 1)\nv = torch.sort(t)"])
    assert [src.origin(n) for n in ("torch", "np", "F")] == ["torch", "numpy",
                                                             "torch.nn.functional"]
    assert src.origin("nn") == RUN_TIME   # imported from a module: maybe no module itself
    assert src.stored_library_paths() == {"torch.backends.cudnn.benchmark",
                                          "torch.nn.functional.hardtanh"}
    # a module's name bound to something else in the same cell is that thing
    assert NotebookSource(["import numpy as np\nnp = []\nnp.append(f)"]).origin("np") == RUN_TIME


def test_a_path_assigned_to_stays_recorded_when_its_name_is_rebound_later() -> None:
    src = NotebookSource(["import torch.nn.functional as F\nF.relu = f", "F = 0"])
    assert src.stored_library_paths() == {"torch.nn.functional.relu"}



LISTS = {   # cells, name, whether the text shows a list whatever ran
    "appended to in a function": (
        ["LOSSES = []", "def train():\n    LOSSES.append(1.0)\n    LOSSES.extend([2.0])"],
        "LOSSES", True),
    "declared global and appended to": (
        ["LOSSES = []", "def train():\n    global LOSSES\n    LOSSES.insert(0, 1.0)"],
        "LOSSES", True),
    "its items changed, emptied, aliased": (
        ["LOSSES = [torch.sigmoid]", "LOSSES[0] = g\nLOSSES.clear()\nA = LOSSES\nA.pop()"],
        "LOSSES", True),
    "annotated": (["LOSSES: list[float] = []"], "LOSSES", True),
    "a list made by a call": (["LOSSES = make_list()"], "LOSSES", False),
    "a dict": (["LOSSES = {}"], "LOSSES", False),
    "an alias of a list": (["A = []", "LOSSES = A"], "LOSSES", False),
    "rebound in a function": (["LOSSES = []", "def f():\n    global LOSSES\n    LOSSES = g"],
                              "LOSSES", False),
    "rebound by a walrus in a function": (
        ["LOSSES = []", "def f():\n    global LOSSES\n    [(LOSSES := g) for _ in 'a']"],
        "LOSSES", False),
    "rebound by a walrus in a nested function's default": (
        ["LOSSES = []", "def f():\n    global LOSSES\n    def g(s=(LOSSES := Log())):\n"
                        "        pass"], "LOSSES", False),
    "rebound at the top level": (["LOSSES = []", "LOSSES = Log()"], "LOSSES", False),
    "rebound by a for target": (["LOSSES = []", "for LOSSES in [g]:\n    pass"],
                                "LOSSES", False),
    "inside an if": (["if c:\n    LOSSES = []"], "LOSSES", False),
    "after a star import": (["LOSSES = []", "from torch import *"], "LOSSES", False),
}


@pytest.mark.parametrize(("cells", "name", "holds"), list(LISTS.values()), ids=list(LISTS))
def test_a_list_stays_a_list_where_no_function_rebinds_it(cells: list[str], name: str,
                                                          holds: bool) -> None:
    """``train_loss_list.append(v)`` (ゼロから作る Deep Learning's habit) runs list's own
    method where the text shows a list no function rebinds."""
    assert NotebookSource(cells).holds_list(name) is holds
