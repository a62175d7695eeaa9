"""``autograder validate`` on every course assignment: the source gets full marks, the
untouched release gets zero, both graded cleanly — through the real engine, on real MNIST
and CIFAR-shaped synthetic data (real CIFAR-10 is not reachable here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder.config import load_assignment
from autograder.paths import PROJECT_DIR
from autograder.sandbox import bwrap_available
from autograder.validate import assignment_ids, validate

ASSIGNMENTS = PROJECT_DIR / "assignments"
COURSE = ["13_n", "13_h", "03_n", "03_h", "14_n", "14_h"]

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap")]


def test_the_course_is_all_there() -> None:
    assert set(COURSE) <= set(assignment_ids(ASSIGNMENTS))


@pytest.mark.parametrize("assignment_id", COURSE)
def test_validate(assignment_id: str, mnist_data_dir: Path) -> None:
    assignment = load_assignment(assignment_id, ASSIGNMENTS)
    params = {"DATASET": "synthetic"} if "cifar10" in assignment.datasets else {}
    result = validate(assignment_id=assignment_id, assignments_root=ASSIGNMENTS,
                      params=params, data_dir=mnist_data_dir)
    assert result.ok, "\n".join(result.problems)
    assert result.source.score == result.source.max_score > 0
    assert result.release.score == 0
