"""In-notebook test cells decided in the grader (autograder.engine.cells.cell_tests).

A real (unsandboxed, fast) kernel plays the student: it runs the restored notebook, then
the test cells run in this process against the kernel's names through the bridge. Every
trick that fakes a clean run *inside the kernel* (an events callback, AST/input
transformers, a patched ``session.send``, ``sys.settrace``, a rigged ``__eq__``) must
leave the points at what the honest part earns.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest
from local_kernel import LocalKernel
from nbformat import NotebookNode

from autograder.core.notebooks import read_notebook
from autograder.engine.bridge.notebook_source import NotebookSource
from autograder.engine.bridge.submission import Submission
from autograder.engine.cells.cell_tests import hidden_lines, instructor_preamble, run_test_cells
from autograder.engine.restore import grade_id_of, restore_locked_cells

NB = Path(__file__).parent / "notebooks"

CORRECT_AND = "def AND(a, b):\n    return int(5 * a + 5 * b - 9 > 0)\n"
CORRECT_XOR = ("def XOR(a, b):\n    nand = int(-5 * a - 5 * b + 9 > 0)\n"
               "    or_ = int(5 * a + 5 * b - 4 > 0)\n    return AND(nand, or_)\n")
STUB_XOR = "def XOR(a, b):\n    raise NotImplementedError()\n"

# Each forges "the test cell ran cleanly" in the kernel; XOR stays unimplemented.
TAMPERING = {
    "post_run_cell clears the error": (
        "ip = get_ipython()\n"
        "def _clear(result):\n"
        "    setattr(result, 'error_in_' + 'exec', None)\n"
        "getattr(ip, 'eve' + 'nts').register('post_run_' + 'cell', _clear)\n"),
    "AST transformer turns assert into pass": (
        "import ast\n"
        "class _NoAsserts(ast.NodeTransformer):\n"
        "    def visit_Assert(self, node):\n"
        "        return ast.Pass()\n"
        "getattr(get_ipython(), 'ast_' + 'transformers').append(_NoAsserts())\n"),
    "input transformer wraps every cell in try/except": (
        "def _wrap(lines):\n"
        "    body = ''.join('    ' + l for l in lines) or '    pass\\n'\n"
        "    return ['try:\\n', body, 'except BaseException:\\n', '    pass\\n']\n"
        "getattr(get_ipython(), 'input_transformers_' + 'cleanup').append(_wrap)\n"),
    "session.send rewrites error replies": (
        "k = get_ipython().kernel\n"
        "_send = k.session.send\n"
        "def send(stream, msg, *a, **kw):\n"
        "    if isinstance(msg, dict) and msg.get('content', {}).get('status') == 'error':\n"
        "        msg['content'] = {'status': 'ok', 'execution_count': 1,\n"
        "                          'user_expressions': {}, 'payload': []}\n"
        "    return _send(stream, msg, *a, **kw)\n"
        "k.session.send = send\n"),
    "settrace skips raising lines": (
        "import sys\n"
        "def _tracer(frame, event, arg):\n"
        "    if event == 'exception':\n"
        "        return None\n"
        "    return _tracer\n"
        "getattr(sys, 'set' + 'trace')(_tracer)\n"),
    "rigged __eq__": (
        "class _Yes(int):\n"
        "    def __eq__(self, other):\n        return True\n"
        "    __hash__ = int.__hash__\n"
        "def XOR(a, b):\n    return _Yes(7)\n"),
}


@pytest.fixture(scope="module")
def source() -> NotebookNode:
    return read_notebook(NB / "source_demo.ipynb").nb


def student(source: NotebookNode, answers: dict[str, str], *,
            prefix: str = "") -> NotebookNode:
    """The released demo with ``answers`` (by grade_id), restored as the grader does."""
    nb = read_notebook(NB / "released_demo.ipynb").nb
    for cell in nb.cells:
        gid = grade_id_of(cell)
        if gid in answers:
            cell.source = answers[gid]
    if prefix:
        nb.cells.insert(1, nbformat.v4.new_code_cell(prefix))
    return restore_locked_cells(nb, source).notebook


def grade_cells(tmp_path: Path, nb: NotebookNode, source: NotebookNode,
                lang: str = "ja") -> dict[str, tuple[float, str]]:
    with LocalKernel(tmp_path) as kernel:
        for cell in nb.cells:
            if cell.cell_type == "code":
                kernel.run_code(cell.source, timeout=30)
        sub = Submission(kernel, call_timeout=20, lang=lang,  # type: ignore[arg-type]
                         notebook=NotebookSource.from_notebook(nb))
        results = run_test_cells(source, sub, lang=lang)  # type: ignore[arg-type]
    return {r.name: (r.points, r.message) for r in results}


def test_correct_answers_pass(tmp_path: Path, source: NotebookNode) -> None:
    nb = student(source, {"and_gate": CORRECT_AND, "xor_gate": CORRECT_XOR})
    got = grade_cells(tmp_path, nb, source)
    assert {k: v[0] for k, v in got.items()} == {"cell:test_and": 1.0, "cell:test_xor": 2.0}
    assert got["cell:test_xor"][1] == "テストセル test_xor に合格しました"


@pytest.mark.parametrize("trick", sorted(TAMPERING))
def test_a_forged_clean_run_earns_nothing(tmp_path: Path, source: NotebookNode,
                                           trick: str) -> None:
    answers = {"and_gate": CORRECT_AND, "xor_gate": STUB_XOR}
    if trick == "rigged __eq__":
        answers["xor_gate"] = TAMPERING[trick]
    nb = student(source, answers, prefix="" if trick == "rigged __eq__" else TAMPERING[trick])
    got = grade_cells(tmp_path, nb, source)
    assert got["cell:test_and"][0] == 1.0  # the honest part keeps its point
    assert got["cell:test_xor"][0] == 0.0


def test_showtraceback_cheat(tmp_path: Path, source: NotebookNode) -> None:
    nb = restore_locked_cells(read_notebook(NB / "cheat_showtraceback.ipynb").nb,
                              source).notebook
    got = grade_cells(tmp_path, nb, source)
    assert got["cell:test_and"][0] == 1.0
    assert got["cell:test_xor"] == (0.0, "テストセル test_xor: 関数 XOR の実行中にエラー: "
                                         "NotImplementedError")


def test_hidden_tests_run_here_and_never_show(tmp_path: Path, source: NotebookNode) -> None:
    # XOR right on (0, 1) -- the public assert -- and wrong elsewhere: only the hidden
    # loop catches it, and its text must not appear anywhere the student sees.
    wrong = "def XOR(a, b):\n    return 1 if (a, b) == (0, 1) else 7\n"
    nb = student(source, {"and_gate": CORRECT_AND, "xor_gate": wrong})
    xor_cell = next(c for c in nb.cells if grade_id_of(c) == "test_xor")
    assert "HIDDEN" not in xor_cell.source and "a ^ b" not in xor_cell.source
    for lang, want in (("ja", "テストセル test_xor: 隠しテストに合格しませんでした"),
                       ("en", "test cell test_xor: a hidden test did not pass")):
        got = grade_cells(tmp_path / lang, nb, source, lang=lang)
        assert got["cell:test_xor"] == (0.0, want)


def test_public_failure_shows_the_instructors_message(tmp_path: Path,
                                                      source: NotebookNode) -> None:
    nb = student(source, {"and_gate": "def AND(a, b):\n    return 1\n"})
    got = grade_cells(tmp_path, nb, source)
    assert got["cell:test_and"] == (0.0, "テストセル test_and: AND(0, 0) は 0 になるはずです")


def test_missing_name(tmp_path: Path, source: NotebookNode) -> None:
    nb = student(source, {"and_gate": "pass\n"})
    got = grade_cells(tmp_path, nb, source, lang="en")
    assert got["cell:test_and"] == (0.0, "test cell test_and: `AND` is not defined")


def test_student_exception_text_never_shows(tmp_path: Path, source: NotebookNode) -> None:
    leak = ("class Leak(ValueError):\n    pass\n"
            "def AND(a, b):\n    raise Leak(f'grader asked {a}, {b}')\n")
    nb = student(source, {"and_gate": leak})
    got = grade_cells(tmp_path, nb, source)
    assert got["cell:test_and"] == (0.0, "テストセル test_and: 関数 AND の実行中にエラー: "
                                         "ValueError")


def test_instructor_helpers_are_the_graders(tmp_path: Path, source: NotebookNode) -> None:
    src = copy.deepcopy(source)
    helper = nbformat.v4.new_code_cell(
        "import math\n\ndef close(a, b):\n    return math.isclose(a, b)\n",
        metadata={"nbgrader": {"grade": False, "grade_id": "helpers", "locked": True,
                               "schema_version": 3, "solution": False}})
    src.cells.insert(1, helper)
    test_and = next(c for c in src.cells if grade_id_of(c) == "test_and")
    test_and.source = "assert close(AND(1, 1), 1) and close(AND(0, 1), 0)"
    assert "def close" in instructor_preamble(src)
    # the student overrides the helper in the kernel; the grader keeps its own
    answer = "def AND(a, b):\n    return 5\n\ndef close(a, b):\n    return True\n"
    nb = student(src, {"and_gate": answer})
    assert grade_cells(tmp_path, nb, src)["cell:test_and"][0] == 0.0


def test_student_objects_through_proxies(tmp_path: Path, source: NotebookNode) -> None:
    src = copy.deepcopy(source)
    test_and = next(c for c in src.cells if grade_id_of(c) == "test_and")
    test_and.source = (
        "g = Gate(5, 9)\n"
        "assert g.weight == 5 and g(1, 1) == 1 and g(0, 1) == 0\n"
        "assert len(table) == 4 and table[3] == (1, 1)\n"
        "assert [a + b for a, b in table] == [0, 1, 1, 2]\n"
        "assert hasattr(g, 'weight') and not hasattr(g, 'bias')\n"
        "assert getattr(g, 'bias', 'none') == 'none'\n"
        "assert AND(1, 1) == 1\n")
    answer = ("class Gate:\n"
              "    def __init__(self, w, t):\n        self.weight, self.t = w, t\n"
              "    def __call__(self, a, b):\n        return int(self.weight * (a + b) > self.t)\n"
              "class Table:\n"
              "    def __len__(self):\n        return 4\n"
              "    def __getitem__(self, i):\n        return [(0, 0), (1, 0), (0, 1), (1, 1)][i]\n"
              "table = Table()\n"
              "AND = Gate(5, 9)\n")
    nb = student(src, {"and_gate": answer})
    assert grade_cells(tmp_path, nb, src)["cell:test_and"][0] == 1.0


def test_a_student_object_cannot_pose_as_a_value(tmp_path: Path, source: NotebookNode) -> None:
    answer = ("class Anything:\n"
              "    def __eq__(self, other):\n        return True\n"
              "    def __bool__(self):\n        return True\n"
              "def AND(a, b):\n    return Anything()\n")
    nb = student(source, {"and_gate": answer})
    assert grade_cells(tmp_path, nb, source)["cell:test_and"][0] == 0.0


@pytest.mark.parametrize(("code", "lines"), [
    ("a\n### BEGIN HIDDEN TESTS\nb\n### END HIDDEN TESTS\nc", {2, 3, 4}),
    ("x", set()),
    ("    ### BEGIN HIDDEN TESTS\n    y\n", {1, 2}),
])
def test_hidden_lines(code: str, lines: set[int]) -> None:
    assert hidden_lines(code) == lines


def _with_test_and(source: NotebookNode, code: str) -> NotebookNode:
    src = copy.deepcopy(source)
    next(c for c in src.cells if grade_id_of(c) == "test_and").source = code
    return src


HIGHER_ORDER = (
    "import torch\n"
    "x = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)\n"
    "g = numgrad(lambda v: (v ** 2).sum(), x)\n"
    "assert torch.allclose(g, 2 * x, atol=1e-5)\n"
    "def cube_sum(v):\n    return (v ** 3).sum()\n"
    "assert torch.allclose(numgrad(cube_sum, x), 3 * x ** 2, atol=1e-4)\n"
    "for k in (1.0, 2.0):\n"
    "    h = numgrad(lambda v, k=k: k * scaled(v).sum(), x)\n"
    "    assert torch.allclose(h, torch.full_like(x, 10 * k), atol=1e-4)\n"
    "assert apply_module(torch, 'ones') == 3\n"
)
NUMGRAD = ("import torch\n"
           "def numgrad(f, x, eps=1e-6):\n"
           "    g = torch.zeros_like(x)\n"
           "    for i in range(x.numel()):\n"
           "        d = torch.zeros_like(x)\n"
           "        d.view(-1)[i] = eps\n"
           "        g.view(-1)[i] = (f(x + d) - f(x - d)) / (2 * eps)\n"
           "    return g\n"
           "def scaled(v):\n    return 10 * v\n"
           "def apply_module(m, name):\n    return int(getattr(m, name)(3).sum())\n"
           "def AND(a, b):\n    return int(a + b > 1)\n")


def test_instructor_functions_travel_to_the_kernel(tmp_path: Path,
                                                   source: NotebookNode) -> None:
    src = _with_test_and(source, HIGHER_ORDER)
    nb = student(src, {"and_gate": NUMGRAD})
    got = grade_cells(tmp_path, nb, src, lang="en")
    assert got["cell:test_and"] == (1.0, "test cell test_and passed")


def test_a_function_from_a_hidden_test_stays_in_the_grader(tmp_path: Path,
                                                          source: NotebookNode) -> None:
    src = _with_test_and(source, "### BEGIN HIDDEN TESTS\n"
                                 "import torch\n"
                                 "secret = lambda v: (v * 7919).sum()\n"
                                 "numgrad(secret, torch.ones(2))\n"
                                 "### END HIDDEN TESTS\n")
    nb = student(src, {"and_gate": NUMGRAD})
    assert grade_cells(tmp_path, nb, src, lang="en")["cell:test_and"] == \
        (0.0, "test cell test_and: a hidden test did not pass")


def test_numpy_values_stay_numpy_on_their_way_back(tmp_path: Path,
                                                   source: NotebookNode) -> None:
    src = _with_test_and(source, "import numpy as np\n"
                                 "y, cache = forward(np.arange(3.0))\n"
                                 "assert isinstance(cache['x'], np.ndarray)\n"
                                 "assert backward(cache) == 3.0\n")
    answer = ("import numpy as np\n"
              "def forward(x):\n    return x.sum(), {'x': np.asarray(x)}\n"
              "def backward(cache):\n"
              "    assert isinstance(cache['x'], np.ndarray), type(cache['x'])\n"
              "    return float(cache['x'].size)\n"
              "def AND(a, b):\n    return int(a + b > 1)\n")
    nb = student(src, {"and_gate": answer})
    assert grade_cells(tmp_path, nb, src, lang="en")["cell:test_and"][0] == 1.0
