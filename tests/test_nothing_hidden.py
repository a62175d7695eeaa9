"""Nothing of a hidden check goes back to a student: not the hidden-test regions of
in-notebook test cells, not a check's expression, not the grader's inputs, not even
through the student's own exception texts, type names or timeouts.

Students of the test assignment 05_n (tests/assignments/make_05_n.py) are graded from a
plain folder (no Moodle zip) through the real sandbox, then exported; every returned
file (feedback HTML, graded notebook, grades CSV, results) is searched for the secrets.
The export of loose notebooks also has to write grades, report and feedback.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from autograder.authoring.release import release
from autograder.core.notebooks import read_notebook
from autograder.engine.kernel.sandbox import bwrap_available
from autograder.engine.restore import grade_id_of
from autograder.export.command import export
from autograder.grading.batch import grade

ASSIGNMENTS = Path(__file__).parent / "assignments"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap")]

# Hidden-test text, check expression, grader inputs and what they sum to.
SECRETS = ["HIDDEN", "secret-xor-check", "a ^ b", "for a in (0, 1)", "add(31337",
           "7919", "104729", "112648", "31337", "27182", "58519"]

GATES = "def AND(a, b):\n    return int(a + b > 1)\n\n"
XOR = "def XOR(a, b):\n    return int(a + b == 1)\n\n"
ADD = "def add(a, b):\n    return a + b\n"
STUDENTS = {
    "correct": GATES + XOR + ADD,
    # right on the public example only: the hidden loop catches it
    "xor_wrong": GATES + "def XOR(a, b):\n    return 1 if (a, b) == (0, 1) else 5\n\n" + ADD,
    "leak_exception": GATES + XOR + (
        "class Leak(ValueError):\n    pass\n\n"
        "def add(a, b):\n    raise Leak(f'grader asked add({a}, {b})')\n"),
    "leak_type_name": GATES + XOR + (
        "def add(a, b):\n    return type(f'Got_{a}_{b}', (), {})()\n"),
    "leak_exception_class": GATES + (
        "def XOR(a, b):\n"
        "    raise type(f'Leak_{a}_{b}', (Exception,), {})('x')\n\n") + (
        "def add(a, b):\n    raise type(f'Leak_{a}_{b}', (Exception,), {})(f'{a}+{b}')\n"),
    "leak_timeout": GATES + XOR + (
        "import time\n\n"
        "def add(a, b):\n"
        "    if a > 1000:\n        time.sleep(3600)\n"
        "    return a + b\n"),
    "leak_print": GATES + XOR + (
        "def add(a, b):\n    print('grader asked', a, b)\n"
        "    open('/content/leak.txt', 'a').write(f'{a} {b}\\n')\n    return 0\n"),
    "leak_history": GATES + XOR + ADD + (
        "\nprint(get_ipython().user_ns.get('_ih'))\n"
        "import glob\nprint(glob.glob('/content/**', recursive=True))\n"),
}


def _students(folder: Path) -> Path:
    released = release(assignment_id="05_n", out=folder / "release",
                       assignments_root=ASSIGNMENTS)
    subs = folder / "subs"
    subs.mkdir()
    for name, answer in STUDENTS.items():
        nb = read_notebook(released).nb
        for cell in nb.cells:
            if grade_id_of(cell) == "answer":
                cell.source = answer
        nbformat.write(nb, subs / f"{name}.ipynb")
    return subs


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, float]]:
    tmp = tmp_path_factory.mktemp("hidden")
    gradebook = tmp / "gb.sqlite"
    summary = grade(assignment_id="05_n", submissions=[_students(tmp)], out=tmp / "grade",
                    gradebook=gradebook, jobs=2, assignments_root=ASSIGNMENTS, lang="ja")
    records = json.loads(Path(summary.results_json or "").read_text(encoding="utf-8"))
    scores = {r["participant"]: r["score"] for r in records}
    return tmp, gradebook, scores


def test_scores(graded: tuple[Path, Path, dict[str, float]]) -> None:
    _, _, scores = graded
    assert scores == {"correct": 5, "xor_wrong": 3, "leak_exception": 3, "leak_type_name": 3,
                      "leak_exception_class": 1, "leak_timeout": 3, "leak_print": 3,
                      "leak_history": 5}


def _returned_files(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.is_file() and p.name != "report.html")


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_no_secret_in_any_returned_file(graded: tuple[Path, Path, dict[str, float]],
                                        lang: str) -> None:
    tmp, gradebook, _ = graded
    out = tmp / f"export-{lang}"
    summary = export(assignment_id="05_n", out=out, gradebook=gradebook,
                     lang=lang,  # type: ignore[arg-type]
                     assignments_root=ASSIGNMENTS)
    files = _returned_files(out) + _returned_files(tmp / "grade")
    assert any(f.name == "05_n_graded.ipynb" for f in files)
    for path in files:
        text = path.read_bytes().decode("utf-8", "replace")
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked into {path.relative_to(tmp)}"
    assert "feedback_not_in_zip" in {n.code for n in summary.notices}


def test_messages_say_what_failed_without_the_secret(
        graded: tuple[Path, Path, dict[str, float]]) -> None:
    tmp, _, _ = graded
    records = {r["participant"]: {c["name"]: c["message"] for c in r["checks"]}
               for r in json.loads((tmp / "grade" / "results.json").read_text("utf-8"))}
    assert records["xor_wrong"]["cell:test_xor"] == \
        "テストセル test_xor: 隠しテストに合格しませんでした"
    assert records["leak_exception"]["test_add_secret"] == \
        "関数 add の実行中にエラー: ValueError"
    assert records["leak_exception_class"]["cell:test_xor"] == \
        "テストセル test_xor: 関数 XOR の実行中にエラー: Exception"
    # a student object is only a handle: the check's own message, no type name
    assert records["leak_type_name"]["test_add_secret"] == "add が 2 つの数の和を返していません"
    assert "add" in records["leak_timeout"]["test_add_secret"]


def test_loose_notebooks_export_grades_report_and_feedback(
        graded: tuple[Path, Path, dict[str, float]]) -> None:
    tmp, gradebook, _ = graded
    out = tmp / "export-loose"
    export(assignment_id="05_n", out=out, gradebook=gradebook, assignments_root=ASSIGNMENTS)
    assert (out / "grades.csv").is_file() and (out / "report.html").is_file()
    assert (out / "feedback" / "correct" / "05_n.html").is_file()
    assert not (out / "feedback.zip").exists()  # nothing in it could be matched by Moodle


def test_show_hidden_is_the_instructors_opt_in(
        graded: tuple[Path, Path, dict[str, float]]) -> None:
    tmp, gradebook, _ = graded
    out = tmp / "export-instructor"
    export(assignment_id="05_n", out=out, gradebook=gradebook, assignments_root=ASSIGNMENTS,
           show_hidden=True)
    text = (out / "feedback" / "xor_wrong" / "05_n_graded.ipynb").read_text("utf-8")
    assert "secret-xor-check" in text and "BEGIN HIDDEN TESTS" in text
