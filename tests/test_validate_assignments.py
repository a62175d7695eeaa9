"""``autograder validate`` on every course assignment: the source gets full marks, the
untouched release gets zero, both graded cleanly — through the real engine, on real MNIST
and CIFAR-shaped synthetic data (real CIFAR-10 is not reachable here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder.authoring.validate import assignment_ids, validate
from autograder.core.config import load_assignment
from autograder.core.paths import PROJECT_DIR
from autograder.engine.kernel.sandbox import bwrap_available

ASSIGNMENTS = PROJECT_DIR / "assignments"
COURSE = ["13_n", "13_h", "03_n", "03_h", "14_n", "14_h"]
# On top of each manifest's [grading]: CIFAR-10 is not reachable here, so the CIFAR
# assignments use their offline synthetic mode; 14_h's GPU budget becomes the CPU budget
# documented in assignments/14_h/assignment.toml.
EXTRA = {
    "14_n": {"DATASET": "synthetic"},
    "14_h": {"DATASET": "synthetic", "DEVICE": "cpu", "TRAIN_SUBSET": 2048,
             "TEST_SUBSET": 256, "EPOCHS": 1, "BATCH_SIZE": 32},
}

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap")]


def test_the_course_is_all_there() -> None:
    assert set(COURSE) <= set(assignment_ids(ASSIGNMENTS))


@pytest.mark.parametrize("assignment_id", COURSE)
def test_validate(assignment_id: str, mnist_data_dir: Path) -> None:
    assert load_assignment(assignment_id, ASSIGNMENTS)
    # One torch thread per kernel: the suite runs two test files at once on two cores.
    result = validate(assignment_id=assignment_id, assignments_root=ASSIGNMENTS,
                      params=EXTRA.get(assignment_id, {}), data_dir=mnist_data_dir,
                      cpu_threads=1)
    assert result.ok, "\n".join(result.problems)
    assert result.source.score == result.source.max_score > 0
    assert result.release.score == 0
