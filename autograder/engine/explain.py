"""Why a name is missing: the cell that should have defined it, and its real error.

A check that needs ``model`` fails with "`model` が定義されていません"; the student needs
to know *why*: a ``SyntaxError: expected ':'`` in the cell that defines ``model``, or an
earlier cell whose error stopped it. The executed notebook carries each code cell's
execution record (``cell.metadata["autograder"]``: ``status``, ``ename``, ``evalue``).
That record comes from the student's own kernel, which can forge it, so it is used here
for an *explanation* only (a ``missing_name`` notice), never for a point.

What may be shown: only ``ename``/``evalue`` of the student's own cells (solution cells
and cells they added), cleaned of control characters and cut short. Never a test cell's
or a read-only cell's error: a test cell's failure is reported by its own check, and
hidden tests must not leak through anything.

The cell that should define a name: the solution cell whose released stub (else whose
solution) defines it, found by nbgrader ``grade_id``; else the first of the student's
cells whose text defines it (parsed with ``ast``; a regex when the cell does not parse,
which is exactly the cell with the ``SyntaxError``).
"""

from __future__ import annotations

import ast
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..core.i18n import Lang, tr
from ..core.results import CheckResult, Notice
from ..core.safetext import one_line
from .restore import INJECTED_TAG, SourceCell, cell_tags, grade_id_of, index_source, nbgrader_meta

log = logging.getLogger(__name__)

CODE = "missing_name"
MAX_NOTICES = 5


@dataclass(frozen=True)
class CellError:
    """One student cell and what its execution record says."""

    number: int          # 1-based, counting the cells from the top as the student has them
    snippet: str         # its first line of code, cleaned and cut short
    status: str          # ok | error | timeout | killed | not_run
    ename: str = ""      # "SyntaxError" (status error only)
    evalue: str = ""     # "expected ':'"
    line: int | None = None  # the line in the cell, where the error says so

    def error(self, lang: Lang) -> str:
        text = f"{self.ename}: {self.evalue}" if self.evalue else self.ename
        if self.line is not None:
            text += tr(lang, ja=f" ({self.line} 行目)", en=f" (line {self.line})")
        return text


def missing_name_notices(nb: Any, source_nb: Any, missing: Sequence[str],
                         checks: Sequence[CheckResult]) -> list[Notice]:
    """A ``missing_name`` notice per cell that should have defined names in ``missing``
    (names the bridge found undefined) that a failed check's message speaks of; names
    of one cell share one notice (at most ``MAX_NOTICES``), which names those checks.

    Never raises: an explanation is a courtesy, and whatever a notebook holds must not
    cost its grade (a failure is logged and explains nothing)."""
    if not missing:
        return []
    try:
        return _notices(nb, source_nb, missing, checks)
    except Exception:
        log.warning("no explanation of missing names %s", list(missing)[:5], exc_info=True)
        return []


def _notices(nb: Any, source_nb: Any, missing: Sequence[str],
             checks: Sequence[CheckResult]) -> list[Notice]:
    index = {sc.grade_id: sc for sc in index_source(source_nb)}
    by_cell: dict[int | None, tuple[CellError | None, list[str], list[str]]] = {}
    for name in dict.fromkeys(missing):
        failed = [c.name for c in checks if not c.passed and _mentions(c.message, name)]
        if not failed:
            continue
        cell = _defining_cell(nb, index, name)
        _, names, explained = by_cell.setdefault(cell.number if cell else None,
                                                 (cell, [], []))
        names.append(name)
        explained += [c for c in failed if c not in explained]
    first_error = _first_error(nb, index)
    return [Notice(CODE, *_explain(names, cell, first_error), checks=tuple(explained))
            for cell, names, explained in list(by_cell.values())[:MAX_NOTICES]]


