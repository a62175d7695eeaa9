"""In-notebook test cells, decided in the grader.

nbgrader's meaning is kept: a test cell passes when its (instructor-written) code runs
without an error. But where it runs changed. The student's kernel can make any cell look
as if it ran cleanly (an ``events`` callback that clears the error, an AST transformer
that turns ``assert`` into ``pass``, a patched ``session.send``, ``sys.settrace``, a
rigged ``__eq__``), so its ``execute_reply`` is a record for the feedback only. Here the
cell's code runs in the grader's own process, with:

- the instructor's imports: every ``import`` statement of the *source* notebook, and the
  functions of its locked read-only cells, executed in the grader (so ``torch`` and any
  helper the instructor wrote are the grader's, not objects the student could have
  replaced in the kernel); classes of read-only cells stay in the kernel, so that a
  test cell can make instances there (a fake model to give to ``evaluate``);
- the grading run's parameters (``TRAIN_SUBSET``, ``EPOCHS``, ``DEVICE``): the source
  notebook's ``parameters`` cell with the manifest's ``[grading]`` on top, never the
  kernel's globals, which a later cell of the student's can rebind;
- names the cell itself (or an earlier test cell worth points) binds, as in a notebook;
- Python's builtins;
- every other name looked up in the student's kernel through the bridge: plain data
  (numbers, strings, lists, tuples, dicts, tensors and numpy arrays, each as its kind) or
  a ``StudentObject`` proxy for anything else (functions, models, loaders). Calling a
  proxy, reading its attributes, indexing it, ``len`` and iterating it all happen in the
  kernel, on the grader's arguments; every answer is again plain data or a proxy. A
  proxy is equal only to itself and refuses truth tests, arithmetic and comparisons, so
  no student object can stand in for a value. Arguments are plain data, proxies,
  modules (imported again in the kernel by name) and functions the instructor wrote in
  a test cell or a read-only cell (``lambda v: (v ** 2).sum()``): those are defined
  again in the kernel from their text, with the grader's values for the names they use
  — never one from a hidden test region. Any other object made in the test cell cannot
  be sent (such a cell fails on the reference solution too, and ``validate`` says so).

So the ``assert``s run on the grader's side, on values the student's functions returned
for the cell's inputs: the evidence the grader may trust. Where the cell's inputs or its judge
are themselves kernel objects (a read-only cell's class, ``test_loader``, the student's
``evaluate``), the verdict is the kernel's claim: the manifest's ``[cell_requires]``
then makes the cell's points wait for a grader check of the same thing
(``cells/requires.py``). A cell that cannot be
evaluated this way (it needs a student object as a real ``nn.Module``, or trains in the
cell) fails on the reference solution too: ``autograder validate`` reports it, and the
author rewrites it with plain data or moves its points to a pytest check.

Hidden tests (``### BEGIN HIDDEN TESTS``) run here only: the kernel executes the
released text of a test cell. A failure inside a hidden region is reported without any
of its text.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import functools
import io
import textwrap
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from nbformat import NotebookNode

from ...checks.budget import ChecksBudget
from ...checks.hygiene import alarm, global_state_restored, seed_rngs
from ...checks.outcomes import CheckTimeout, student_message
from ...core.errors import BridgeError
from ...core.i18n import Lang, tr
from ...core.results import CheckResult
from ..bridge.notebook_source import parse_cell
from ..bridge.submission import KernelFunction, KernelModule, MissingName, Remote, Submission, clip
from ..parameters import parameter_values
from ..restore import index_source

# nbgrader's delimiters, matched as nbgrader does (anywhere in the line)
HIDDEN_BEGIN = "BEGIN HIDDEN TESTS"
HIDDEN_END = "END HIDDEN TESTS"
DEFAULT_CELL_TIME_S = 120.0


def test_cell_name(grade_id: str) -> str:
    """Check name of a test cell (prefixed so it never collides with a pytest check)."""
    return f"cell:{grade_id}"


@dataclass(frozen=True)
class TestCell:
    """One autograded test cell of the source notebook (instructor's full text)."""

    grade_id: str
    points: float
    code: str
    hidden: frozenset[int]   # 1-based line numbers inside hidden-test regions

    @property
    def filename(self) -> str:
        return f"<test cell {self.grade_id}>"


def test_cells(source_nb: NotebookNode) -> list[TestCell]:
    """Every test cell of the source (worth points or not), in notebook order."""
    return [TestCell(sc.grade_id, sc.points, sc.cell.source, hidden_lines(sc.cell.source))
            for sc in index_source(source_nb) if sc.is_test]


def hidden_lines(code: str) -> frozenset[int]:
    """Line numbers (1-based) of hidden-test regions, markers included. An unclosed
    region runs to the end of the cell."""
    inside, found = False, set()
    for number, line in enumerate(code.splitlines(), start=1):
        if HIDDEN_BEGIN in line:
            inside = True
        if inside:
            found.add(number)
        if HIDDEN_END in line:
            inside = False
    return frozenset(found)


def strip_hidden(code: str) -> str:
    """``code`` without its hidden-test regions (markers included)."""
    hidden = hidden_lines(code)
    return "\n".join(line for number, line in enumerate(code.splitlines(), start=1)
                     if number not in hidden)


def instructor_preamble(source_nb: NotebookNode) -> str:
    """Imports of every source cell, and the functions of its locked read-only cells.

    Classes of read-only cells are not defined here: a test cell that instantiates one
    gets an instance *in the kernel* (a fake model, a small loader), which a student
    function can then be given. Functions run here, so a helper that judges (``close``)
    cannot be replaced by the student.
    """
    locked = {sc.position for sc in index_source(source_nb) if sc.locked and not sc.is_test}
    return _preamble(tuple((cell.source, position in locked)
                           for position, cell in enumerate(source_nb.cells)
                           if cell.get("cell_type") == "code"))


@functools.lru_cache(maxsize=16)
def _preamble(cells: tuple[tuple[str, bool], ...]) -> str:
    """``instructor_preamble`` of the code cells given as (source, locked and not a test);
    every submission of an assignment has the same, so a worker makes it once."""
    parts: list[str] = []
    for source, locked in cells:
        tree = parse_cell(source)
        if tree is None:
            continue
        kinds: tuple[type, ...] = (ast.Import, ast.ImportFrom)
        if locked:
            kinds += (ast.FunctionDef, ast.AsyncFunctionDef)
        parts += [ast.unparse(s) for s in tree.body if isinstance(s, kinds)
                  and not (isinstance(s, ast.ImportFrom) and s.module == "__future__")]
    return "\n".join(parts)


# ---------------------------------------------------------------- student objects

class StudentObject:
    """A student object that stays in the kernel (see the module docstring)."""

    __slots__ = ("_remote",)
    _remote: Remote

    def __init__(self, remote: Remote):
        object.__setattr__(self, "_remote", remote)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return wrap(self._remote(*unwrap(list(args)), **unwrap(dict(kwargs))))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return wrap(self._remote.attr(name))
        except MissingName:  # so that hasattr() and getattr(obj, name, default) work
            raise AttributeError(name) from None

    def __getitem__(self, key: Any) -> Any:
        return wrap(self._remote.item(unwrap(key)))

    def __len__(self) -> int:
        return self._remote.length()

    def __iter__(self) -> Iterator[Any]:
        return (wrap(item) for item in self._remote.items())

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError("a student object cannot be changed from a test cell")

    def _refuse(self, *_: Any) -> Any:
        raise TypeError(f"{self._remote.what} is not plain data")

    __bool__ = __float__ = __int__ = __index__ = _refuse
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _refuse
    __truediv__ = __rtruediv__ = __matmul__ = __rmatmul__ = __neg__ = _refuse
    __lt__ = __le__ = __gt__ = __ge__ = _refuse

    def __eq__(self, other: object) -> bool:
        return other is self

    def __ne__(self, other: object) -> bool:
        return other is not self

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"<student object {self._remote.what}>"


def wrap(value: Any) -> Any:
    """Bridge answers for a test cell: every ``Remote`` inside becomes a proxy."""
    if isinstance(value, Remote):
        return StudentObject(value)
    if type(value) is list:
        return [wrap(v) for v in value]
    if type(value) is tuple:
        return tuple(wrap(v) for v in value)
    if type(value) is dict:
        return {k: wrap(v) for k, v in value.items()}
    return value


def unwrap(value: Any) -> Any:
    """Arguments for the bridge: proxies back to their ``Remote`` handles, functions the
    instructor wrote to ``KernelFunction``s, modules to ``KernelModule``s."""
    if isinstance(value, StudentObject):
        return object.__getattribute__(value, "_remote")
    if isinstance(value, types.FunctionType) and hasattr(value, _TAG):
        return _ship(value, set())
    if isinstance(value, types.ModuleType):
        return KernelModule(value.__name__)
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    if isinstance(value, tuple):
        return tuple(unwrap(v) for v in value)
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------- instructor functions

_TAG = "__ag_source__"


class _Tagger(ast.NodeTransformer):
    """Marks every ``lambda`` and ``def`` of instructor code with its own source text, so
    that a test cell may pass it to a student function (defined again in the kernel)."""

    def __init__(self, code: str, hidden: frozenset[int]):
        self.code, self.hidden = code, hidden

    def visit_Lambda(self, node: ast.Lambda) -> ast.expr:
        text = ast.get_source_segment(self.code, node) or ""
        self.generic_visit(node)
        return ast.Call(func=ast.Name("__ag_lambda__", ast.Load()),
                        args=[node, ast.Constant(text), ast.Constant(self._hidden(node))],
                        keywords=[])

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.stmt:
        first, last = node.lineno, node.end_lineno or node.lineno
        text = textwrap.dedent("\n".join(self.code.splitlines()[first - 1:last]))
        self.generic_visit(node)
        node.decorator_list.append(ast.Call(
            func=ast.Name("__ag_def__", ast.Load()),
            args=[ast.Constant(text), ast.Constant(node.name), ast.Constant(self._hidden(node))],
            keywords=[]))
        return node

    def _hidden(self, node: ast.expr | ast.stmt) -> bool:
        return bool(set(range(node.lineno, (node.end_lineno or node.lineno) + 1)) & self.hidden)


def _tag_lambda(fn: Any, text: str, hidden: bool) -> Any:
    setattr(fn, _TAG, ("lambda", "", text, hidden))
    return fn


def _tag_def(text: str, name: str, hidden: bool) -> Callable[[Any], Any]:
    def tag(fn: Any) -> Any:
        setattr(fn, _TAG, ("def", name, text, hidden))
        return fn

    return tag


@functools.lru_cache(maxsize=256)
def compile_instructor(code: str, filename: str,
                       hidden: frozenset[int] = frozenset()) -> types.CodeType:
    """Instructor code compiled with its functions tagged (see ``_Tagger``); the same
    cells come with every submission, so each is compiled once per worker."""
    tree = _Tagger(code, hidden).visit(ast.parse(code))
    return compile(ast.fix_missing_locations(tree), filename, "exec")


def _ship(fn: types.FunctionType, seen: set[int]) -> KernelFunction:
    kind, name, text, hidden = getattr(fn, _TAG)
    if hidden:
        raise TypeError("a function from a hidden test cannot be sent to the kernel")
    seen.add(id(fn))
    env = []
    for key, value in _bound_names(fn, text):
        if isinstance(value, types.FunctionType) and hasattr(value, _TAG):
            if id(value) not in seen:
                env.append((key, _ship(value, seen)))
        else:
            env.append((key, unwrap(value)))
    return KernelFunction(kind=kind, name=name, source=text, env=tuple(env))


def _bound_names(fn: types.FunctionType, text: str) -> Iterator[tuple[str, Any]]:
    """The names ``text`` uses that the grader itself holds a value for."""
    closure = {}
    for key, cell in zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=False):
        with contextlib.suppress(ValueError):  # an empty cell
            closure[key] = cell.cell_contents
    for key in _names_in(text):
        if key in closure:
            yield key, closure[key]
        elif dict.__contains__(fn.__globals__, key):
            yield key, dict.__getitem__(fn.__globals__, key)


