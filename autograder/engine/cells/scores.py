"""Scoring the in-notebook nbgrader cells that are not decided by running code.

**Test cells** (``grade`` and not ``solution``) are decided in the grader by running
their code there (``cell_checks``); the kernel's execution record
(``cell.metadata["autograder"]``) is kept for the feedback only, since the student's
process can forge it.

**Manually graded cells** (``grade`` and ``solution``: a markdown answer, a code answer
graded by hand) wait for a person, as in nbgrader: an answer (not empty, not the
released placeholder ``YOUR ANSWER HERE`` or code stub) gets no points and the review
state ``pending`` with the hash of its text, so a person's grade (``handgrading``)
stays with that text; an unanswered cell scores zero at once ("no answer", nothing to
review). Cells the manifest lists under ``[hand_grading] completion`` (the course's
質問・感想 cell) get completion credit instead: full points for any answer.

**Tampering**: student cells are scanned (``ast``, after IPython's own transformation of
magics; a regex when the cell does not parse) for code that touches the grading
machinery: ``showtraceback``, ``run_cell``, ``set_custom_exc``, ``sys.excepthook``,
``InteractiveShell`` attributes, AST/input transformers, tracing hooks, ``builtins``,
shadowed builtins that tests rely on, and patched comparison helpers (``allclose``...).
Findings become one ``Notice`` (code ``tampering``) for a human to review; they never
change the score (no point depends on the kernel's record any more) and a name list
cannot be complete (computed names defeat it): it only points a reviewer at the cell.
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Collection
from typing import Any

from nbformat import NotebookNode

from ...core.i18n import Lang, tr
from ...core.results import REVIEW_PENDING, CheckResult, Notice
from ..bridge.notebook_source import TransformBudget, parse_cell
from ..kernel.sandbox import SANDBOX_FILES
from ..restore import grade_id_of, index_source, normalized_text
from .answer_text import shows_something, visible_text
from .cell_tests import test_cell_name

EVALUE_LIMIT = 200
TEXT_STUB = "YOUR ANSWER HERE"
_STATUSES = ("ok", "error", "timeout", "killed", "not_run")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x1b]")


def manual_cell_name(grade_id: str) -> str:
    return f"manual:{grade_id}"


# --- manually graded cells -------------------------------------------------------------

def _cells_by_grade_id(nb: NotebookNode) -> dict[str, NotebookNode]:
    """First cell per ``grade_id`` (restore leaves exactly one)."""
    found: dict[str, NotebookNode] = {}
    for cell in nb.get("cells", []):
        gid = grade_id_of(cell)
        if gid is not None:
            found.setdefault(gid, cell)
    return found


def score_manual_cells(nb: NotebookNode, source_nb: NotebookNode, *,
                       completion: Collection[str] = (),
                       lang: Lang | None = None) -> list[CheckResult]:
    """One item (kind ``manual``) per manually graded cell of the source: waiting for
    review, completion credit (grade ids in ``completion``), or no answer."""
    found = _cells_by_grade_id(nb)
    out = []
    for sc in index_source(source_nb):
        if not (sc.is_manual and sc.points > 0):
            continue
        cell = found.get(sc.grade_id)
        text = cell.get("source") if cell is not None else None
        name = manual_cell_name(sc.grade_id)
        if not is_answered(text, sc.released):
            out.append(CheckResult(name, 0.0, sc.points, False, kind="manual", message=tr(
                lang, ja=f"{sc.grade_id} の回答がありません", en=f"{sc.grade_id}: no answer")))
        elif sc.grade_id in completion:
            out.append(CheckResult(name, sc.points, sc.points, True, kind="manual", message=tr(
                lang, ja="回答がありました (完了点)", en="answered (completion credit)")))
        else:
            out.append(CheckResult(
                name, 0.0, sc.points, False, kind="manual", review_state=REVIEW_PENDING,
                answer_sha256=answer_hash(text), message=tr(
                    lang, ja="採点者の確認待ちです (確認まで 0 点の暫定扱い)",
                    en="waiting for a person to grade it (0 points until then)")))
    return out


def answer_hash(text: Any) -> str:
    """The hash a review is kept under: the answer's text, trailing whitespace ignored."""
    return hashlib.sha256(normalized_text(text).encode()).hexdigest()


def manual_grade_ids(source_nb: NotebookNode) -> list[str]:
    """The grade ids of the source's manually graded cells that carry points."""
    return [sc.grade_id for sc in index_source(source_nb) if sc.is_manual and sc.points > 0]


def is_answered(text: Any, released: str) -> bool:
    """Shows something once rendered (``answer_text``: a zero-width space, ``<!-- -->``
    or ``&nbsp;`` is no answer) and is not the released placeholder (whitespace and
    invisible characters ignored)."""
    answer = normalized_text(text)
    if not shows_something(answer):
        return False
    seen = visible_text(answer)
    return seen not in (visible_text(normalized_text(released)), visible_text(TEXT_STUB))


def zero_cells(source_nb: NotebookNode, *, reason: str) -> list[CheckResult]:
    """Every test and manual cell of the source at zero (the notebook could not be graded)."""
    out = []
    for sc in index_source(source_nb):
        if sc.points <= 0 or not (sc.is_test or sc.is_manual):
            continue
        name = test_cell_name(sc.grade_id) if sc.is_test else manual_cell_name(sc.grade_id)
        out.append(CheckResult(name=name, points=0.0, max_points=sc.points, passed=False,
                               message=reason, kind="cell" if sc.is_test else "manual"))
    return out


# --- tampering -------------------------------------------------------------------------

