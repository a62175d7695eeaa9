"""nbgrader's semantics on a submission, before it is executed.

``restore_locked_cells(submission, source)`` does what nbgrader's ``OverwriteCells`` (with
``add_missing_cells``) does, without nbgrader's database: the instructor's *source*
notebook (with solutions and hidden tests) is the truth for every cell it marks.

* **Locked cells** (read-only cells and test cells: ``grade`` and not ``solution``) are
  rebuilt from the source by ``grade_id``: source text, cell type and metadata. A cell
  whose text the student changed (checksum of the student's text against the released
  text, trailing whitespace ignored) is listed in ``restored``; a deleted one is put back
  after the nearest preceding source cell that is present (before the nearest following
  one when none precedes; at the end when none is present) and listed in ``reinserted``.
* **Solution cells** keep the student's text and outputs; only their nbgrader metadata
  (points, flags, checksum) and cell type come from the source. Points therefore come
  from the source only: a submission that says ``points: 1000`` changes nothing.
  A deleted solution cell is *not* put back (that would be the instructor's solution or
  an empty stub; the student's answer is simply missing): it is listed in ``missing``.
* **Stripped metadata** (an editor or a copy-paste lost a cell's ``nbgrader`` metadata):
  a source cell with no ``grade_id`` match is looked for among the unmarked cells between
  its nearest matched neighbours. A locked cell is adopted when its text equals the
  released text; a solution cell when exactly one cell of its type sits in that gap (or
  one is clearly the most similar to the released stub). Otherwise it counts as deleted
  (locked) or missing (solution). Adopted ids are listed in ``adopted``.
* **Duplicates** of a ``grade_id`` (copied cells): one copy is chosen (for locked cells the
  one still equal to the released text, for solution cells the first that is answered)
  and the others lose their nbgrader metadata; they stay in the notebook as plain cells.
* nbgrader metadata with a ``grade_id`` the source does not know, or without a valid
  ``grade_id``, is removed (nbgrader deletes such ids too). Student-added cells are kept.
* ``metadata.autograder`` (the execution record the grader's kernel writes) is removed
  from every cell: a submission must not arrive with a pre-filled "status: ok".

Hidden tests: a restored locked cell carries the source's *released* text, so
``### BEGIN HIDDEN TESTS`` regions never reach the student's kernel (which could read
its own cells) nor the graded notebook that goes back in the feedback. The grader runs
each test cell's full text, hidden regions included, in its own process
(``cell_checks``).

``parameters.inject_parameters(nb, params)`` follows papermill's convention: a code cell tagged
``injected-parameters`` that assigns each override goes right after the first cell tagged
``parameters`` (at the top when there is none); an earlier injected cell is replaced.
"""

from __future__ import annotations

import copy
import difflib
import math
import re
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nbformat import NotebookNode

from ..core.errors import NotebookError
from ..core.i18n import Lang
from ..core.nbapi import from_dict, random_cell_id
from ..core.nbgrader import nbg
from ..core.released_text import released_texts
from ..core.results import Notice

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
RECORD_KEY = "autograder"


# --- the source notebook ---------------------------------------------------------------

@dataclass(frozen=True)
class SourceCell:
    """One nbgrader-marked cell of the instructor's source notebook."""

    grade_id: str
    position: int          # index in the source notebook
    cell: NotebookNode     # as the instructor wrote it (solutions, hidden tests)
    released: str          # its text as released to students

    @property
    def locked(self) -> bool:
        return bool(nbg.is_locked(self.cell))

    @property
    def solution(self) -> bool:
        return bool(nbg.is_solution(self.cell))

    @property
    def graded(self) -> bool:
        return bool(nbg.is_grade(self.cell))

    @property
    def is_test(self) -> bool:
        """An autograded test cell: graded code that is not the student's answer."""
        return self.graded and not self.solution and self.cell.cell_type == "code"

    @property
    def is_manual(self) -> bool:
        """A manually graded answer cell (graded and a solution)."""
        return self.graded and self.solution

    @property
    def points(self) -> float:
        return float(self.cell.metadata["nbgrader"].get("points", 0.0)) if self.graded else 0.0