@functools.lru_cache(maxsize=256)
def _names_in(text: str) -> tuple[str, ...]:
    return tuple(sorted({n.id for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Name)}))


class _Namespace(dict[str, Any]):
    """A test cell's globals: unknown names are looked up in the student's kernel."""

    def __init__(self, fetch: Callable[[str], Any]):
        super().__init__(__ag_lambda__=_tag_lambda, __ag_def__=_tag_def)
        self._fetch = fetch

    def __missing__(self, name: str) -> Any:
        if hasattr(builtins, name):
            raise KeyError(name)  # Python goes on to the builtins
        value = self._fetch(name)
        self[name] = value
        return value


def _fetcher(submission: Submission) -> Callable[[str], Any]:
    def fetch(name: str) -> Any:
        try:
            return wrap(submission.value(name, remote_ok=True))
        except MissingName:
            raise KeyError(name) from None

    return fetch


# ---------------------------------------------------------------- running

def run_test_cells(source_nb: NotebookNode, submission: Submission, *,
                   lang: Lang | None = None, per_cell_s: float = DEFAULT_CELL_TIME_S,
                   budget: ChecksBudget | None = None) -> list[CheckResult]:
    """One ``CheckResult`` (kind ``cell``) per source test cell worth points; every cell
    within ``per_cell_s`` and all of them within ``budget`` (shared with the checks).
    A test cell worth no points is the student's self-check only: not run here."""
    cells = [c for c in test_cells(source_nb) if c.points > 0]
    if not cells:
        return []
    namespace = _Namespace(_fetcher(submission))
    budget = budget or ChecksBudget(per_cell_s * max(1, len(cells)))
    results = []
    with global_state_restored(), _quiet(), submission.native():
        _run_preamble(instructor_preamble(source_nb), namespace)
        namespace.update(parameter_values(source_nb, getattr(submission, "params", {})))
        for cell in cells:
            results.append(_run_one(cell, namespace, submission, budget, per_cell_s, lang))
    return results


