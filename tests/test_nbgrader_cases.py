"""nbgrader's own test cases, modelled in 04_n (tests/assignments/make_04_n.py) and graded
by our engine (real kernels, real bubblewrap, real SQLite).

For the auto-graded cells the outcomes are those nbgrader's tests expect
(``test_nbgrader_autograde.py``: unchanged 1/7, changed 2/7, the ``showtraceback`` cheat
1/7; ``OverwriteCells``: changed read-only cells, test cells and cell types are put
back). Hand-graded cells are where our engine used to differ (7/7 for the changed
notebook): now an answered one waits for a person, with no points, and an unanswered one
scores zero with nothing to review (nbgrader's "No response.").
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autograder.core.results import SubmissionResult
from autograder.engine.kernel.sandbox import bwrap_available
from autograder.export.command import export
from autograder.export.feedback import graded_notebook, render_feedback
from autograder.grading.batch import grade
from autograder.grading.summary import GradeSummary
from autograder.store.gradebook import Gradebook

HERE = Path(__file__).resolve().parent
CASES = HERE / "notebooks" / "nbgrader_cases"
ASSIGNMENTS = HERE / "assignments"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap")]

# case -> (score, items passed, items waiting for a person, notice codes that must appear)
EXPECTED: dict[str, tuple[float, set[str], set[str], set[str]]] = {
    "unchanged": (1, {"cell:foo"}, set(), set()),
    "changed": (2, {"cell:foo", "cell:bar"}, {"manual:baz", "manual:quux"}, {"needs_review"}),
    "cheat_showtraceback": (1, {"cell:foo"}, {"manual:baz", "manual:quux"},
                            {"needs_review", "tampering"}),
    "locked_cell_changed": (1, {"cell:foo"}, set(), {"restored_cells"}),
    "test_cell_changed": (1, {"cell:foo"}, set(), {"restored_cells"}),
    "cell_type_changed": (1, {"cell:foo"}, set(), set()),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("nbgrader_cases")
    subs = tmp / "subs"
    subs.mkdir()
    for case in EXPECTED:
        (subs / f"{case}.ipynb").write_bytes((CASES / f"{case}.ipynb").read_bytes())
    gradebook = tmp / "gb.sqlite"
    summary = grade(assignment_id="04_n", submissions=[subs], out=tmp / "out",
                    gradebook=gradebook, jobs=2, assignments_root=ASSIGNMENTS, lang="ja")
    results: dict[str, SubmissionResult] = {}
    with Gradebook(gradebook) as gb:
        for stored in gb.latest_submissions("04_n"):
            res = gb.result(stored.id)
            assert res is not None
            results[Path(stored.participant).stem] = res
    return {"results": results, "summary": summary, "gradebook": gradebook, "tmp": tmp}


def _results(graded: dict[str, object]) -> dict[str, SubmissionResult]:
    results = graded["results"]
    assert isinstance(results, dict)
    return results


@pytest.mark.parametrize("case", list(EXPECTED))
def test_outcome_of_each_case(graded: dict[str, object], case: str) -> None:
    score, passed, waiting, notices = EXPECTED[case]
    res = _results(graded)[case]
    assert res.status.value == "graded"  # pending reviews do not change the status
    assert (res.score, res.max_score) == (score, 7)
    assert {c.name for c in res.checks if c.passed} == passed
    assert {c.name for c in res.pending_reviews} == waiting
    assert res.provisional is bool(waiting)
    assert notices <= {n.code for n in res.notices}
    for check in res.pending_reviews:
        assert check.kind == "manual" and check.points == 0 and len(check.answer_sha256) == 64


def test_unanswered_hand_graded_cells_score_zero_without_review(graded: dict[str, object]
                                                                ) -> None:
    res = _results(graded)["unchanged"]
    manual = {c.name: c for c in res.checks if c.kind == "manual"}
    assert set(manual) == {"manual:baz", "manual:quux"}
    assert all(c.points == 0 and not c.needs_review and "回答がありません" in c.message
               for c in manual.values())
    assert "needs_review" not in {n.code for n in res.notices}


def test_grade_counts_the_provisional_submissions(graded: dict[str, object]) -> None:
    summary = graded["summary"]
    assert isinstance(summary, GradeSummary)
    assert summary.provisional == 2  # changed, cheat_showtraceback


def test_feedback_marks_each_waiting_cell(graded: dict[str, object]) -> None:
    res = _results(graded)["changed"]
    page = render_feedback(res, assignment_title="04_n", participant="p", lang="ja")
    assert page.count("採点待ち") == 2  # the state of each of the two waiting answers
    assert "確認が済むまで点数は暫定です" in page  # the notice
    nb = json.loads(graded_notebook(res, assignment_title="04_n", lang="en"))
    notes = ["".join(c["source"]) for c in nb["cells"] if c["metadata"].get("autograder")]
    waiting = [n for n in notes if "needs review" in n.split("**")[0]]
    assert len(waiting) == 2  # a note with the state after each of the two waiting cells


def test_export_warns_while_reviews_are_pending(graded: dict[str, object]) -> None:
    tmp = graded["tmp"]
    assert isinstance(tmp, Path)
    for lang, words in (("ja", "採点者の確認待ちの解答が 2 人分 4 件"),
                        ("en", "4 answer(s) of 2 participant(s) still wait for review")):
        summary = export(assignment_id="04_n", out=tmp / f"export-{lang}",
                         gradebook=Path(str(graded["gradebook"])),
                         assignments_root=ASSIGNMENTS, lang=lang)
        (notice,) = [n for n in summary.notices if n.code == "reviews_pending"]
        assert words in notice.text(lang)
