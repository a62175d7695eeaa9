"""The state of one graded item as students and instructors read it.

``passed`` (full points), ``partial`` (some points: 部分点, never 不合格 for 1/2),
``failed`` (none), ``not_run`` (the grader never got to it: nothing could run, the kernel
died, the checks' time was used up) and ``needs_review`` (a cell waiting for a person).
Every report (feedback HTML, graded notebook, worksheet comment, class report) takes the
state, its word and its mark from here, so they always agree.

The gradebook stores a result's points and message, not this state, so ``not_run`` is
recognised from the submission's status and from the grader's own "did not run" texts
(``NOT_RUN_MARKERS``: the runner's, the checks budget's and the dead kernel's, in both
languages; tests/test_feedback_rows.py holds them to their sources). A review flag is
read from whichever field the result carries (``needs_review``/``review``/``state``).
"""

from __future__ import annotations

from enum import Enum

from ..core.i18n import Lang, tr
from ..core.results import CheckResult, Status

# Nothing of the notebook ran: every item is at zero without having been tried.
NOTHING_RAN = frozenset({Status.INVALID, Status.MISSING, Status.WRONG_ASSIGNMENT,
                         Status.REFUSED, Status.ERROR})
NOT_RUN_MARKERS = (
    "実行されませんでした", "the check did not run",                       # checks/runner.py
    "採点チェック全体の制限時間", "the checks' total time limit",          # checks/budget.py
    "カーネルが停止したため", "the kernel died, so",                      # engine/grade_one.py
)
_REVIEW_WORDS = frozenset({"needs_review", "pending", "review"})


class ItemState(str, Enum):
    PASSED = "passed"
    PARTIAL = "partial"
    FAILED = "failed"
    NOT_RUN = "not_run"
    NEEDS_REVIEW = "needs_review"


def state_of(check: CheckResult, status: Status = Status.GRADED) -> ItemState:
    """The state of ``check`` in a submission whose status is ``status``."""
    if _needs_review(check):
        return ItemState.NEEDS_REVIEW
    full = check.points >= check.max_points if check.max_points > 0 else check.passed
    if full:
        return ItemState.PASSED
    if check.points > 0:
        return ItemState.PARTIAL
    if status in NOTHING_RAN or any(m in check.message for m in NOT_RUN_MARKERS):
        return ItemState.NOT_RUN
    return ItemState.FAILED


def _needs_review(check: CheckResult) -> bool:
    if check.kind != "manual":
        return False
    if getattr(check, "needs_review", False) is True:
        return True
    return any(getattr(check, attr, None) in _REVIEW_WORDS for attr in ("review", "state"))


def word(state: ItemState, lang: Lang) -> str:
    ja, en = _WORDS[state]
    return tr(lang, ja=ja, en=en)


def mark(state: ItemState) -> str:
    """A one-character mark (Japanese grading marks; all of them exist in CP932)."""
    return _MARKS[state]


_WORDS = {
    ItemState.PASSED: ("合格", "passed"),
    ItemState.PARTIAL: ("部分点", "partial"),
    ItemState.FAILED: ("不合格", "failed"),
    ItemState.NOT_RUN: ("未実行", "not run"),
    ItemState.NEEDS_REVIEW: ("採点待ち", "needs review"),
}
_MARKS = {
    ItemState.PASSED: "○", ItemState.PARTIAL: "△", ItemState.FAILED: "×",
    ItemState.NOT_RUN: "−", ItemState.NEEDS_REVIEW: "？",
}