def _run_preamble(code: str, namespace: _Namespace) -> None:
    """The instructor's imports and helpers; one that fails (a module the grader lacks)
    leaves its names to the kernel lookup."""
    for statement in _preamble_statements(code):
        with contextlib.suppress(Exception):
            exec(statement, namespace)


@functools.lru_cache(maxsize=16)
def _preamble_statements(code: str) -> tuple[types.CodeType, ...]:
    return tuple(compile_instructor(ast.unparse(stmt), "<instructor>")
                 for stmt in ast.parse(code).body)


def _run_one(cell: TestCell, namespace: _Namespace, submission: Submission,
             budget: ChecksBudget, per_cell_s: float, lang: Lang | None) -> CheckResult:
    def result(passed: bool, message: str) -> CheckResult:
        return CheckResult(name=test_cell_name(cell.grade_id),
                           points=cell.points if passed else 0.0, max_points=cell.points,
                           passed=passed, message=message, kind="cell")

    limit = budget.cut(per_cell_s)
    if limit <= 0:
        return result(False, _out_of_time(cell, budget, lang))
    seed_rngs(test_cell_name(cell.grade_id))
    try:
        code = compile_instructor(cell.code, cell.filename, cell.hidden)
        with submission.time_limit(limit), alarm(time.monotonic() + limit + 1.0, limit):
            exec(code, namespace)
    except (Exception, CheckTimeout) as exc:
        if budget.note_failure():
            return result(False, _out_of_time(cell, budget, lang))
        return result(False, _failure(cell, exc, exc.__traceback__, lang))
    return result(True, tr(lang, ja=f"テストセル {cell.grade_id} に合格しました",
                           en=f"test cell {cell.grade_id} passed"))