def index_source(source_nb: NotebookNode) -> list[SourceCell]:
    """The source's locked and solution cells in order, with their released text.

    Raises ``NotebookError`` when the source itself is inconsistent (duplicate or missing
    ``grade_id``, non-numeric points, unbalanced solution/hidden-test markers). Worked
    out once per source notebook object (restore, the test cells and the manual cells
    all ask, for every submission; the source notebook is never changed by its users).
    """
    known = _INDEXED.get(id(source_nb))
    if known is not None and known[0]() is source_nb:
        return list(known[1])
    found = _index_source(source_nb)
    if len(_INDEXED) >= 8:
        _INDEXED.clear()
    _INDEXED[id(source_nb)] = (weakref.ref(source_nb), tuple(found))
    return found


_INDEXED: dict[int, tuple[weakref.ref[NotebookNode], tuple[SourceCell, ...]]] = {}


def _index_source(source_nb: NotebookNode) -> list[SourceCell]:
    released = _released_sources(source_nb)
    out: list[SourceCell] = []
    seen: set[str] = set()
    for position, cell in enumerate(source_nb.cells):
        meta = nbgrader_meta(cell)
        if meta is None or not (nbg.is_locked(cell) or nbg.is_solution(cell)):
            continue
        gid = meta.get("grade_id")
        if not isinstance(gid, str) or not gid or gid in seen:
            raise _source_error(f"cell {position}: missing or duplicate grade_id {gid!r}")
        seen.add(gid)
        if nbg.is_grade(cell) and not _is_number(meta.get("points")):
            raise _source_error(f"{gid}: points must be a number, got {meta.get('points')!r}")
        out.append(SourceCell(gid, position, cell, released[position]))
    return out


def _released_sources(source_nb: NotebookNode) -> list[str]:
    """Each source cell's text after nbgrader's ClearSolutions and ClearHiddenTests."""
    try:
        return released_texts(source_nb)
    except (RuntimeError, ValueError) as exc:
        raise _source_error(str(exc)) from None


def _source_error(what: str) -> NotebookError:
    return NotebookError(f"the source notebook is inconsistent: {what}",
                         where="source notebook",
                         hint="fix the assignment's source notebook (nbgrader metadata)")


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and value >= 0)


# --- untrusted submission metadata -----------------------------------------------------

def nbgrader_meta(cell: Any) -> dict[str, Any] | None:
    """A cell's ``metadata.nbgrader`` when it is a mapping, else ``None`` (never raises)."""
    meta = cell.get("metadata") if isinstance(cell, Mapping) else None
    value = meta.get("nbgrader") if isinstance(meta, Mapping) else None
    return value if isinstance(value, dict) else None


def grade_id_of(cell: Any) -> str | None:
    meta = nbgrader_meta(cell)
    gid = meta.get("grade_id") if meta else None
    return gid if isinstance(gid, str) and gid else None


def cell_tags(cell: Any) -> list[str]:
    meta = cell.get("metadata") if isinstance(cell, Mapping) else None
    tags = meta.get("tags") if isinstance(meta, Mapping) else None
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def normalized_text(text: Any) -> str:
    """Text compared for "did the student change it": trailing whitespace is ignored."""
    if not isinstance(text, str):
        return ""
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def checksum(sc: SourceCell, *, cell_type: str, text: str) -> str:
    """nbgrader's checksum of ``text`` as cell ``sc`` (its type, flags, id and points)."""
    probe = from_dict({"cell_type": cell_type, "source": text,
                                "metadata": {"nbgrader": dict(sc.cell.metadata["nbgrader"])}})
    return str(nbg.compute_checksum(probe))


# --- restore ---------------------------------------------------------------------------

_CHANGED = ("が変更されていたため元に戻しました", "had been changed and were restored")
_DELETED = ("が削除されていたため元に戻しました", "had been deleted and were put back")


