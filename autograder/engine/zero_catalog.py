"""What a submission that could not run scores zero on: every graded item of an
assignment (pytest checks, in-notebook test and manual cells), each at zero points.

Listing the pytest checks is a whole pytest collection (about 0.4 s, and it imports what
the checks import, torch included), so a batch collects the catalogue once and gives every
row that intake already decided (missing, refused, wrong assignment...) its zero result
from it. ``collect_catalog_apart`` does the collection in a short-lived child process:
the grader itself then never imports torch, whatever the assignment's checks import.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..core.config import Assignment, load_assignment
from ..core.results import CheckResult, Notice, Status, SubmissionResult


@dataclass(frozen=True)
class ZeroCatalog:
    items: tuple[CheckResult, ...]  # checks first, then cells; messages empty

    def zero(self, reason: str) -> list[CheckResult]:
        """Every graded item at zero, each with ``reason`` as its message."""
        return [replace(item, message=reason) for item in self.items]

    def result(self, *, participant: str, file: str, sha256: str, status: Status,
               reason: str, notices: Sequence[Notice] = ()) -> SubmissionResult:
        """A submission's result with every graded item at zero."""
        return SubmissionResult(participant=participant, file=file, sha256=sha256,
                                status=status, checks=self.zero(reason), notices=list(notices),
                                reason=reason)


def collect_catalog(assignment: Assignment) -> ZeroCatalog:
    """The catalogue, collected in this process."""
    from ..checks import collect_checks
    from ..core.notebooks import read_notebook
    from .cells.scores import zero_cells

    checks = [CheckResult(name=name, points=0.0, max_points=points, passed=False)
              for name, points in collect_checks(assignment=assignment)]
    source = read_notebook(assignment.source_notebook).nb
    return ZeroCatalog(tuple(checks + zero_cells(source, reason="")))


def _collect_by_id(assignment_id: str, assignments_root: str) -> ZeroCatalog:
    return collect_catalog(load_assignment(assignment_id, Path(assignments_root)))


def collect_catalog_apart(assignment_id: str, assignments_root: Path) -> ZeroCatalog:
    """The catalogue, collected in a spawned child process (plain data comes back)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(_collect_by_id, assignment_id, str(assignments_root)).result()
