"""Definitions read from the submitted notebook's text, never from the kernel.

Structure checks ("XOR is built from the gates", "sigmoid is written from its formula")
need a function's source. Asking the kernel (``inspect.getsource``) returns whatever the
student's process chooses to say: a patched ``inspect``, a replaced bridge or a
``__wrapped__`` attribute serve decoys. So the grader parses the notebook it executed
(the student's cells after restore) with ``ast`` and takes, for each name, the last
top-level statement that binds it, as the notebook runs top to bottom:

- ``def name`` / ``async def name`` / ``class name`` — the definition's text;
- ``name = lambda ...``, ``name = factory(...)``, ``name = {...}`` / ``[...]`` /
  ``(...)`` — the assignment's text;
- ``name = other`` — an alias, followed to ``other``'s definition (a few hops at most);
- ``Class.method`` — the method's ``def`` inside the class's last definition.

Statements nested in top-level ``if``/``try``/``with``/``for``/``while`` blocks count, in
text order. Any other binding (an import, a call's result, a subscript...) has no
textual definition: ``definition`` returns ``None`` and the check says the source is not
available. Cells that do not parse (even after IPython's own transformation of
``%magics`` and ``!shell`` lines) define nothing, as in the kernel.

What this cannot see: a name rebound at run time through reflection (``globals()``,
``exec``...). The text then holds the decoy *and* the real code; the behaviour checks
test the running object, the structure checks the text (docs/security.md).

IPython's transformer rewrites one ``!``/``%``/``?`` line per pass over the whole cell
(at most 500 passes): 400 shell lines in a 20,000-line cell cost it two minutes, here in
the grader's own process. ``ipython_transform`` therefore runs it only where its
estimated work (lines times escape lines) is small, and a ``TransformBudget`` caps what
one notebook's cells may spend on it together; a cell beyond either counts as one
that does not parse. An honest cell (a few ``!pip`` or ``%matplotlib`` lines) is far
below both.
"""

from __future__ import annotations

import ast
import re
import textwrap
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_ALIAS_HOPS = 8
_MAX_CELL_CHARS = 1_000_000
# lines IPython's token transforms may rewrite, one per pass (an upper bound): an escape
# (``!ls``, ``%time``, ``?x``, ``/f``) opening a line, ``x = !ls`` / ``x = %who``, ``x?``
_ESCAPE_LINE = re.compile(r"^[ \t]*[!%?/,;]|^[^\n]*=[ \t]*[!%]|\?[ \t]*(?:#[^\n]*)?$",
                          re.MULTILINE)
_TRANSFORM_PASSES = 500      # IPython's own limit (``TRANSFORM_LOOP_LIMIT``)
TRANSFORM_WORK = 50_000      # lines x passes one cell may cost (under a second here)
NOTEBOOK_TRANSFORM_SECONDS = 3.0
# cell magics that run their body as the cell's Python in the user's namespace (IPython
# makes the body a string argument: what it defines would be invisible)
_PYTHON_CELL_MAGIC = re.compile(r"(?:[ \t]*\n)*%%(?:time|capture)(?:[ \t][^\n]*)?(?:\n|$)")
_BLOCKS = (ast.If, ast.Try, ast.With, ast.AsyncWith, ast.For, ast.AsyncFor, ast.While)
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass(frozen=True)
class _Binding:
    text: str | None          # the definition's source, None for a non-textual binding
    alias: str | None = None  # ``name = other``
    node: ast.AST | None = None
    cell: str = ""            # the (transformed) text of the cell that holds it


class NotebookSource:
    """The top-level bindings of a notebook's code cells, in execution order."""

    def __init__(self, cells: Iterable[str]):
        self._bindings: dict[str, _Binding] = {}
        budget = TransformBudget()
        for text in cells:
            self._scan_cell(text, budget)

    @classmethod
    def from_notebook(cls, nb: Any) -> NotebookSource:
        """From an nbformat notebook: its code cells, in order."""
        cells = nb.get("cells", []) if isinstance(nb, dict) else []
        return cls(_cell_text(c) for c in cells
                   if isinstance(c, dict) and c.get("cell_type") == "code")

    def definition(self, name: str) -> str | None:
        """Source text of ``name`` (``"f"`` or ``"Class.method"``), or ``None``."""
        head, _, member = name.partition(".")
        binding = self._resolve(head)
        if binding is None or binding.text is None:
            return None
        if not member:
            return binding.text
        if "." in member or not isinstance(binding.node, ast.ClassDef):
            return None
        return _member(binding.node, binding.cell, member)

    def names(self) -> list[str]:
        """Every name with a textual definition (sorted)."""
        return sorted(n for n in self._bindings if self.definition(n) is not None)

    def _resolve(self, name: str) -> _Binding | None:
        seen: set[str] = set()
        binding = self._bindings.get(name)
        while binding is not None and binding.alias is not None and len(seen) < _ALIAS_HOPS:
            seen.add(name)
            name = binding.alias
            if name in seen:
                return None
            binding = self._bindings.get(name)
        return None if binding is None or binding.alias is not None else binding

    def _scan_cell(self, text: str, budget: TransformBudget) -> None:
        tree = parse_cell(text, budget)
        if tree is None:
            return
        for stmt in _top_level(tree.body):
            for name, binding in _bindings_of(stmt, tree.source):
                self._bindings[name] = binding