@dataclass(frozen=True)
class RestoreReport:
    """The restored notebook (a new object) and what was done to it, by ``grade_id``."""

    notebook: NotebookNode
    restored: tuple[str, ...] = ()     # locked cells the student changed: source put back
    reinserted: tuple[str, ...] = ()   # locked cells the student deleted: put back
    adopted: tuple[str, ...] = ()      # cells found again although their metadata was gone
    repaired: tuple[str, ...] = ()     # nbgrader metadata or cell type differed: source's
    missing: tuple[str, ...] = ()      # solution cells not found (not put back)
    unknown: tuple[str, ...] = ()      # grade_ids the source does not have: metadata removed
    duplicates: tuple[str, ...] = ()   # grade_ids present more than once: copies unmarked
    test_ids: frozenset[str] = field(default_factory=frozenset)

    def notices(self, lang: Lang | None = None) -> list[Notice]:
        """Student-facing notices (each carries both languages; ``lang`` is not needed)."""
        out = []
        if self.restored:
            out.append(self._notice("restored_cells", self.restored, _CHANGED))
        if self.reinserted:
            out.append(self._notice("reinserted_cells", self.reinserted, _DELETED))
        return out

    def _notice(self, code: str, ids: tuple[str, ...], verb: tuple[str, str]) -> Notice:
        tests = [g for g in ids if g in self.test_ids]
        others = [g for g in ids if g not in self.test_ids]
        ja, en = [], []
        if tests:
            ja.append(f"テストセル{verb[0]}: {', '.join(tests)}")
            en.append(f"test cells {verb[1]}: {', '.join(tests)}")
        if others:
            ja.append(f"編集できないセル{verb[0]}: {', '.join(others)}")
            en.append(f"read-only cells {verb[1]}: {', '.join(others)}")
        return Notice(code=code, message_ja="。".join(ja), message_en="; ".join(en))


def restore_locked_cells(submission_nb: NotebookNode, source_nb: NotebookNode
                         ) -> RestoreReport:
    """Restore the source's locked cells in a copy of ``submission_nb`` (see module doc)."""
    sources = index_source(source_nb)
    nb = copy.deepcopy(submission_nb)
    for cell in nb.cells:
        if isinstance(cell.get("metadata"), dict):
            cell.metadata.pop(RECORD_KEY, None)
    state = _Restore(nb.cells, sources)
    state.match_by_grade_id()
    state.adopt_stripped()
    nb.cells = state.rebuild()
    _ensure_unique_ids(nb)
    return state.report(nb)


