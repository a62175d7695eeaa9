"""Rows whose outcome intake already decided (missing, refused, wrong assignment, a
``.py`` that would not convert...): their zero results are written by the grader itself,
in one transaction per chunk, from one check catalogue per batch. They never enter the
worker pool, so a zip of 20,000 empty folders costs seconds, not a pytest collection and
a worker round trip each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ..core.config import Assignment
from ..core.i18n import Lang
from ..core.results import Status, SubmissionResult
from ..engine.tasks import TaskOutcome
from ..engine.zero_catalog import ZeroCatalog, collect_catalog_apart
from ..store.fingerprint import Fingerprint
from ..store.gradebook import Gradebook, StoredSubmission

CHUNK = 2000  # rows per transaction: one commit for many, and progress as they land


def outdated(gb: Gradebook, ids: Sequence[int]) -> list[int]:
    """Decided rows whose stored result no longer says what intake says now.

    Every decided row of a participant holds the same (empty) content, so it is the same
    row from run to run: one who was ``missing`` and is now ``refused`` would otherwise
    keep the old verdict.
    """
    stale = []
    for sid in ids:
        stored = gb.submission(sid)
        status, result = stored.intake.status, gb.result(sid, hand_grades=False)
        if status is None or result is None:
            continue
        if (result.status, result.reason, result.notices) != (
                status, stored.intake.reason, list(stored.intake.notices)):
            stale.append(sid)
    return stale


def split_decided(gb: Gradebook, ids: Sequence[int]) -> tuple[list[int], list[int]]:
    """(ids intake already decided, ids to grade), each in the given order."""
    decided: list[int] = []
    to_grade: list[int] = []
    for sid in ids:
        (to_grade if gb.submission(sid).intake.status is None else decided).append(sid)
    return decided, to_grade


def settle_decided(gb: Gradebook, ids: Sequence[int], *, assignment: Assignment,
                   assignments_root: Path, lang: Lang, run_id: int,
                   on_done: Callable[[TaskOutcome], None],
                   fingerprint: Fingerprint | None = None) -> None:
    """Write the zero result of every id in ``ids`` (all decided by intake), each with
    the batch's ``fingerprint`` (its catalogue comes from the same checks)."""
    if not ids:
        return
    catalog = collect_catalog_apart(assignment.id, assignments_root)
    for start in range(0, len(ids), CHUNK):
        rows = [(sid, _zero(gb.submission(sid), catalog)) for sid in ids[start:start + CHUNK]]
        gb.save_results(rows, run_id=run_id, fingerprint=fingerprint)
        for sid, result in rows:
            on_done(TaskOutcome(sid, result.status, result.score, result.max_score,
                                participant=result.participant))


def _zero(stored: StoredSubmission, catalog: ZeroCatalog) -> SubmissionResult:
    return catalog.result(participant=stored.participant, file=stored.file,
                          sha256=stored.sha256, status=stored.intake.status or Status.ERROR,
                          reason=stored.intake.reason, notices=list(stored.intake.notices))
