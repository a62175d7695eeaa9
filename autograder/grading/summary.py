"""What ``grade`` returns: one batch's summary (plain data, also sent by the grading
service to its client, ``service/``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..core.results import Notice
from ..engine.tasks import TaskOutcome


@dataclass
class GradeSummary:
    assignment: str
    submission_ids: list[int]
    graded_now: list[TaskOutcome] = field(default_factory=list)
    skipped: int = 0
    stale: int = 0             # graded under another fingerprint: regraded (or kept)
    stale_kept: bool = False   # --keep-stale: those were skipped, not regraded
    provisional: int = 0       # submissions with answers waiting for a person
    results_csv: Path | None = None
    results_json: Path | None = None
    messages: list[Notice] = field(default_factory=list)  # about the archives, not a student
