"""What waits for a person: every hand-graded answer of an assignment's latest results.

An item carries what a reviewer needs and nothing a browser could run: the student's
answer as text, its outputs as text (streams, ``text/plain``, ``ename: evalue``) or
verified PNG images (never the notebook's own HTML or JavaScript), all cleaned of escape
and control characters and cut to a size; and the rubric (the source notebook's text of
that cell). Escaping is the page's job (``review_page``: jinja2 autoescape).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..core.config import Assignment
from ..core.results import REVIEW_DONE, REVIEW_PENDING, CheckResult, Review
from ..core.safetext import clean
from ..export.feedback import png_of
from ..store.gradebook import Gradebook, StoredSubmission
from ..store.hand_grades import grade_id_of

MAX_TEXT = 20_000        # characters of answer or outputs shown per item
MAX_IMAGES = 8           # images shown per item


@dataclass(frozen=True)
class Output:
    kind: str            # text | error | png
    text: str = ""
    png: str = ""        # base64 of a verified PNG


@dataclass(frozen=True)
class ReviewItem:
    submission_id: int
    participant: str     # as stored: the key reviews are saved under (never shown raw)
    label: str           # who, for the page: name (id), cleaned
    grade_id: str
    cell_type: str
    answer: str
    answer_sha256: str
    outputs: tuple[Output, ...]
    rubric: str
    points: float
    max_points: float
    comment: str
    state: str           # pending | reviewed
    reviewer: str = ""
    reviewed_at: float = 0.0

    @property
    def key(self) -> str:
        return f"{self.submission_id}-{self.grade_id}"

    @property
    def pending(self) -> bool:
        return self.state == REVIEW_PENDING


def collect_items(gb: Gradebook, assignment: Assignment) -> list[ReviewItem]:
    """Every hand-graded answer of the latest submissions, by participant, in notebook
    order (reviewed ones too, so a grade can be looked at and changed again)."""
    rubric = _rubric(assignment)
    items: list[ReviewItem] = []
    for stored in gb.latest_submissions(assignment.id):
        result = gb.result(stored.id)
        hand = [c for c in result.checks if c.review_state in (REVIEW_PENDING, REVIEW_DONE)] \
            if result is not None else []
        if not hand or result is None:
            continue
        cells = _cells_by_grade_id(result.executed_notebook)
        reviews = {(r.grade_id, r.answer_sha256): r
                   for r in gb.reviews(assignment.id, stored.participant)}
        items += [_item(stored, c, cells.get(grade_id_of(c), {}), rubric, reviews)
                  for c in hand]
    return items


def find_item(items: list[ReviewItem], submission_id: int, grade_id: str
              ) -> ReviewItem | None:
    return next((i for i in items
                 if i.submission_id == submission_id and i.grade_id == grade_id), None)


def _item(stored: StoredSubmission, check: CheckResult, cell: Mapping[str, Any],
          rubric: Mapping[str, str], reviews: Mapping[tuple[str, str], Review]) -> ReviewItem:
    gid = grade_id_of(check)
    review = reviews.get((gid, check.answer_sha256)) if check.review_state == REVIEW_DONE \
        else None
    return ReviewItem(
        submission_id=stored.id, participant=stored.participant, label=_label(stored),
        grade_id=gid, cell_type=str(cell.get("cell_type", "")),
        answer=clean(_text(cell.get("source")), limit=MAX_TEXT),
        answer_sha256=check.answer_sha256, outputs=outputs_of(cell), rubric=rubric.get(gid, ""),
        points=check.points, max_points=check.max_points, state=check.review_state,
        comment=clean(review.comment) if review else "",
        reviewer=clean(review.by, limit=100) if review else "",
        reviewed_at=review.at if review else 0.0)


def _label(stored: StoredSubmission) -> str:
    ident = clean(stored.participant, limit=100)
    name = clean(stored.participant_name, limit=100)
    return f"{name} ({ident})" if name and name != ident else ident


def outputs_of(cell: Mapping[str, Any]) -> tuple[Output, ...]:
    """A code cell's outputs as text and verified PNGs, within ``MAX_TEXT``/``MAX_IMAGES``."""
    out: list[Output] = []
    budget, images = MAX_TEXT, 0
    raw = cell.get("outputs")
    for output in raw if isinstance(raw, list) else []:
        png = png_of(output)
        if png is not None:
            if images < MAX_IMAGES:
                out.append(Output("png", png=png))
                images += 1
            continue
        kind, text = _output_text(output)
        if text and budget > 0:
            out.append(Output(kind, text=clean(text, limit=budget)))
            budget -= len(text)
    return tuple(out)


def _output_text(output: Any) -> tuple[str, str]:
    if not isinstance(output, dict):
        return "text", ""
    kind = output.get("output_type")
    if kind == "stream":
        return "text", _text(output.get("text"))
    if kind == "error":  # the name and message only: tracebacks are long and ANSI-coloured
        return "error", f"{_text(output.get('ename'))}: {_text(output.get('evalue'))}"
    data = output.get("data")
    return "text", _text(data.get("text/plain")) if isinstance(data, dict) else ""


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "".join(v for v in value if isinstance(v, str))
    return value if isinstance(value, str) else ""


def _cells_by_grade_id(executed: str | None) -> dict[str, Mapping[str, Any]]:
    try:
        nb = json.loads(executed) if executed else {}
    except ValueError:
        return {}
    found: dict[str, Mapping[str, Any]] = {}
    for cell in nb.get("cells", []) if isinstance(nb, dict) else []:
        meta = cell.get("metadata") if isinstance(cell, dict) else None
        nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
        gid = nbg.get("grade_id") if isinstance(nbg, dict) else None
        if isinstance(gid, str):
            found.setdefault(gid, cell)
    return found


def _rubric(assignment: Assignment) -> dict[str, str]:
    """The source notebook's text of each cell, by grade id (the instructor's rubric)."""
    from ..core.notebooks import read_notebook
    from ..engine.restore import grade_id_of as source_grade_id

    source = read_notebook(assignment.source_notebook).nb
    return {gid: clean(cell.get("source", ""), limit=MAX_TEXT) for cell in source.cells
            if (gid := source_grade_id(cell))}