class _Restore:
    """Matching state between the submission's cells and the source's marked cells."""

    def __init__(self, cells: list[NotebookNode], sources: list[SourceCell]):
        self.cells, self.sources = cells, sources
        self.by_id = {sc.grade_id: sc for sc in sources}
        self.match: dict[str, int] = {}        # grade_id -> index in self.cells
        self.lists: dict[str, list[str]] = {k: [] for k in (
            "restored", "reinserted", "adopted", "repaired", "missing", "unknown",
            "duplicates")}

    def match_by_grade_id(self) -> None:
        positions: dict[str, list[int]] = {}
        for i, cell in enumerate(self.cells):
            gid = grade_id_of(cell)
            if gid is not None and gid in self.by_id:
                positions.setdefault(gid, []).append(i)
                continue
            if gid is not None:
                self.lists["unknown"].append(gid)
            cell.metadata.pop("nbgrader", None)
        for gid, idxs in positions.items():
            chosen = self._choose(self.by_id[gid], idxs)
            self.match[gid] = chosen
            for i in idxs:
                if i != chosen:
                    self.cells[i].metadata.pop("nbgrader", None)
            if len(idxs) > 1:
                self.lists["duplicates"].append(gid)

    def _choose(self, sc: SourceCell, idxs: list[int]) -> int:
        released = normalized_text(sc.released)
        for i in idxs:
            same = normalized_text(self.cells[i].get("source")) == released
            if same == sc.locked:
                return i
        return idxs[0]

    def adopt_stripped(self) -> None:
        for want_locked in (True, False):  # locked first: exact matches become anchors
            for sc in self.sources:
                if sc.grade_id in self.match or sc.locked != want_locked:
                    continue
                found = self._find_in_gap(sc)
                if found is not None:
                    self.match[sc.grade_id] = found
                    self.lists["adopted"].append(sc.grade_id)

    def _find_in_gap(self, sc: SourceCell) -> int | None:
        lo, hi = self._gap(sc)
        taken = set(self.match.values())
        candidates = [i for i in range(lo, hi) if i not in taken
                      and self.cells[i].cell_type == sc.cell.cell_type
                      and not {PARAMETERS_TAG, INJECTED_TAG} & set(cell_tags(self.cells[i]))]
        released = normalized_text(sc.released)
        texts = [self.cells[i].get("source") for i in candidates]
        if sc.locked:
            exact = [i for i, t in zip(candidates, texts, strict=True)
                     if normalized_text(t) == released]
            return exact[0] if exact else None
        names = defined_names(sc.released)
        if names:
            defining = [i for i, t in zip(candidates, texts, strict=True)
                        if names <= defined_names(t)]
            if len(defining) == 1:
                return defining[0]
        bounded = lo > 0 or hi < len(self.cells)
        if bounded and len(candidates) == 1:
            return candidates[0]
        return _most_similar(candidates, texts, released)

    def _gap(self, sc: SourceCell) -> tuple[int, int]:
        """Submission index range between the nearest matched source neighbours of ``sc``."""
        lo, hi = 0, len(self.cells)
        for other in self.sources:
            i = self.match.get(other.grade_id)
            if i is None:
                continue
            if other.position < sc.position:
                lo = i + 1
            elif other.position > sc.position:
                hi = min(hi, i)
        return lo, hi

    def rebuild(self) -> list[NotebookNode]:
        before, after, tail = self._placements()
        at_index = {i: self.by_id[gid] for gid, i in self.match.items()}
        out: list[NotebookNode] = []
        for i, cell in enumerate(self.cells):
            out.extend(self._locked_cell(sc, None) for sc in before.get(i, []))
            sc = at_index.get(i)
            out.append(cell if sc is None else self._restored(sc, cell))
            out.extend(self._locked_cell(sc, None) for sc in after.get(i, []))
        out.extend(self._locked_cell(sc, None) for sc in tail)
        return out

    def _placements(self) -> tuple[dict[int, list[SourceCell]], dict[int, list[SourceCell]],
                                   list[SourceCell]]:
        before: dict[int, list[SourceCell]] = {}
        after: dict[int, list[SourceCell]] = {}
        tail: list[SourceCell] = []
        for k, sc in enumerate(self.sources):
            if sc.grade_id in self.match:
                continue
            if not sc.locked:
                self.lists["missing"].append(sc.grade_id)
                continue
            self.lists["reinserted"].append(sc.grade_id)
            prev = [self.match[o.grade_id] for o in self.sources[:k] if o.grade_id in self.match]
            nxt = [self.match[o.grade_id] for o in self.sources[k + 1:]
                   if o.grade_id in self.match]
            if prev:
                after.setdefault(prev[-1], []).append(sc)
            elif nxt:
                before.setdefault(nxt[0], []).append(sc)
            else:
                tail.append(sc)
        return before, after, tail

    def _restored(self, sc: SourceCell, cell: NotebookNode) -> NotebookNode:
        if _nbgrader_differs(sc, cell):
            self.lists["repaired"].append(sc.grade_id)
        if sc.locked:
            changed = (checksum(sc, cell_type=cell.cell_type, text=normalized_text(cell.source))
                       != checksum(sc, cell_type=sc.cell.cell_type,
                                   text=normalized_text(sc.released)))
            if changed:
                self.lists["restored"].append(sc.grade_id)
            return self._locked_cell(sc, cell)
        return _solution_cell(sc, cell)

    @staticmethod
    def _locked_cell(sc: SourceCell, student: NotebookNode | None) -> NotebookNode:
        meta = copy.deepcopy(dict(student.metadata)) if student is not None else {}
        meta.pop("nbgrader", None)
        meta.update(copy.deepcopy(dict(sc.cell.metadata)))
        meta.update(deletable=False, editable=False)
        # The released text: hidden tests never reach the kernel or the returned notebook
        # (the grader runs the full text itself, ``cell_checks``).
        cell = _new_cell(sc.cell.cell_type, sc.released, meta)
        if student is not None:
            cell["id"] = student.get("id")
        else:
            cell["id"] = sc.cell.get("id")
        cell.metadata["nbgrader"]["checksum"] = nbg.compute_checksum(cell)
        return cell

    def report(self, nb: NotebookNode) -> RestoreReport:
        return RestoreReport(
            notebook=nb, **{k: tuple(v) for k, v in self.lists.items()},
            test_ids=frozenset(sc.grade_id for sc in self.sources if sc.graded and not
                               sc.solution))