# Attributes whose use in student code means the grading machinery is being touched.
DANGEROUS_ATTRS = frozenset({
    "showtraceback", "_showtraceback", "showsyntaxerror", "set_custom_exc",
    "custom_exceptions", "run_cell", "run_cell_async", "_run_cell", "run_ast_nodes",
    "run_code", "excepthook", "ast_transformers", "input_transformers_cleanup",
    "input_transformers_post", "input_transformer_manager", "settrace", "setprofile",
    "_last_traceback", "get_exception_only",
})
# Builtins that test code relies on for its verdict; beginners rarely reuse these names.
GUARDED_BUILTINS = frozenset({
    "all", "any", "isinstance", "issubclass", "abs", "round", "bool", "callable",
    "hasattr", "AssertionError", "Exception", "BaseException", "get_ipython",
})
# Comparison helpers tests call; replacing them makes every comparison pass.
COMPARISON_ATTRS = frozenset({
    "allclose", "isclose", "equal", "array_equal", "assert_allclose", "assert_close",
    "assert_array_equal", "assert_array_almost_equal", "assert_equal",
})
# The grader's own modules in the kernel (sandbox_files): a notebook has no business
# naming them; patching one forges the bridge's answers (docs/security.md).
GRADER_MODULES = frozenset(p.stem for p in SANDBOX_FILES.glob("ag_*.py"))
_BENIGN_SHELL_ATTRS = frozenset({"ast_node_interactivity", "instance", "initialized"})
_WORD = re.compile(r"\b(" + "|".join(sorted(DANGEROUS_ATTRS | GRADER_MODULES
                                            | {"InteractiveShell"})) + r")\b")


def tampering_notices(nb: NotebookNode, source_nb: NotebookNode | None = None, *,
                      lang: Lang | None = None) -> list[Notice]:
    """At most one ``tampering`` notice listing suspicious code per student cell."""
    locked = ({sc.grade_id for sc in index_source(source_nb) if sc.locked}
              if source_nb is not None else set())
    findings: list[str] = []
    budget = TransformBudget()
    for number, cell in enumerate(nb.get("cells", []), start=1):
        if cell.get("cell_type") != "code" or grade_id_of(cell) in locked:
            continue
        names = find_tampering(cell.get("source", ""), budget)
        if names:
            findings.append(f"{number}: {', '.join(names)}")
    if not findings:
        return []
    where = " / ".join(findings)
    return [Notice(
        code="tampering",
        message_ja=f"採点の仕組みに手を加えるコードが見つかりました (セル {where})。"
                   "教員が内容を確認します",
        message_en=f"code that interferes with grading was found (cell {where});"
                   " an instructor will review it")]


def find_tampering(code: str, budget: TransformBudget | None = None) -> list[str]:
    """Sorted descriptions of suspicious constructs in one cell's source (untrusted text);
    ``budget``: what IPython's transformer may still spend on this notebook."""
    if not isinstance(code, str) or not code.strip():
        return []
    tree = parse_cell(code, budget)
    if tree is None:  # does not parse even after IPython's transforms: look at the words
        return sorted(set(_WORD.findall(code)))
    return sorted(_Scanner().scan(tree))


class _Scanner(ast.NodeVisitor):
    def __init__(self) -> None:
        self.found: set[str] = set()

    def scan(self, tree: ast.Module) -> set[str]:
        for stmt in tree.body:
            self._top_level(stmt)
        self.visit(tree)
        return self.found

    def _top_level(self, stmt: ast.stmt) -> None:
        """Module-level rebinding of a builtin that tests rely on."""
        names: list[str] = []
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [stmt.name]
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names = [name for t in targets for name in _bound_names(t)]
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            names = [(a.asname or a.name).split(".")[0] for a in stmt.names]
        self.found.update(f"builtin {n}" for n in names if n in GUARDED_BUILTINS)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if _suspicious_attribute(node):
            self.found.add(_dotted(node))
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if (isinstance(node.value, ast.Name) and node.value.id == "__builtins__"
                and isinstance(node.ctx, (ast.Store, ast.Del))):
            self.found.add("__builtins__[...]")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        # setattr(shell, "showtraceback", f), shell.__dict__["run_cell"] = ...,
        # sys.modules["ag_requests"]
        if isinstance(node.value, str) and node.value in DANGEROUS_ATTRS | GRADER_MODULES:
            self.found.add(repr(node.value))

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in GRADER_MODULES:
            self.found.add(node.id)

    def visit_Import(self, node: ast.Import) -> None:
        self.found.update(a.name for a in node.names if a.name.split(".")[0] in GRADER_MODULES)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if (node.module or "").split(".")[0] in GRADER_MODULES:
            self.found.add(str(node.module))


def _bound_names(target: ast.expr) -> list[str]:
    """Plain names an assignment target binds (not ``f().x`` or ``a[i]``)."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for elt in target.elts for n in _bound_names(elt)]
    if isinstance(target, ast.Starred):
        return _bound_names(target.value)
    return []


def _suspicious_attribute(node: ast.Attribute) -> bool:
    writes = isinstance(node.ctx, (ast.Store, ast.Del))
    owner = node.value.id if isinstance(node.value, ast.Name) else ""
    return (node.attr in DANGEROUS_ATTRS
            or (node.attr in COMPARISON_ATTRS and writes)
            or (owner == "InteractiveShell" and node.attr not in _BENIGN_SHELL_ATTRS)
            or (owner in ("builtins", "__builtins__") and writes))


def _dotted(node: ast.Attribute) -> str:
    parts = [node.attr]
    value: ast.expr = node.value
    while isinstance(value, ast.Attribute) and len(parts) < 4:
        parts.append(value.attr)
        value = value.value
    if isinstance(value, ast.Name):
        parts.append(value.id)
    elif isinstance(value, ast.Call) and isinstance(value.func, ast.Name):
        parts.append(f"{value.func.id}()")
    return ".".join(reversed(parts))
