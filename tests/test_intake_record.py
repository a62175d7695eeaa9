"""The intake record: what intake learned about a submission, kept in ``intake_json``.

Rows written before the record existed must read the same; a damaged row must be named,
not crash a reader with a ``TypeError`` (the rules: ``core/intake_record.py``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from autograder.cli import main
from autograder.core.errors import GradebookError
from autograder.core.intake_record import IntakeRecord, IntakeRecordError, MoodleOrigin
from autograder.core.results import Notice, Status
from autograder.store.gradebook import Gradebook

HERE = Path(__file__).resolve().parent
ASSIGNMENTS = HERE / "assignments"
SHA = "11ec59ed4269040a4215101a41eb08fd204ab6de3c04e0762b59de29007d8be6"
REFUSED = Notice("file_refused", "「huge.ipynb」は受け付けられませんでした",
                 "“huge.ipynb” was not accepted")

# intake_json exactly as ``grade`` wrote it before the record existed (the key sets of
# a loose notebook, a refused one, an empty folder, Moodle participants and the Default
# group; messages shortened), and what each must read as.
TODAY = {
    "ok": ('{"notices": [], "reason": "", "status": null}', IntakeRecord()),
    "huge": ('{"notices": [{"code": "file_refused", "message_ja": "「huge.ipynb」は受け付けられ'
             'ませんでした", "message_en": "“huge.ipynb” was not accepted", "checks": []}],'
             ' "reason": "the file is too large", "status": "refused"}',
             IntakeRecord(status=Status.REFUSED, reason="the file is too large",
                          notices=(REFUSED,))),
    "empty": ('{"notices": [], "reason": "no file was submitted", "status": "missing"}',
              IntakeRecord(status=Status.MISSING, reason="no file was submitted")),
    "1": ('{"notices": [], "reason": "", "status": null, "moodle_id": "1", "submitted_sha256":'
          f' "{SHA}", "submitted_name": "14_n.ipynb"}}',
          IntakeRecord(moodle=MoodleOrigin("1", SHA, "14_n.ipynb"))),
    "3": ('{"notices": [], "reason": "Nothing gradable", "status": "missing",'
          ' "moodle_id": "3", "submitted_sha256": "", "submitted_name": ""}',
          IntakeRecord(status=Status.MISSING, reason="Nothing gradable",
                       moodle=MoodleOrigin("3"))),
    "group-default": ('{"notices": [], "reason": "", "status": null, "moodle_id": null,'
                      f' "submitted_sha256": "{SHA}", "submitted_name": "14_n.ipynb"}}',
                      IntakeRecord(moodle=MoodleOrigin(None, SHA, "14_n.ipynb"))),
}


def _book_with(path: Path, rows: dict[str, str]) -> dict[str, int]:
    """A gradebook whose submissions carry ``rows`` (participant → intake_json) as stored."""
    with Gradebook(path) as gb:
        ids = {p: gb.add_submission(assignment="02_n", participant=p, file="f", sha256=p,
                                    content=b"x") for p in rows}
    db = sqlite3.connect(path)
    with db:
        db.executemany("UPDATE submissions SET intake_json=? WHERE id=?",
                       [(text, ids[p]) for p, text in rows.items()])
    db.close()
    return ids


def test_rows_written_in_todays_format_read_the_same(tmp_path: Path) -> None:
    ids = _book_with(tmp_path / "gb.sqlite", {p: text for p, (text, _) in TODAY.items()})
    with Gradebook(tmp_path / "gb.sqlite") as gb:
        for participant, (text, record) in TODAY.items():
            assert gb.submission(ids[participant]).intake == record
            assert record.to_json() == text  # and the record writes them as before
        assert {s.participant: s.intake for s in gb.latest_submissions("02_n")} == {
            p: record for p, (_, record) in TODAY.items()}


def test_older_and_newer_key_sets() -> None:
    assert IntakeRecord.from_json("{}") == IntakeRecord()  # the column's default
    old_notice = '{"notices": [{"code": "c", "message_ja": "ja", "message_en": "en"}]}'
    assert IntakeRecord.from_json(old_notice).notices == (Notice("c", "ja", "en"),)
    newer = ('{"status": "quarantined", "reason": "r", "shelf": 3,'
             ' "notices": [{"code": "c", "message_ja": "j", "message_en": "e", "tag": 1}]}')
    record = IntakeRecord.from_json(newer)  # unknown keys ignored, unknown status: error
    assert record == IntakeRecord(status=Status.ERROR, reason="r",
                                  notices=(Notice("c", "j", "e"),))


def test_a_record_goes_through_the_gradebook_unchanged(tmp_path: Path) -> None:
    record = IntakeRecord(status=Status.WRONG_ASSIGNMENT, reason="別の課題",
                          notices=(Notice("missing_name", "ja", "en", checks=("t",)),),
                          moodle=MoodleOrigin(None))
    with Gradebook(tmp_path / "gb.sqlite") as gb:
        sid = gb.add_submission(assignment="02_n", participant="9", file="f", sha256="h",
                                intake=record)
        plain = gb.add_submission(assignment="02_n", participant="8", file="f", sha256="h")
        assert gb.submission(sid).intake == record
        assert gb.submission(plain).intake == IntakeRecord()


DAMAGED = [
    ("not json", ""), ("null", ""), ("[]", ""),
    ('{"status": 3}', "status"), ('{"reason": null}', "reason"),
    ('{"notices": {}}', "notices"), ('{"notices": ["x"]}', "notices[0]"),
    ('{"notices": [{"code": "c", "message_ja": "j"}]}', "notices[0].message_en"),
    ('{"notices": [{"code": "c", "message_ja": "j", "message_en": "e", "checks": [1]}]}',
     "notices[0].checks"),
    ('{"moodle_id": 42}', "moodle_id"), ('{"moodle_id": "4", "submitted_sha256": 0}',
                                         "submitted_sha256"),
]


@pytest.mark.parametrize(("text", "key"), DAMAGED)
def test_a_damaged_record_names_its_key(text: str, key: str) -> None:
    with pytest.raises(IntakeRecordError) as caught:
        IntakeRecord.from_json(text)
    assert caught.value.key == key


def test_a_damaged_row_is_a_gradebook_error_naming_the_submission(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOGRADER_LANG", "en")
    ids = _book_with(tmp_path / "gb.sqlite", {"1001": TODAY["ok"][0],
                                             "1002": '{"notices": [{"code": 5}]}'})
    with Gradebook(tmp_path / "gb.sqlite") as gb:
        assert gb.submission(ids["1001"]).intake == IntakeRecord()
        for read in (lambda: gb.submission(ids["1002"]), lambda: gb.latest_submissions("02_n")):
            with pytest.raises(GradebookError) as caught:
                read()
            assert f"submission {ids['1002']} (participant 1002)" in caught.value.message
            assert "notices[0].code" in caught.value.message


def test_export_of_a_damaged_row_says_which_and_exits(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    ids = _book_with(tmp_path / "gb.sqlite", {"1002": '{"moodle_id": 1002}'})
    monkeypatch.setenv("AUTOGRADER_LANG", "en")  # restored after main sets it
    monkeypatch.delenv("AUTOGRADER_DEBUG", raising=False)
    code = main(["--lang", "en", "export", "02_n", "--out", str(tmp_path / "export"),
                 "--gradebook", str(tmp_path / "gb.sqlite"), "--assignments", str(ASSIGNMENTS)])
    err = capsys.readouterr().err
    assert code == GradebookError.exit_code
    assert "Traceback" not in err and "TypeError" not in err
    assert f"submission {ids['1002']} (participant 1002)" in err and "moodle_id" in err


def test_storing_the_submission_again_repairs_a_damaged_row(tmp_path: Path) -> None:
    ids = _book_with(tmp_path / "gb.sqlite", {"1002": '{"status": ["missing"]}'})
    record = IntakeRecord(status=Status.MISSING, reason="nothing")
    with Gradebook(tmp_path / "gb.sqlite") as gb:  # what ``grade`` does first
        again = gb.add_submission(assignment="02_n", participant="1002", file="f",
                                  sha256="1002", intake=record)
        assert again == ids["1002"] and gb.submission(again).intake == record