def _mentions(message: str, name: str) -> bool:
    """Whether a check's message speaks of ``name`` ("`XOR` が定義されていません", "XOR の
    ソースコードを取得できませんでした"): the checks an explanation is shown beside."""
    pattern = rf"(?<![A-Za-z0-9_.]){re.escape(name)}(?![A-Za-z0-9_])"
    return re.search(pattern, message) is not None


# ---------------------------------------------------------------- which cell

def _own(cell: Any, index: dict[str, SourceCell]) -> bool:
    """A cell the student wrote: a solution cell or one they added (not a test or
    read-only cell of the assignment, by the source's metadata or the cell's own)."""
    if not isinstance(cell, dict) or cell.get("cell_type") != "code":
        return False
    gid = grade_id_of(cell)
    sc = index.get(gid) if gid else None
    if sc is not None:
        return sc.solution
    meta = nbgrader_meta(cell) or {}
    return not ((meta.get("grade") or meta.get("locked")) and not meta.get("solution"))


def _numbered(nb: Any) -> list[tuple[int, Any]]:
    """The cells numbered as in the student's notebook (without the cell of grading
    parameters that grading inserted)."""
    cells = [c for c in nb.cells if INJECTED_TAG not in cell_tags(c)]
    return list(enumerate(cells, start=1))


def _defining_cell(nb: Any, index: dict[str, SourceCell], name: str) -> CellError | None:
    gid = _stub_grade_id(index, name)
    cells = _numbered(nb)
    for number, cell in cells:
        if gid is not None and grade_id_of(cell) == gid and _own(cell, index):
            return _record(number, cell)
    for number, cell in cells:
        if _own(cell, index) and defines(_text(cell), name):
            return _record(number, cell)
    return None


def _stub_grade_id(index: dict[str, SourceCell], name: str) -> str | None:
    solutions = [sc for sc in index.values() if sc.solution and sc.cell.cell_type == "code"]
    for text_of in (lambda sc: sc.released, lambda sc: str(sc.cell.source)):
        found = next((sc.grade_id for sc in solutions if defines(text_of(sc), name)), None)
        if found is not None:
            return found
    return None


def _first_error(nb: Any, index: dict[str, SourceCell]) -> CellError | None:
    for number, cell in _numbered(nb):
        if _own(cell, index):
            record = _record(number, cell)
            if record.status == "error":
                return record
    return None


# IPython names the file of a cell's SyntaxError ("(2170202975.py, line 1)")
_WHERE = re.compile(r"\s*\((?:[^()\s]+\.py|<[^>]*>), line (\d+)\)\s*$")


def _record(number: int, cell: Any) -> CellError:
    meta = cell.get("metadata")
    raw = meta.get("autograder") if isinstance(meta, dict) else None
    raw = raw if isinstance(raw, dict) else {}
    status = str(raw.get("status", "not_run"))
    snippet = _snippet(_text(cell))
    if status != "error":
        return CellError(number, snippet, status)
    evalue = one_line(raw.get("evalue"), limit=200)
    found = _WHERE.search(evalue)
    line = int(found[1]) if found else None
    evalue = evalue[:found.start()] if found else evalue
    return CellError(number, snippet, status, one_line(raw.get("ename"), limit=60) or "Error",
                     evalue, line)


def _text(cell: Any) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else ""


def _snippet(text: str) -> str:
    line = next((s.strip() for s in text.splitlines()
                 if s.strip() and not s.strip().startswith("#")), "")
    return one_line(line, limit=40)


# ---------------------------------------------------------------- does text define a name

def defines(text: str, name: str) -> bool:
    """Whether ``text`` binds ``name`` at the top level (``def``, ``class``, assignment,
    import, ``for``/``with`` target), also when it does not parse."""
    try:
        tree = ast.parse(_without_magics(text))
    except (SyntaxError, ValueError):
        return _defines_by_regex(text, name)
    return name in _bound(tree.body)


