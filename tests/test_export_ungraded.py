"""A submission whose grading failed or was interrupted has no result; ``export`` must
never treat it as if nobody had submitted: ``--missing-zero`` would give that student 0.

Real SQLite gradebook, the course's 13_n assignment, no kernel (results written here).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder.core.errors import ExportError
from autograder.core.results import CheckResult, Status, SubmissionResult
from autograder.export.command import export
from autograder.store.gradebook import Gradebook

REPO = Path(__file__).resolve().parents[1]


def _gradebook(tmp_path: Path) -> Path:
    """Two participants submitted; only the first one's grading finished."""
    gb_path = tmp_path / "gb.sqlite"
    with Gradebook(gb_path) as gb:
        for participant in ("1001", "1002"):
            sid = gb.add_submission(assignment="13_n", participant=participant,
                                    file="13_n.ipynb", sha256=participant * 8, content=b"{}")
            if participant == "1001":
                gb.save_result(sid, SubmissionResult(participant, "13_n.ipynb", "h",
                                                     Status.GRADED, checks=[
                    CheckResult("test_step", 1.0, 1.0, True)]))
    return gb_path


def _export(tmp_path: Path, gb: Path, *, missing_zero: bool, lang: str = "en") -> object:
    return export(assignment_id="13_n", out=tmp_path / "out", gradebook=gb,
                  assignments_root=REPO / "assignments", missing_zero=missing_zero,
                  allow_stale=True, lang=lang)  # type: ignore[arg-type]


def test_missing_zero_is_refused_while_a_submission_has_no_result(tmp_path: Path) -> None:
    gb = _gradebook(tmp_path)
    with pytest.raises(ExportError) as refused:
        _export(tmp_path, gb, missing_zero=True)
    text = refused.value.render()
    assert "1002" in text and "would give them 0" in text and "grade 13_n" in text


@pytest.mark.parametrize(("lang", "words"), [
    ("en", "1 submission(s) have no result yet"), ("ja", "1 件の提出にまだ採点結果がありません")])
def test_without_missing_zero_their_rows_stay_blank_and_it_is_said(
        tmp_path: Path, lang: str, words: str) -> None:
    summary = _export(tmp_path, _gradebook(tmp_path), missing_zero=False, lang=lang)
    notices = [n for n in summary.notices if n.code == "ungraded"]  # type: ignore[attr-defined]
    assert len(notices) == 1 and words in notices[0].text(lang)  # type: ignore[arg-type]
    assert "1002" in notices[0].text(lang)  # type: ignore[arg-type]
    assert summary.students == 1  # type: ignore[attr-defined]


# --- a result that says the grader failed (``error``, ``crashed``) is no grade either ----

WORKSHEET = (
    "\ufeffIdentifier,\"Full name\",Status,Grade,\"Maximum Grade\",\"Grade can be changed\","
    "\"Last modified (grade)\",\"Feedback comments\"\n"
    + "".join(f"\"Participant {pid}\",\"Student {pid}\",Submitted,,100.00,Yes,-,\n"
              for pid in ("1001", "1002", "1003", "1004")))


def _with_failures(tmp_path: Path) -> Path:
    """1001 graded 1/1, 1002 the grader's error, 1003 crashed its worker, 1004 nothing."""
    gb_path = tmp_path / "gb.sqlite"
    statuses = {"1001": Status.GRADED, "1002": Status.ERROR, "1003": Status.CRASHED,
                "1004": Status.MISSING}
    with Gradebook(gb_path) as gb:
        for participant, status in statuses.items():
            sid = gb.add_submission(assignment="13_n", participant=participant,
                                    file="13_n.ipynb", sha256=participant * 8, content=b"{}")
            point = 1.0 if status is Status.GRADED else 0.0
            gb.save_result(sid, SubmissionResult(participant, "13_n.ipynb", "h", status,
                                                 reason="bubblewrap failed", checks=[
                CheckResult("test_step", point, 1.0, point == 1.0, message="x")]))
    return gb_path


def test_a_failure_of_the_grader_is_never_a_zero_in_moodle(tmp_path: Path) -> None:
    sheet = tmp_path / "Grades.csv"
    sheet.write_text(WORKSHEET, encoding="utf-8")
    summary = export(assignment_id="13_n", out=tmp_path / "out",
                     gradebook=_with_failures(tmp_path), worksheet=sheet,
                     assignments_root=REPO / "assignments", missing_zero=True,
                     allow_stale=True, lang="en")
    rows = {line.split(",")[0].strip('"'): line.split(",") for line in
            (tmp_path / "out" / "worksheet.csv").read_text(encoding="utf-8-sig").splitlines()}
    assert rows["Participant 1001"][3] == "100.00"
    assert rows["Participant 1004"][3] == "0.00"          # nothing submitted: --missing-zero
    for failed in ("Participant 1002", "Participant 1003"):
        assert rows[failed][3] == "" and rows[failed][-1] == "", rows[failed]
    notice = next(n for n in summary.notices if n.code == "grading_failed")
    assert "1002" in notice.text("en") and "1003" in notice.text("en")
    assert "2 submission(s) could not be graded" in notice.text("en")
    feedback = tmp_path / "out" / "feedback"
    assert (feedback / "1001").is_dir() and not (feedback / "1002").exists()
    assert not (feedback / "1003").exists()


def test_the_gradebook_import_leaves_them_blank_too(tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("Identifier,Full name,Email address\n" + "".join(
        f"Participant {pid},Student {pid},s{pid}@example.ac.jp\n"
        for pid in ("1001", "1002", "1003", "1004")), encoding="utf-8")
    export(assignment_id="13_n", out=tmp_path / "out", gradebook=_with_failures(tmp_path),
           roster=roster, roster_key="Email address", assignments_root=REPO / "assignments",
           missing_zero=True, allow_stale=True, lang="en")
    lines = (tmp_path / "out" / "gradebook-import.csv").read_text(
        encoding="utf-8-sig").splitlines()
    grades = dict(line.split(",")[:2] for line in lines[1:])
    assert grades == {"s1001@example.ac.jp": "100.00", "s1002@example.ac.jp": "-",
                      "s1003@example.ac.jp": "-", "s1004@example.ac.jp": "0.00"}
    table = (tmp_path / "out" / "grades.csv").read_text(encoding="utf-8-sig")
    assert [line.split(",")[2:4] for line in table.splitlines()[1:]] == [
        ["graded", "1.0"], ["error", ""], ["crashed", ""], ["missing", ""]]
