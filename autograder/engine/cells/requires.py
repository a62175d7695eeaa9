"""``[cell_requires]``: a test cell's points also need the grader's own checks.

A test cell runs in the grader, but every name it does not bind itself is looked up in
the student's kernel, and the student can rebind any of them: a read-only cell's class
(``AllAtOnce``, ``TinyLoader``), a loader (``test_loader``), a function the cell uses to
judge another (``evaluate(model, test_loader)``). Where a cell's verdict rests on such a
name, what it decides is the kernel's claim. The manifest then names the pytest checks
that compute the same thing with the grader's own data; the cell keeps its verdict
(its message still helps the student) but earns its points only when those checks
passed too. A check that did not run counts as not passed. docs/security.md
("In-notebook test cells") says which cells of the course need this and why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ...core.config import Assignment
from ...core.i18n import Lang, default_lang, tr
from ...core.results import CheckResult
from ..bridge.submission import clip


def apply_cell_requires(results: Sequence[CheckResult], assignment: Assignment, *,
                        lang: Lang | None = None) -> list[CheckResult]:
    """``results`` with every passing test cell whose required checks did not all pass
    turned into a failure worth nothing that says what the grader found."""
    by_name = {r.name: r for r in results}
    return [_gated(r, assignment.cell_requires.get(r.name, ()), by_name, assignment, lang)
            for r in results]


def _gated(result: CheckResult, needed: Sequence[str], by_name: Mapping[str, CheckResult],
           assignment: Assignment, lang: Lang | None) -> CheckResult:
    if result.kind != "cell" or not result.passed or not needed:
        return result
    failed = [name for name in needed if not _passed(by_name.get(name))]
    if not failed:
        return result
    return CheckResult(name=result.name, points=0.0, max_points=result.max_points,
                       passed=False, message=_message(result.name, failed, by_name,
                                                      assignment, lang),
                       kind=result.kind, metric=result.metric)


def _passed(result: CheckResult | None) -> bool:
    return result is not None and result.passed


def _message(cell: str, failed: Sequence[str], by_name: Mapping[str, CheckResult],
             assignment: Assignment, lang: Lang | None) -> str:
    """Which of the grader's checks did not pass, with what each found (its own
    student-facing message: never hidden test text)."""
    found = "; ".join(_finding(name, by_name.get(name), assignment, lang) for name in failed)
    grade_id = cell.removeprefix("cell:")
    return tr(lang,
              ja=f"テストセル {grade_id} はノートブックの中では通りましたが、同じことを採点側の"
                 f"データで確かめたチェックが通らなかったので点になりません: {found}",
              en=f"test cell {grade_id} ran without an error in the notebook, but the "
                 f"grader's check of the same thing with its own data did not pass, so it "
                 f"earns no points: {found}")


def _finding(name: str, result: CheckResult | None, assignment: Assignment,
             lang: Lang | None) -> str:
    label = assignment.labels.get(name)
    shown = label.text(lang or default_lang()) if label is not None else name
    what = clip(result.message, 300) if result is not None else \
        tr(lang, ja="実行されませんでした", en="did not run")
    return tr(lang, ja=f"「{shown}」: {what}", en=f"“{shown}”: {what}")
