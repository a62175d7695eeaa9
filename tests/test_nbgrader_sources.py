"""nbgrader's sources as nbgrader takes them: format 4.0 and 4.1 notebooks, code answer
cells without ``### BEGIN SOLUTION``, ids that are no lecture/level (``ps1``, ``week5``),
the manifest's file name at the Moodle intake, and ``validate``'s rules for items that
pass on the blank release by design.

The assignments are ``tests/assignments/ps1`` and ``week5`` (made by
``tests/assignments/make_nbsources.py``); release, validate and grade run through the real
engine (sandboxed kernels, checks in the grader).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import nbformat
import pytest
from moodle_zips import FOLDERS_4X, Student, build_submissions_zip

from autograder.authoring.release import release
from autograder.authoring.validate import validate
from autograder.cli import main
from autograder.core.config import load_assignment
from autograder.engine.kernel.sandbox import bwrap_available
from autograder.grading.batch import grade

ASSIGNMENTS = Path(__file__).resolve().parent / "assignments"
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
sandboxed = [pytest.mark.slow,
             pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap")]


def _raw(assignment_id: str) -> dict[str, Any]:
    path = ASSIGNMENTS / assignment_id / f"{assignment_id}.ipynb"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _by_grade_id(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


# ---------------------------------------------------------------- release (no kernel)

@pytest.mark.parametrize(("assignment_id", "minor"), [("ps1", 0), ("week5", 1)])
def test_old_format_sources_release_as_4_5(tmp_path: Path, assignment_id: str,
                                           minor: int) -> None:
    raw = _raw(assignment_id)
    assert raw["nbformat_minor"] == minor and all("id" not in c for c in raw["cells"])
    first = release(assignment_id=assignment_id, out=tmp_path / "a", assignments_root=ASSIGNMENTS)
    again = release(assignment_id=assignment_id, out=tmp_path / "b", assignments_root=ASSIGNMENTS)
    nb = nbformat.read(first, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat_minor >= 5 and len({c.id for c in nb.cells}) == len(nb.cells)
    assert first.read_bytes() == again.read_bytes(), "the same source releases the same bytes"


def test_answer_cell_without_markers_becomes_the_stub(tmp_path: Path) -> None:
    nb = nbformat.read(release(assignment_id="ps1", out=tmp_path, assignments_root=ASSIGNMENTS),
                       as_version=4)
    assert _by_grade_id(nb, "cube").source == STUB
    text = "\n".join(c.source for c in nb.cells)
    assert "x ** 3" not in text and "def square" in text  # given code stays
    week5 = nbformat.read(release(assignment_id="week5", out=tmp_path,
                                  assignments_root=ASSIGNMENTS), as_version=4)
    assert _by_grade_id(week5, "shift").source == STUB
    assert _by_grade_id(week5, "scale").source.startswith("def scale(x):\n    # YOUR CODE HERE")


def test_release_is_named_by_the_manifest_file_rule(tmp_path: Path) -> None:
    folder = tmp_path / "ps1"
    shutil.copytree(ASSIGNMENTS / "ps1", folder)
    manifest = folder / "assignment.toml"
    manifest.write_text(manifest.read_text(encoding="utf-8").replace(
        'file = "ps1.ipynb"', 'file = "PS1-answers.ipynb"'), encoding="utf-8")
    path = release(assignment_id="ps1", out=tmp_path / "out", assignments_root=tmp_path,
                   lang="en")
    assert path.name == "PS1-answers.ipynb"
    header = nbformat.read(path, as_version=4).cells[0].source
    assert "File to submit: `PS1-answers.ipynb`" in header
    assert load_assignment("ps1", tmp_path).lecture is None


def test_cli_release_of_an_old_format_source(tmp_path: Path) -> None:
    assert main(["release", "ps1", "--assignments", str(ASSIGNMENTS),
                 "--out", str(tmp_path)]) == 0
    assert (tmp_path / "ps1.ipynb").is_file()


# ---------------------------------------------------------------- validate (real kernels)

@pytest.mark.parametrize("assignment_id", ["ps1", "week5"])
@pytest.mark.usefixtures("_sandboxed")
def test_validate_accepts_what_passes_on_the_release_by_design(assignment_id: str) -> None:
    result = validate(assignment_id=assignment_id, assignments_root=ASSIGNMENTS,
                      cpu_threads=1, lang="en")
    assert result.ok, result.problems
    assert result.source.score == result.source.max_score > 0
    assert 0 < result.release.score < result.release.max_score


@pytest.mark.usefixtures("_sandboxed")
def test_validate_without_the_allowance_names_the_item_and_the_way_out(tmp_path: Path) -> None:
    folder = tmp_path / "ps1"
    shutil.copytree(ASSIGNMENTS / "ps1", folder)
    manifest = folder / "assignment.toml"
    manifest.write_text(manifest.read_text(encoding="utf-8").replace(
        'release_may_pass = ["cell:test_given"]', ""), encoding="utf-8")
    strict = validate(assignment_id="ps1", assignments_root=tmp_path, cpu_threads=1, lang="en")
    (problem,) = strict.problems
    assert problem.startswith("cell:test_given: source 1/1, release 1")
    assert "release_may_pass" in problem
    # the same allowance for one run, from the command line's option
    allowed = validate(assignment_id="ps1", assignments_root=tmp_path, cpu_threads=1,
                       lang="ja", release_may_pass=["cell:test_given", "test_nothing"])
    assert allowed.problems == ["release_may_pass の test_nothing という項目はありません"]
    invert = validate(assignment_id="ps1", assignments_root=tmp_path, cpu_threads=1,
                      release_rule="not_full")
    assert invert.ok, invert.problems


@pytest.fixture
def _sandboxed() -> None:
    if not bwrap_available():
        pytest.skip("needs bubblewrap")


# ---------------------------------------------------------------- grade (real kernels)

def _student(released: Path, answers: dict[str, str]) -> bytes:
    nb = nbformat.read(released, as_version=4)
    for grade_id, source in answers.items():
        _by_grade_id(nb, grade_id).source = source
    return nbformat.writes(nb).encode()


PS1_RIGHT = {"cube": "def cube(x):\n    return x ** 3"}
PS1_WRONG = {"cube": "def cube(x):\n    return x * 3"}
# participant -> (file in the zip, answers, status, score, notice codes)
PS1_ZIP: dict[str, tuple[str, dict[str, str], str, float, set[str]]] = {
    "Aoki Aya": ("ps1.ipynb", PS1_RIGHT, "graded", 4, set()),
    "Baba Bin": ("PS1 (1).ipynb", PS1_RIGHT, "graded", 4, {"misnamed"}),
    "Chiba Chie": ("ps1.ipynb", PS1_WRONG, "graded", 1, set()),
    "Doi Dan": ("Untitled0.ipynb", {}, "graded", 1, {"misnamed"}),
    "Endo Emi": ("notes.pdf", {}, "missing", 0, {"missing"}),
}


@pytest.mark.usefixtures("_sandboxed")
def test_grade_a_moodle_zip_by_the_manifest_file_rule(tmp_path: Path) -> None:
    released = release(assignment_id="ps1", out=tmp_path / "rel", assignments_root=ASSIGNMENTS)
    students = []
    for number, (name, (file, answers, *_)) in enumerate(sorted(PS1_ZIP.items())):
        data = b"%PDF" if file.endswith(".pdf") else _student(released, answers)
        students.append(Student(1000 + number, name, {file: data}))
    zip_path = build_submissions_zip(tmp_path / "ps1.zip", students, layout=FOLDERS_4X)
    grade(assignment_id="ps1", submissions=[zip_path], out=tmp_path / "out",
          gradebook=tmp_path / "gb.sqlite", jobs=2, assignments_root=ASSIGNMENTS, lang="en")
    records = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    by_id = {str(1000 + i): name for i, name in enumerate(sorted(PS1_ZIP))}
    assert sorted(by_id[r["participant"]] for r in records) == sorted(PS1_ZIP)
    for record in records:
        name = by_id[record["participant"]]
        _file, _answers, status, score, notices = PS1_ZIP[name]
        assert (record["status"], record["score"], record["max_score"]) == (status, score, 4), \
            (name, record)
        assert notices <= {n["code"] for n in record["notices"]}, (name, record["notices"])


@pytest.mark.usefixtures("_sandboxed")
def test_grade_a_folder_of_week5_notebooks(tmp_path: Path) -> None:
    released = release(assignment_id="week5", out=tmp_path / "rel",
                       assignments_root=ASSIGNMENTS)
    subs = tmp_path / "subs"
    subs.mkdir()
    right = {"scale": "def scale(x):\n    return x * SCALE",
             "shift": "def shift(x):\n    return x + 1"}
    (subs / "right.ipynb").write_bytes(_student(released, right))
    (subs / "blank.ipynb").write_bytes(released.read_bytes())
    grade(assignment_id="week5", submissions=[subs], out=tmp_path / "out",
          gradebook=tmp_path / "gb.sqlite", jobs=2, assignments_root=ASSIGNMENTS)
    records = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    scores = {r["participant"]: (r["status"], r["score"], r["max_score"]) for r in records}
    assert scores == {"right": ("graded", 3, 3), "blank": ("graded", 1, 3)}
