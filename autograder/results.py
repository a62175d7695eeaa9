"""Result dataclasses shared by grading, the gradebook and export."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


class Status(str, Enum):
    """What happened to one submission as a whole."""

    GRADED = "graded"      # executed (maybe with cell errors) and checked
    ERROR = "error"        # the grader could not finish (sandbox/kernel failure)
    TIMEOUT = "timeout"    # a cell or the whole notebook ran past its wall-time limit
    KILLED = "killed"      # the kernel died: memory limit, signal, segfault, exit
    INVALID = "invalid"    # not a readable nbformat-4 notebook
    MISSING = "missing"    # participant submitted nothing gradable
    WRONG_ASSIGNMENT = "wrong_assignment"  # clearly another assignment's file
    REFUSED = "refused"    # what was submitted was refused at intake (too large, unsafe)
    CRASHED = "crashed"    # grading it killed the grading worker twice (cluster.py): not retried


@dataclass(frozen=True)
class CheckResult:
    """One graded item: a pytest check or an in-notebook test cell."""

    name: str
    points: float
    max_points: float
    passed: bool
    message: str = ""          # student-facing; never hidden test source
    kind: str = "check"        # check | cell (in-notebook nbgrader test) | manual
    metric: float | None = None  # a measured value, e.g. the accuracy the grader computed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Notice:
    """Something the student and instructor should know (misnamed file, timeout...)."""

    code: str                  # machine-readable: misnamed, converted_py, timeout, ...
    message_ja: str
    message_en: str

    def text(self, lang: str = "ja") -> str:
        return self.message_en if lang == "en" else self.message_ja


@dataclass
class SubmissionResult:
    participant: str
    file: str
    sha256: str
    status: Status
    checks: list[CheckResult] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    reason: str = ""
    penalty: float = 0.0
    exec_seconds: float = 0.0
    check_seconds: float = 0.0
    peak_memory_mb: float = 0.0
    executed_notebook: str | None = None  # JSON text of the executed notebook

    @property
    def max_score(self) -> float:
        return sum(c.max_points for c in self.checks)

    @property
    def score(self) -> float:
        return max(0.0, sum(c.points for c in self.checks) - self.penalty)
