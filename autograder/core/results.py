"""Result dataclasses shared by grading, the gradebook and export."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from .i18n import Lang, tr

REVIEW_PENDING = "pending"
REVIEW_DONE = "reviewed"


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
    CRASHED = "crashed"    # grading it killed the grading worker twice (a cluster): not retried


# The grader could not finish these: no grade (never a 0 in Moodle), until a rerun or a
# person grades them.
GRADER_FAILURES = frozenset({Status.ERROR, Status.CRASHED})


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
    # Hand-graded cells only (kind ``manual``): REVIEW_PENDING until a person grades the
    # answer (no points until then), REVIEW_DONE once they have; "" for everything else
    # (completion credit, an unanswered cell). ``answer_sha256`` keys the review to the
    # answer's text, so a regrade of the same answer keeps it (``handgrading``).
    review_state: str = ""
    answer_sha256: str = ""

    @property
    def needs_review(self) -> bool:
        return self.review_state == REVIEW_PENDING

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Notice:
    """Something the student and instructor should know (misnamed file, timeout...)."""

    code: str                  # machine-readable: misnamed, converted_py, timeout, ...
    message_ja: str
    message_en: str
    # the graded items it explains (a ``missing_name`` notice: the checks that failed for
    # it); kept with the notice in the gradebook, so reports can show it beside them
    checks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # read back from JSON as a list
        object.__setattr__(self, "checks", tuple(str(c) for c in self.checks))

    def text(self, lang: Lang = "ja") -> str:
        return tr(lang, ja=self.message_ja, en=self.message_en)


@dataclass(frozen=True)
class Override:
    """A person's change to a submission's total (``autograder adjust``): the total
    becomes ``points`` (``relative``: changes by ``points``), with who, when and why."""

    points: float
    relative: bool
    comment: str = ""
    by: str = ""
    at: float = 0.0            # seconds since the epoch

    def apply(self, score: float) -> float:
        return score + self.points if self.relative else self.points


@dataclass(frozen=True)
class Review:
    """A person's grade for one hand-graded answer (``autograder review``), kept for the
    answer's text (``answer_sha256``) and the item's maximum at the time."""

    grade_id: str
    answer_sha256: str
    points: float
    max_points: float
    comment: str = ""
    by: str = ""
    at: float = 0.0


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
    fingerprint: str = ""      # what produced it (``fingerprint.py``); "" = not recorded
    overrides: list[Override] = field(default_factory=list)  # applied in order

    @property
    def max_score(self) -> float:
        return sum(c.max_points for c in self.checks)

    @property
    def checks_score(self) -> float:
        """The graded items' points less the penalty (no overrides)."""
        return max(0.0, sum(c.points for c in self.checks) - self.penalty)

    @property
    def score(self) -> float:
        """The total: ``checks_score`` with every override applied, within [0, max]."""
        total = self.checks_score
        if not self.overrides:
            return total
        for override in self.overrides:
            total = override.apply(total)
        return min(max(total, 0.0), self.max_score)

    @property
    def pending_reviews(self) -> list[CheckResult]:
        """Hand-graded items that wait for a person: the score is provisional."""
        return [c for c in self.checks if c.needs_review]

    @property
    def provisional(self) -> bool:
        return any(c.needs_review for c in self.checks)
