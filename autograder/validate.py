"""``autograder validate``: prove an assignment is sound before students see it.

The source notebook (with solutions) must get full marks; the untouched released notebook
must score zero on every graded item, and both must be graded cleanly (no crash, no hang).
Both go through the real grading path: sandboxed kernel, restore, parameters, checks.

Each problem names the item and the check's own message. A dataset the manifest needs
that the grader's cache lacks (found on the grader's side, ``datasets.advice``) comes
first, with the command that fixes it: it is the usual reason for a whole row of NG.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .config import Assignment, Scalar, load_assignment
from .grading import GradeContext, grade_submission
from .i18n import Lang, default_lang
from .paths import assignments_dir
from .results import Status, SubmissionResult


@dataclass(frozen=True)
class CheckRow:
    name: str
    max_points: float
    source_points: float
    release_points: float
    source_message: str = ""   # why the source did not get full marks

    @property
    def ok(self) -> bool:
        return self.source_points == self.max_points and self.release_points == 0


@dataclass
class Validation:
    assignment: str
    source: SubmissionResult
    release: SubmissionResult
    rows: list[CheckRow] = field(default_factory=list)
    dataset_hints: list[str] = field(default_factory=list)  # datasets missing, and the fix

    @property
    def problems(self) -> list[str]:
        found = [_problem(r) for r in self.rows if not r.ok]
        for label, res in (("source", self.source), ("release", self.release)):
            if res.status is not Status.GRADED:
                found.insert(0, f"{label} notebook: status {res.status.value} ({res.reason})")
        if not self.rows:
            found.append("the assignment has no graded items")
        return [*self.dataset_hints, *found] if found else []

    @property
    def ok(self) -> bool:
        return not self.problems


def _problem(row: CheckRow) -> str:
    text = (f"{row.name}: source {row.source_points:g}/{row.max_points:g}, "
            f"release {row.release_points:g}")
    if row.source_points < row.max_points and row.source_message:
        text += f" — {row.source_message}"
        if row.name.startswith("cell:"):
            text += (" (in-notebook test cells run in the grader against the student's names;"
                     " rewrite the cell with plain data, or move its points to a pytest check)")
    if row.release_points > 0:
        text += " — the untouched release earns points: the check passes without an answer"
    return text


def _rows(source: SubmissionResult, release: SubmissionResult) -> list[CheckRow]:
    released = {c.name: c.points for c in release.checks}
    return [CheckRow(c.name, c.max_points, c.points, released.get(c.name, 0.0),
                     c.message if c.points < c.max_points else "")
            for c in source.checks]


def validate(*, assignment_id: str, assignments_root: Path | None = None,
             params: Mapping[str, Scalar] | None = None, lang: Lang | None = None,
             data_dir: Path | None = None, cpu_threads: int | None = None,
             kernel_factory: str = "autograder.kernel:SandboxedKernel") -> Validation:
    """Grade the source and the fresh release of ``assignment_id`` and compare."""
    from .release import release

    root = assignments_root or assignments_dir()
    assignment = load_assignment(assignment_id, root)
    ctx = GradeContext(assignment=assignment, params={**assignment.grading, **(params or {})},
                       lang=lang or default_lang(), data_dir=data_dir,
                       kernel_factory=kernel_factory,
                       cpu_threads=cpu_threads or os.cpu_count() or 1)
    name = f"{assignment.id}.ipynb"
    source_bytes = assignment.source_notebook.read_bytes()
    with tempfile.TemporaryDirectory(prefix="ag-validate-") as tmp:
        released = release(assignment_id=assignment.id, out=Path(tmp),
                           assignments_root=root)
        release_bytes = released.read_bytes()
    source = grade_submission(ctx, participant="source", file=name, content=source_bytes,
                              sha256="source")
    fresh = grade_submission(ctx, participant="release", file=name, content=release_bytes,
                             sha256="release")
    return Validation(assignment.id, source, fresh, _rows(source, fresh),
                      _dataset_hints(assignment, ctx.params, data_dir, ctx.lang))


def _dataset_hints(assignment: Assignment, params: Mapping[str, Scalar],
                   data_dir: Path | None, lang: Lang) -> list[str]:
    """A fix for each dataset the manifest needs that the cache lacks (none when the
    grading parameters already choose the offline data)."""
    from .datasets.advice import fix_hint, missing_datasets, offline_param
    from .notebook_io import read_notebook

    offline = offline_param(read_notebook(assignment.source_notebook).nb)
    if offline is not None and str(params.get(offline[0])) == offline[1]:
        return []
    return [fix_hint(info, cache=data_dir, offline_param=offline, lang=lang)
            for info in missing_datasets(assignment.datasets, cache=data_dir)]


def assignment_ids(root: Path | None = None) -> list[str]:
    base = root or assignments_dir()
    return sorted(p.name for p in base.iterdir() if (p / "assignment.toml").is_file())
