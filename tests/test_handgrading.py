"""Reviews and overrides: applied when a result is read, kept across regrades of the same
answer, recorded with who and when (``autograder adjust``), shown in the worksheet."""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder.cli import main
from autograder.core.errors import HandGradingError
from autograder.core.results import CheckResult, Override, Review, Status, SubmissionResult
from autograder.export.command import comment_html
from autograder.review.adjust import adjust, parse_change
from autograder.store.gradebook import Gradebook
from autograder.store.hand_grades import apply_hand_grades

HERE = Path(__file__).resolve().parent
ASSIGNMENTS = HERE / "assignments"


def _result(answer: str = "a" * 64, sha: str = "sha-1", baz_max: float = 2
            ) -> SubmissionResult:
    return SubmissionResult("1001", "04_n.ipynb", sha, Status.GRADED, checks=[
        CheckResult("cell:foo", 1, 1, True, kind="cell"),
        CheckResult("manual:baz", 0, baz_max, False, kind="manual", review_state="pending",
                    answer_sha256=answer),
        CheckResult("manual:comments", 1, 1, True, kind="manual")])


def test_a_review_applies_to_the_answer_it_was_made_for() -> None:
    review = Review("baz", "a" * 64, 1.5, 2, "理由が書けています", "先生", 1.0)
    done = apply_hand_grades(_result(), [review], [])
    baz = done.checks[1]
    assert (baz.points, baz.review_state, baz.message) == (1.5, "reviewed", "理由が書けています")
    assert done.score == 3.5 and not done.provisional
    assert "needs_review" not in {n.code for n in done.notices}
    for other in (_result(answer="b" * 64), _result(baz_max=3)):  # new answer / new rubric
        again = apply_hand_grades(other, [review], [])
        assert again.provisional and again.score == 2
        assert [n.code for n in again.notices] == ["needs_review"]


def test_overrides_apply_in_order_within_zero_and_the_maximum() -> None:
    res = _result()
    steps = [Override(3, False), Override(-1, True), Override(0.5, True)]
    assert apply_hand_grades(res, [], steps).score == 2.5
    assert apply_hand_grades(res, [], [Override(-9, True)]).score == 0
    assert apply_hand_grades(res, [], [Override(9, True)]).score == 4  # max
    notice = apply_hand_grades(res, [], [Override(-1, True, "遅延")]).notices[-1]
    assert notice.code == "adjusted" and notice.text("ja") == \
        "採点者が合計点を調整しました (-1 点): 遅延"


def test_reviews_and_overrides_survive_a_regrade_of_the_same_answer(tmp_path: Path) -> None:
    with Gradebook(tmp_path / "gb.sqlite") as gb:
        sid = gb.add_submission(assignment="04_n", participant="1001", file="f",
                                sha256="sha-1", content=b"{}")
        gb.save_result(sid, _result())
        gb.save_review(assignment="04_n", participant="1001",
                       review=Review("baz", "a" * 64, 2, 2, "満点", "先生"))
        gb.add_override(assignment="04_n", participant="1001", sha256="sha-1",
                        override=Override(-1, True, "遅れて提出", "先生"))
        gb.save_result(sid, _result())  # regraded: same answer, same bytes
        res = gb.result(sid)
        assert res is not None and res.score == 3 and not res.provisional
        gb.save_result(sid, _result(answer="c" * 64))  # the same id, another answer text
        assert gb.result(sid).provisional  # type: ignore[union-attr]
        assert gb.result(sid, hand_grades=False).overrides == []  # type: ignore[union-attr]
        new = gb.add_submission(assignment="04_n", participant="1001", file="f",
                                sha256="sha-2", content=b"{ }")
        gb.save_result(new, _result(sha="sha-2"))
        later = gb.result(new)
        assert later is not None and later.overrides == [] and later.score == 4


@pytest.mark.parametrize(("text", "value"), [
    ("7", (7.0, False)), ("+1.5", (1.5, True)), ("-2", (-2.0, True)), (" 0 ", (0.0, False)),
    (".5", (0.5, False))])
def test_parse_change(text: str, value: tuple[float, bool]) -> None:
    assert parse_change(text) == value


@pytest.mark.parametrize("text", ["", "abc", "1e400", "+", "--1", "nan", "1,5"])
def test_parse_change_refuses(text: str) -> None:
    with pytest.raises(HandGradingError):
        parse_change(text)


def _graded_gradebook(tmp_path: Path) -> Path:
    path = tmp_path / "gb.sqlite"
    with Gradebook(path) as gb:
        sid = gb.add_submission(assignment="04_n", participant="1001", file="04_n.ipynb",
                                sha256="sha-1", content=b"{}", participant_name="山田 太郎")
        gb.save_result(sid, _result())
    return path


def test_adjust_records_who_and_when_and_refuses_out_of_range(tmp_path: Path) -> None:
    path = _graded_gradebook(tmp_path)
    done = adjust(assignment_id="04_n", participant="山田 太郎", points="+1",
                  comment="口頭で補足", by="先生", gradebook=path, assignments_root=ASSIGNMENTS)
    assert (done.before, done.after, done.max_score, done.provisional) == (2, 3, 4, True)
    assert done.override.by == "先生" and done.override.at > 0
    with pytest.raises(HandGradingError, match="0〜4"):
        adjust(assignment_id="04_n", participant="1001", points="+5", gradebook=path,
               assignments_root=ASSIGNMENTS, lang="ja")
    with pytest.raises(HandGradingError, match="no submission"):
        adjust(assignment_id="04_n", participant="9999", points="1", gradebook=path,
               assignments_root=ASSIGNMENTS, lang="en")
    with Gradebook(path) as gb:
        (override,) = gb.overrides("04_n", "1001", "sha-1")
        res = gb.result(gb.latest_submissions("04_n")[0].id)
    assert override.comment == "口頭で補足" and res is not None and res.score == 3
    html = comment_html(res, "ja")
    assert "合計点の調整: +1 — 口頭で補足" in html and "採点者の確認待ち" in html


def test_adjust_cli_defaults_to_the_os_user(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    path = _graded_gradebook(tmp_path)
    monkeypatch.setenv("AUTOGRADER_LANG", "ja")  # main() sets it from --lang
    monkeypatch.setenv("USER", "instructor1")
    monkeypatch.setenv("LOGNAME", "instructor1")
    code = main(["--lang", "en", "adjust", "04_n", "1001", "--points", "-0.5", "--comment",
                 "late", "--gradebook", str(path), "--assignments", str(ASSIGNMENTS)])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0 and "1001: 2 → 1.5 / 4 points (-0.5, by instructor1," in out
    assert main(["--lang", "ja", "adjust", "04_n", "1001", "--points", "9", "--gradebook",
                 str(path), "--assignments", str(ASSIGNMENTS)]) == 10
    assert "0〜4" in capsys.readouterr().err
