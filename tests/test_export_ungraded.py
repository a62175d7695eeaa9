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
