"""``refused`` is a status like the others: named in both languages wherever statuses
are shown (feedback, worksheet comment, class report), with its reason."""

from __future__ import annotations

import pytest

from autograder.core.results import CheckResult, Notice, Status, SubmissionResult
from autograder.export.class_report import REVIEW_STATUSES, Row, summarise
from autograder.export.command import comment_html
from autograder.export.feedback import render_feedback, status_text

REASON = "“14_n.ipynb” was not accepted: the file is too large (1024.0 MB, limit 50 MB)"


def _refused() -> SubmissionResult:
    return SubmissionResult(
        participant="2001", file="", sha256="h", status=Status.REFUSED, reason=REASON,
        checks=[CheckResult("test_conv2d", 0.0, 2.0, False, REASON)],
        notices=[Notice("file_refused", "「14_n.ipynb」は受け付けられませんでした", REASON)])


@pytest.mark.parametrize("status", list(Status))
def test_every_status_has_words_in_both_languages(status: Status) -> None:
    ja, en = status_text(status, "ja"), status_text(status, "en")
    assert ja and en and ja != en


def test_refused_is_explained_everywhere_it_is_shown() -> None:
    result = _refused()
    html = render_feedback(result, assignment_title="Conv", participant="Mallory", lang="en")
    assert "file refused" in html and "limit 50 MB" in html
    assert "file refused" in comment_html(result, "en")
    assert Status.REFUSED in REVIEW_STATUSES
    review = summarise([Row("2001", "Mallory", result)]).review("ja")
    assert review[0] == ("Mallory (2001)", f"受け付けられないファイル: {REASON}")
