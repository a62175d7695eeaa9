"""``autograder validate``: prove an assignment is sound before students see it.

The source notebook (with solutions) must get full marks; the untouched released notebook
must score zero on every graded item, and both must be graded cleanly (no crash, no hang).
Both go through the real grading path: sandboxed kernel (forked from a template where
the machine can fork, as in ``grade``), restore, parameters, checks.

Some items pass on the blank release by design (a test of code the notebook gives, an
import check). The manifest's ``[validate]`` says so, per item (``release_may_pass``) or
with nbgrader's ``validate --invert`` rule (``release = "not_full"``: the release must fail
at least one item); ``autograder validate --release-may-pass NAME`` and
``--release-rule`` do the same for one run.

Each problem names the item and the check's own message. A dataset the manifest needs
that the grader's cache lacks (found on the grader's side, ``datasets.advice``) comes
first, with the command that fixes it: it is the usual reason for a whole row of NG.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..core.config import Assignment, ReleaseRule, Scalar, load_assignment
from ..core.i18n import Lang, default_lang, tr
from ..core.paths import assignments_dir
from ..core.results import Status, SubmissionResult
from ..engine.grade_one import GradeContext, forked_kernels, grade_submission


@dataclass(frozen=True)
class CheckRow:
    name: str
    max_points: float
    source_points: float
    release_points: float
    source_message: str = ""   # why the source did not get full marks
    may_pass: bool = False     # allowed to score on the blank release (``[validate]``)
    hand_graded: bool = False  # the source's answer waits for a person: no points by design

    @property
    def ok(self) -> bool:
        full = self.hand_graded or self.source_points == self.max_points
        return full and (self.may_pass or self.release_points == 0)


@dataclass
class Validation:
    assignment: str
    source: SubmissionResult
    release: SubmissionResult
    rows: list[CheckRow] = field(default_factory=list)
    rule: ReleaseRule = "zero"
    unknown_names: tuple[str, ...] = ()  # release_may_pass names that are no graded item
    lang: Lang = "ja"
    dataset_hints: list[str] = field(default_factory=list)  # datasets missing, and the fix

    @property
    def problems(self) -> list[str]:
        found = [_problem(r, self.lang) for r in self.rows if not r.ok]
        for label, res in (("source", self.source), ("release", self.release)):
            if res.status is not Status.GRADED:
                found.insert(0, _not_graded(label, res, self.lang))
        if not self.rows:
            found.append(tr(self.lang, ja="採点される項目がありません",
                            en="the assignment has no graded items"))
        found += [tr(self.lang, ja=f"release_may_pass の {name} という項目はありません",
                     en=f"release_may_pass names {name}, which is no graded item")
                  for name in self.unknown_names]
        if self.rule == "not_full" and self.rows and self.release.score >= self.release.max_score:
            found.append(tr(self.lang, ja="配布版が満点です(少なくとも 1 項目は落ちるはずです)",
                            en="the release gets full marks (at least one item must fail)"))
        return [*self.dataset_hints, *found] if found else []

    @property
    def ok(self) -> bool:
        return not self.problems


def _not_graded(label: str, res: SubmissionResult, lang: Lang) -> str:
    which = tr(lang, ja="解答例" if label == "source" else "配布版", en=label)
    return tr(lang, ja=f"{which}のノートブック: 状態 {res.status.value} ({res.reason})",
              en=f"{which} notebook: status {res.status.value} ({res.reason})")


def _problem(row: CheckRow, lang: Lang) -> str:
    text = tr(lang, ja=f"{row.name}: 解答例 {row.source_points:g}/{row.max_points:g}、"
                       f"配布版 {row.release_points:g}",
              en=f"{row.name}: source {row.source_points:g}/{row.max_points:g}, "
                 f"release {row.release_points:g}")
    if row.source_points < row.max_points and row.source_message:
        text += f" — {row.source_message}"
        if row.name.startswith("cell:"):
            text += tr(lang, ja=" (ノートブック内のテストセルは採点側で学生の名前に対して"
                                "実行されます。セルを素のデータで書き直すか、"
                                "配点を pytest のチェックに移してください)",
                       en=" (in-notebook test cells run in the grader against the student's"
                          " names; rewrite the cell with plain data, or move its points to a"
                          " pytest check)")
    elif row.release_points > 0:
        text += tr(lang, ja=" — 配布版で点が入るのが意図どおりなら、マニフェストの [validate] "
                            "release_may_pass に書いてください",
                   en=" — if the release passes it by design, list it in the manifest's"
                      " [validate] release_may_pass")
    return text


def _rows(source: SubmissionResult, release: SubmissionResult,
          may_pass: set[str]) -> list[CheckRow]:
    released = {c.name: c.points for c in release.checks}
    return [CheckRow(c.name, c.max_points, c.points, released.get(c.name, 0.0),
                     c.message if c.points < c.max_points else "", c.name in may_pass,
                     c.needs_review)
            for c in source.checks]


def validate(*, assignment_id: str, assignments_root: Path | None = None,
             params: Mapping[str, Scalar] | None = None, lang: Lang | None = None,
             data_dir: Path | None = None, cpu_threads: int | None = None,
             release_may_pass: Sequence[str] = (), release_rule: ReleaseRule | None = None,
             kernel_factory: str = "autograder.engine.kernel.sandboxed:SandboxedKernel",
            ) -> Validation:
    """Grade the source and the fresh release of ``assignment_id`` and compare.

    What the release may score: the manifest's ``[validate]`` (``ValidateOptions``), with
    ``release_may_pass`` added to its list and ``release_rule`` in place of its rule.
    """
    root = assignments_root or assignments_dir()
    assignment = load_assignment(assignment_id, root)
    lang = lang or default_lang()
    source, fresh = _grade_both(assignment, root, params=params, lang=lang, data_dir=data_dir,
                                cpu_threads=cpu_threads, kernel_factory=kernel_factory)
    allowed = {*assignment.validation.release_may_pass, *release_may_pass}
    rule = release_rule or assignment.validation.release
    if rule == "not_full":
        allowed |= {c.name for c in source.checks}
    unknown = tuple(sorted(allowed - {c.name for c in source.checks}))
    hints = _dataset_hints(assignment, {**assignment.grading, **(params or {})}, data_dir,
                           lang)
    return Validation(assignment.id, source, fresh, _rows(source, fresh, allowed), rule=rule,
                      unknown_names=unknown, lang=lang, dataset_hints=hints)


def _grade_both(assignment: Assignment, root: Path, *, params: Mapping[str, Scalar] | None,
                lang: Lang, data_dir: Path | None, cpu_threads: int | None,
                kernel_factory: str) -> tuple[SubmissionResult, SubmissionResult]:
    """The source and its fresh release, each through the real grading path."""
    from .release import release

    ctx = GradeContext(assignment=assignment, params={**assignment.grading, **(params or {})},
                       lang=lang, data_dir=data_dir,
                       kernel_factory=kernel_factory,
                       cpu_threads=cpu_threads or os.cpu_count() or 1)
    name = assignment.submission_file
    source_bytes = assignment.source_notebook.read_bytes()
    with tempfile.TemporaryDirectory(prefix="ag-validate-") as tmp:
        released = release(assignment_id=assignment.id, out=Path(tmp),
                           assignments_root=root)
        release_bytes = released.read_bytes()
    with forked_kernels(assignment, data_dir, kernel_factory):
        source = grade_submission(ctx, participant="source", file=name, content=source_bytes,
                                  sha256="source")
        fresh = grade_submission(ctx, participant="release", file=name, content=release_bytes,
                                 sha256="release")
    return source, fresh


def _dataset_hints(assignment: Assignment, params: Mapping[str, Scalar],
                   data_dir: Path | None, lang: Lang) -> list[str]:
    """A fix for each dataset the manifest needs that the cache lacks (none when the
    grading parameters already choose the offline data)."""
    from ..core.notebooks import read_notebook
    from ..datasets.advice import fix_hint, missing_datasets, offline_param

    offline = offline_param(read_notebook(assignment.source_notebook).nb)
    if offline is not None and str(params.get(offline[0])) == offline[1]:
        return []
    return [fix_hint(info, cache=data_dir, offline_param=offline, lang=lang)
            for info in missing_datasets(assignment.datasets, cache=data_dir)]


def assignment_ids(root: Path | None = None) -> list[str]:
    base = root or assignments_dir()
    return sorted(p.name for p in base.iterdir() if (p / "assignment.toml").is_file())