class _Module(ast.Module):
    source: str


class TransformBudget:
    """The seconds of IPython's transformer one notebook's cells may take together."""

    def __init__(self, seconds: float = NOTEBOOK_TRANSFORM_SECONDS):
        self.left = seconds

    def spent(self) -> bool:
        return self.left <= 0


def parse_cell(text: str, budget: TransformBudget | None = None) -> _Module | None:
    """A code cell as Python (after IPython's transformation), or ``None``."""
    if not isinstance(text, str) or len(text) > _MAX_CELL_CHARS:
        return None
    for candidate in _candidates(text, budget):
        try:
            tree = ast.parse(candidate)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        module = _Module(body=tree.body, type_ignores=tree.type_ignores)
        module.source = candidate
        return module
    return None


def _candidates(text: str, budget: TransformBudget | None) -> Iterator[str]:
    yield text
    body = _magic_body(text)
    if body is not None:   # ``%%time`` / ``%%capture``: the body is what runs
        yield body
        text = body
    transformed = ipython_transform(text, budget)
    if transformed is not None and transformed != text:
        yield transformed


def _magic_body(text: str) -> str | None:
    """The Python under the ``%%time`` / ``%%capture`` lines that open ``text``, if any."""
    end = 0
    while (found := _PYTHON_CELL_MAGIC.match(text, end)) and found.end() > end:
        end = found.end()
    return text[end:] if end else None


def ipython_transform(code: str, budget: TransformBudget | None = None) -> str | None:
    """``%magic`` / ``!shell`` lines turned into Python as IPython itself would; ``None``
    where it fails, would cost more than ``TRANSFORM_WORK`` or the budget is spent."""
    if transform_work(code) > TRANSFORM_WORK or (budget is not None and budget.spent()):
        return None
    start = time.monotonic()
    try:
        return str(_transformer().transform_cell(code))
    except Exception:  # IPython's transformer raises assorted errors on garbage
        return None
    finally:
        if budget is not None:
            budget.left -= time.monotonic() - start


def transform_work(code: str) -> int:
    """IPython's transformer's work on ``code``, about: its lines times its passes (one
    per escape line, at least one)."""
    passes = min(sum(1 for _ in _ESCAPE_LINE.finditer(code)), _TRANSFORM_PASSES)
    return (code.count("\n") + 1) * max(passes, 1)


@lru_cache(maxsize=1)
def _transformer() -> Any:
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager()


def _top_level(body: Sequence[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements run at module level, including those inside top-level blocks."""
    for stmt in body:
        if isinstance(stmt, _BLOCKS):
            for field in ("body", "orelse", "finalbody"):
                yield from _top_level(getattr(stmt, field, []))
            for handler in getattr(stmt, "handlers", []):
                yield from _top_level(handler.body)
        else:
            yield stmt


def _bindings_of(stmt: ast.stmt, source: str) -> Iterator[tuple[str, _Binding]]:
    if isinstance(stmt, _DEFS):
        yield stmt.name, _Binding(_segment(source, stmt), node=stmt, cell=source)
    elif isinstance(stmt, ast.Assign):
        yield from _assigned(stmt.targets, stmt.value, stmt, source)
    elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
        yield from _assigned([stmt.target], stmt.value, stmt, source)
    elif isinstance(stmt, (ast.AugAssign, ast.AnnAssign)):
        yield from ((n, _Binding(None)) for n in _names([stmt.target]))
    elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
        for alias in stmt.names:
            yield (alias.asname or alias.name).split(".")[0], _Binding(None)
    elif isinstance(stmt, ast.Delete):
        yield from ((n, _Binding(None)) for n in _names(stmt.targets))


def _assigned(targets: list[ast.expr], value: ast.expr, stmt: ast.stmt,
              source: str) -> Iterator[tuple[str, _Binding]]:
    names = _names(targets)
    single = len(targets) == 1 and isinstance(targets[0], ast.Name)
    for name in names:
        if single and isinstance(value, (ast.Lambda, ast.Call, ast.Dict, ast.List, ast.Tuple)):
            # a lambda, what a factory built (``AND = make_gate(...)``) or a container
            # of functions (``GATES = {"and": AND}``): the statement is the definition
            # structure checks read (they follow the helpers it calls or holds)
            yield name, _Binding(_segment(source, stmt), node=stmt, cell=source)
        elif single and isinstance(value, ast.Name):
            yield name, _Binding(None, alias=value.id)
        else:
            yield name, _Binding(None)


def _names(targets: Iterable[ast.expr]) -> list[str]:
    out: list[str] = []
    for target in targets:
        if isinstance(target, ast.Name):
            out.append(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            out += _names(target.elts)
        elif isinstance(target, ast.Starred):
            out += _names([target.value])
    return out


def _segment(source: str, node: ast.stmt) -> str | None:
    """Whole lines of ``node`` (decorators included), dedented so that they parse."""
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    end = getattr(node, "end_lineno", None) or node.lineno
    lines = source.splitlines()[first - 1:end]
    return textwrap.dedent("\n".join(lines)) if lines else None


def _member(cls: ast.ClassDef, source: str, member: str) -> str | None:
    found: str | None = None
    for stmt in cls.body:
        if isinstance(stmt, _DEFS) and stmt.name == member:
            found = _segment(source, stmt)
    return found


def _cell_text(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        return "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""
