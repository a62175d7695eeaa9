"""The time all checks of one submission may take together (``Limits.checks_timeout_s``).

Per-check limits alone do not bound a submission: functions that sleep only when the
grader calls them cost every check its full limit (found: 19 checks x 120 s = 38 minutes
for one submission). The runner cuts each check's limit to what is left of the budget;
once it is used up, the remaining checks fail at once without touching the kernel, and
``exhausted`` tells the caller to mark the submission ``timeout``.
"""

from __future__ import annotations

import time

from ..core.i18n import Lang, tr


class ChecksBudget:
    """A deadline for a whole check run, started by the first ``cut``."""

    def __init__(self, seconds: float):
        if seconds <= 0:
            raise ValueError(f"a checks budget must be positive, got {seconds!r}")
        self.seconds = float(seconds)
        self.exhausted = False
        self._deadline: float | None = None

    def start(self) -> None:
        if self._deadline is None:
            self._deadline = time.monotonic() + self.seconds

    def left(self) -> float:
        self.start()
        assert self._deadline is not None
        return max(0.0, self._deadline - time.monotonic())

    def cut(self, limit: float) -> float:
        """``limit`` cut to what is left (0: nothing is; the budget is then exhausted)."""
        left = self.left()
        if left <= 0:
            self.exhausted = True
        return min(limit, left)

    def note_failure(self) -> bool:
        """A check did not pass; True (and exhausted) if the budget ran out meanwhile."""
        if self.left() <= 0:
            self.exhausted = True
        return self.exhausted

    def message(self, lang: Lang | None) -> str:
        """For the student: the check stopped or did not run because time was used up."""
        return tr(lang,
                  ja=f"採点チェック全体の制限時間 ({self.seconds:g} 秒) を使い切ったため、"
                     "このチェックは完了できませんでした",
                  en=f"the checks' total time limit ({self.seconds:g} s) was used up, so "
                     "this check could not complete")


class BudgetUsedUp(Exception):
    """Raised instead of running a check once the budget is used up."""


__all__ = ["BudgetUsedUp", "ChecksBudget"]