def _failure(cell: TestCell, exc: BaseException, tb: TracebackType | None,
             lang: Lang | None) -> str:
    line = _line_in_cell(tb, cell.filename)
    head = tr(lang, ja=f"テストセル {cell.grade_id}", en=f"test cell {cell.grade_id}")
    if line in cell.hidden:
        return tr(lang, ja=f"{head}: 隠しテストに合格しませんでした",
                  en=f"{head}: a hidden test did not pass")
    return f"{head}: {_why(exc, line, lang)}"


def _why(exc: BaseException, line: int | None, lang: Lang | None) -> str:
    at = tr(lang, ja=f"{line} 行目", en=f"line {line}") if line else ""
    if isinstance(exc, SyntaxError):
        return tr(lang, ja="テストセルを実行できません (構文エラー)",
                  en="the test cell cannot run (syntax error)")
    if isinstance(exc, AssertionError) and not exc.args:
        return tr(lang, ja=f"{at} の assert が成り立ちませんでした",
                  en=f"the assert on {at} did not hold")
    if isinstance(exc, NameError) and isinstance(getattr(exc, "name", None), str):
        name = clip(str(exc.name), 80)
        return tr(lang, ja=f"`{name}` が定義されていません", en=f"`{name}` is not defined")
    if isinstance(exc, (AssertionError, CheckTimeout, BridgeError)) or hasattr(
            exc, "student_message"):
        return student_message(exc, lang=lang)
    return f"{type(exc).__name__} ({at}): {clip(str(exc), 200)}" if at else \
        f"{type(exc).__name__}: {clip(str(exc), 200)}"


def _line_in_cell(tb: TracebackType | None, filename: str) -> int | None:
    """The deepest line of the test cell's own code in the traceback."""
    found = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            found = tb.tb_lineno
        tb = tb.tb_next
    return found


def _out_of_time(cell: TestCell, budget: ChecksBudget, lang: Lang | None) -> str:
    head = tr(lang, ja=f"テストセル {cell.grade_id}", en=f"test cell {cell.grade_id}")
    return f"{head}: {budget.message(lang)}"


class _Sink(io.TextIOBase):
    """Swallows what test cells print (bounded: nothing is kept)."""

    def write(self, text: str) -> int:
        return len(text)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    sink = _Sink()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        try:
            yield
        finally:
            plt = __import__("sys").modules.get("matplotlib.pyplot")
            if plt is not None:
                plt.close("all")