def _most_similar(indices: list[int], texts: list[Any], released: str) -> int | None:
    """The one candidate clearly most similar to the released stub, if there is one."""
    scores = sorted(((difflib.SequenceMatcher(None, normalized_text(t), released).ratio(), i)
                     for i, t in zip(indices, texts, strict=True)), reverse=True)
    if not scores or scores[0][0] < 0.6:
        return None
    if len(scores) > 1 and scores[1][0] > scores[0][0] - 0.2:
        return None
    return scores[0][1]


_DEFINITION = re.compile(r"^(?:async\s+def|def|class)\s+([^\W\d]\w*)|^([^\W\d]\w*)\s*=[^=]",
                         re.MULTILINE)


def defined_names(text: Any) -> set[str]:
    """Top-level names a code cell defines (``def``/``class``/``name =``), syntax errors ok."""
    if not isinstance(text, str):
        return set()
    return {a or b for a, b in _DEFINITION.findall(text)}


def _nbgrader_differs(sc: SourceCell, cell: NotebookNode) -> bool:
    keys = ("grade", "solution", "locked", "points", "grade_id", "task")
    theirs = nbgrader_meta(cell) or {}
    ours = sc.cell.metadata["nbgrader"]
    return cell.cell_type != sc.cell.cell_type or any(
        theirs.get(k) != ours.get(k) for k in keys)


def _solution_cell(sc: SourceCell, cell: NotebookNode) -> NotebookNode:
    """The student's answer with the source's cell type and nbgrader metadata."""
    if cell.cell_type != sc.cell.cell_type:
        cell = _new_cell(sc.cell.cell_type, cell.get("source", ""), dict(cell.metadata),
                         cell_id=cell.get("id"))
    meta = copy.deepcopy(dict(sc.cell.metadata["nbgrader"]))
    # nbgrader's convention: the checksum is the released cell's, so an unchanged stub
    # is recognisable as "no answer".
    meta["checksum"] = checksum(sc, cell_type=sc.cell.cell_type, text=sc.released)
    cell.metadata["nbgrader"] = from_dict(meta)
    return cell


def _new_cell(cell_type: str, source: str, metadata: dict[str, Any],
              cell_id: Any = None) -> NotebookNode:
    """The cell ``nbformat.v4.new_*_cell`` makes, without its per-cell JSON-schema
    validation (9 ms a notebook): the fields are built here, of the right types."""
    kind = cell_type if cell_type in ("code", "markdown") else "raw"
    cell: dict[str, Any] = {"id": cell_id if cell_id is not None else random_cell_id(),
                            "cell_type": kind, "metadata": copy.deepcopy(metadata),
                            "source": source}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return from_dict(cell)


def _ensure_unique_ids(nb: NotebookNode) -> None:
    nb.nbformat, nb.nbformat_minor = 4, max(int(nb.get("nbformat_minor", 5)), 5)
    seen: set[str] = set()
    for cell in nb.cells:
        cid = cell.get("id")
        if not isinstance(cid, str) or not cid or cid in seen:
            cid = random_cell_id()
            while cid in seen:
                cid = random_cell_id()
            cell["id"] = cid
        seen.add(cid)
