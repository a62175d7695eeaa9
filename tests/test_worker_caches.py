"""What a grading worker keeps between submissions is what the files say now: the
assignment's manifest (``grade_one._assignment``) is read again once it changes, and the
instructor preamble of the test cells follows the source notebook's cells."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from autograder.core.errors import ConfigError
from autograder.core.notebooks import read_notebook
from autograder.engine import grade_one
from autograder.engine.cells.cell_tests import instructor_preamble
from autograder.engine.tasks import GradeTask

ASSIGNMENTS = Path(__file__).resolve().parent.parent / "assignments"


def task(root: Path, assignment_id: str = "13_n") -> GradeTask:
    return GradeTask(submission_id=1, gradebook="unused.sqlite", assignment_id=assignment_id,
                     assignments_root=str(root), run_id=1)


def test_the_manifest_is_read_again_once_it_changes(tmp_path: Path) -> None:
    shutil.copytree(ASSIGNMENTS / "13_n", tmp_path / "13_n")
    first = grade_one._assignment(task(tmp_path))
    assert grade_one._assignment(task(tmp_path)) is first
    manifest = tmp_path / "13_n" / "assignment.toml"
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(text + "\n# edited\n", encoding="utf-8")
    again = grade_one._assignment(task(tmp_path))
    assert again is not first and again == first        # read again: the same settings
    manifest.write_text("[assignment\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        grade_one._assignment(task(tmp_path))


@pytest.mark.parametrize("assignment_id", ["no_such", "../13_n"])
def test_an_unknown_assignment_is_the_loaders_error(tmp_path: Path, assignment_id: str) -> None:
    shutil.copytree(ASSIGNMENTS / "13_n", tmp_path / "13_n")
    with pytest.raises(ConfigError):
        grade_one._assignment(task(tmp_path, assignment_id))


def test_the_preamble_follows_the_source_cells() -> None:
    source = read_notebook(ASSIGNMENTS / "13_n" / "13_n.ipynb").nb
    first = instructor_preamble(source)
    assert instructor_preamble(source) == first
    code = next(c for c in source.cells if c.cell_type == "code")
    code.source = "import math\n" + code.source
    assert instructor_preamble(source) == "import math\n" + first