def _bound(body: Sequence[ast.stmt]) -> set[str]:
    names: set[str] = set()
    for stmt in body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(stmt.name)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in stmt.names)
        elif isinstance(stmt, _BLOCKS):
            names |= _stored(*_targets(stmt))
            for block in _blocks(stmt):
                names |= _bound(block)
        else:
            names |= _stored(stmt)
    return names


_BLOCKS = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try)


def _targets(stmt: ast.stmt) -> list[ast.AST]:
    if isinstance(stmt, (ast.For, ast.AsyncFor)):
        return [stmt.target]
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        return [i.optional_vars for i in stmt.items if i.optional_vars is not None]
    return []


def _blocks(stmt: ast.stmt) -> list[list[ast.stmt]]:
    blocks = [getattr(stmt, f, None) or [] for f in ("body", "orelse", "finalbody")]
    return blocks + [h.body for h in getattr(stmt, "handlers", [])]


def _stored(*nodes: ast.AST) -> set[str]:
    return {n.id for node in nodes for n in ast.walk(node)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


_MAGIC = re.compile(r"^\s*[%!].*$", re.MULTILINE)


def _without_magics(text: str) -> str:
    return _MAGIC.sub("pass", text)


def _defines_by_regex(text: str, name: str) -> bool:
    word = re.escape(name)
    pattern = (rf"^\s*(?:(?:async\s+)?def|class)\s+{word}\b"
               rf"|^\s*{word}\s*(?::[^=\n]*)?=(?!=)"
               rf"|^\s*(?:[\w.]+\s*,\s*)*{word}\s*(?:,\s*[\w.]+\s*)*=(?!=)")
    return re.search(pattern, text, re.MULTILINE) is not None


# ---------------------------------------------------------------- the words

def _explain(names: list[str], cell: CellError | None, first: CellError | None
             ) -> tuple[str, str]:
    ja, en = _about_cell("・".join(f"`{n}`" for n in names),
                         " and ".join(f"`{n}`" for n in names), cell)
    if first is not None and (cell is None or first.number < cell.number
                              or cell.status != "error"):
        ja = (ja if ja.endswith("。") else ja + "。") + (
            f"ノートブックで最初にエラーが起きたのは{_where(first, 'ja')} です: "
            f"{first.error('ja')}")
        en = en.rstrip(".") + (f". The first error in the notebook was in "
                               f"{_where(first, 'en')}: {first.error('en')}")
    return ja, en


def _about_cell(name_ja: str, name_en: str, cell: CellError | None) -> tuple[str, str]:
    if cell is None:
        return (f"{name_ja} を定義しているセルが見つかりません。",
                f"No cell of the notebook defines {name_en}.")
    where_ja, where_en = _where(cell, "ja"), _where(cell, "en")
    if cell.status == "error":
        return (f"{name_ja} を定義するセル ({where_ja}) の実行中にエラーが起きました: "
                f"{cell.error('ja')}",
                f"The cell that defines {name_en} ({where_en}) failed: {cell.error('en')}")
    if cell.status in ("not_run", "timeout", "killed"):
        return (f"{name_ja} を定義するセル ({where_ja}) は最後まで実行されませんでした"
                "（時間切れか強制終了で実行が打ち切られました）。",
                f"The cell that defines {name_en} ({where_en}) did not finish: execution "
                "was stopped (time limit or kernel killed).")
    return (f"{name_ja} を定義するはずのセル ({where_ja}) はエラーなく実行されましたが、"
            f"{name_ja} は定義されていません。名前の綴りを確かめてください。",
            f"The cell meant to define {name_en} ({where_en}) ran without an error but "
            f"did not define {name_en}: check the spelling of the name.")


def _where(cell: CellError, lang: Lang) -> str:
    code = f" `{cell.snippet}`" if cell.snippet else ""
    return tr(lang, ja=f"上から {cell.number} 番目のセル{code}",
              en=f"cell {cell.number} from the top{code}")
