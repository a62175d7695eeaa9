"""The benchmark's assignment (bench/assignments/01_n) stays gradable.

Nothing here is timed: the benchmark itself (bench/grade_overhead.py) is not part of the
test suite. These checks only keep its inputs sound, so a benchmark run measures grading
rather than tripping over a broken manifest or notebook.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from autograder.authoring.release import read_source, student_version
from autograder.authoring.source_check import check_source
from autograder.checks import collect_checks
from autograder.core.config import Assignment, load_assignment

BENCH_ROOT = Path(__file__).resolve().parents[1] / "bench" / "assignments"


@pytest.fixture(scope="module")
def assignment() -> Assignment:
    return load_assignment("01_n", BENCH_ROOT)


def test_manifest_loads(assignment: Assignment) -> None:
    assert (assignment.id, assignment.lecture, assignment.level) == ("01_n", 1, "n")
    assert assignment.device == "cpu" and assignment.datasets == ()
    assert assignment.source_notebook.is_file()


def test_source_is_valid_nbgrader_format(assignment: Assignment) -> None:
    source = read_source(assignment.source_notebook)
    nbformat.validate(source)
    check_source(source, assignment=assignment)  # raises on any nbgrader-format problem
    graded = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]
              for c in source.cells if "nbgrader" in c.metadata}
    assert graded["sol_add"]["solution"] is True
    assert graded["test_add"]["grade"] is True and graded["test_add"]["points"] == 1


def test_release_strips_the_solution(assignment: Assignment) -> None:
    student = student_version(read_source(assignment.source_notebook), assignment=assignment)
    code = "\n".join(c.source for c in student.cells if c.cell_type == "code")
    assert "return a + b" not in code
    assert "raise NotImplementedError" in code
    assert 'assert add(1, 2) == 3' in code  # the public test cell ships with the notebook


def test_hidden_check_is_collected(assignment: Assignment) -> None:
    assert collect_checks(assignment=assignment) == [("test_add_hidden", 1.0)]
