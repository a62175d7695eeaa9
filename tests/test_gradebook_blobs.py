"""The gradebook never fails on a big submission: large content lives by reference in a
content-addressed file beside the database (real SQLite, real files)."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from autograder.core.errors import GradebookError
from autograder.core.results import CheckResult, Status, SubmissionResult
from autograder.store.gradebook import INLINE_MAX_BYTES, SCHEMA_VERSION, Gradebook


@pytest.fixture(autouse=True)
def _english(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOGRADER_LANG", "en")


def _add(gb: Gradebook, participant: str, data: bytes | None = None,
         source: Path | None = None) -> int:
    raw = data if data is not None else (source.read_bytes() if source else b"")
    return gb.add_submission(assignment="14_n", participant=participant, file="14_n.ipynb",
                             sha256=hashlib.sha256(raw).hexdigest(), content=data or b"",
                             source=source)


def test_large_content_is_stored_beside_the_database(tmp_path: Path) -> None:
    big = os.urandom(INLINE_MAX_BYTES + 1)
    source = tmp_path / "big.ipynb"
    source.write_bytes(big)
    db = tmp_path / "gb.sqlite"
    with Gradebook(db) as gb:
        from_file = _add(gb, "1", source=source)
        from_bytes = _add(gb, "2", data=big)
        small = _add(gb, "3", data=b"{}")
        assert gb.content(from_file) == gb.content(from_bytes) == big
        assert gb.content(small) == b"{}"
        assert _add(gb, "1", source=source) == from_file  # idempotent
    sha = hashlib.sha256(big).hexdigest()
    blobs = list((tmp_path / "gb.sqlite.blobs").rglob("*"))
    assert [p.name for p in blobs if p.is_file()] == [sha]  # stored once
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT participant, length(content), content_ref"
                           " FROM submissions ORDER BY participant").fetchall()
    assert rows == [("1", 0, f"{sha[:2]}/{sha}"), ("2", 0, f"{sha[:2]}/{sha}"), ("3", 2, None)]


def test_a_missing_or_altered_blob_is_a_gradebook_error(tmp_path: Path) -> None:
    big = os.urandom(INLINE_MAX_BYTES + 10)
    with Gradebook(tmp_path / "gb.sqlite") as gb:
        sid = _add(gb, "1", data=big)
        (blob,) = [p for p in (tmp_path / "gb.sqlite.blobs").rglob("*") if p.is_file()]
        blob.write_bytes(b"tampered")
        with pytest.raises(GradebookError, match="corrupt"):
            gb.content(sid)
        blob.unlink()
        with pytest.raises(GradebookError, match="blobs"):
            gb.content(sid)


def test_wrong_hash_is_refused_and_nothing_recorded(tmp_path: Path) -> None:
    source = tmp_path / "big.ipynb"
    source.write_bytes(os.urandom(INLINE_MAX_BYTES + 1))
    with Gradebook(tmp_path / "gb.sqlite") as gb:
        with pytest.raises(GradebookError, match="changed"):
            gb.add_submission(assignment="a", participant="1", file="f", sha256="0" * 64,
                              source=source)
        assert gb.latest_submissions("a") == []


def test_schema_1_gradebook_is_upgraded_in_place(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    with sqlite3.connect(db) as con:  # what schema 1 created
        con.executescript("""
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            INSERT INTO meta VALUES ('schema', '1');
            CREATE TABLE submissions (id INTEGER PRIMARY KEY, assignment TEXT NOT NULL,
                participant TEXT NOT NULL, participant_name TEXT NOT NULL DEFAULT '',
                is_group INTEGER NOT NULL DEFAULT 0, file TEXT NOT NULL, sha256 TEXT NOT NULL,
                content BLOB NOT NULL, intake_json TEXT NOT NULL DEFAULT '{}',
                received_at REAL NOT NULL, UNIQUE (assignment, participant, sha256));
            INSERT INTO submissions VALUES (1, 'a', '7', '', 0, 'f', 'h', x'7b7d', '{}', 0);
        """)
    with Gradebook(db) as gb:
        assert gb.content(1) == b"{}"
        big = os.urandom(INLINE_MAX_BYTES + 1)
        assert gb.content(_add(gb, "8", data=big)) == big
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT value FROM meta").fetchone() == (str(SCHEMA_VERSION),)


def test_many_results_in_one_transaction_and_any_number_of_ids(tmp_path: Path) -> None:
    with Gradebook(tmp_path / "gb.sqlite") as gb:
        ids = [_add(gb, str(i), data=str(i).encode()) for i in range(1500)]
        result = SubmissionResult(participant="p", file="", sha256="", status=Status.MISSING,
                                  checks=[CheckResult("test_a", 0.0, 2.0, False, "none")])
        gb.save_results([(sid, result) for sid in ids[:1000]], run_id=None)
        assert gb.ungraded(ids) == ids[1000:]
        assert gb.count_results("14_n") == 1000
        stored = gb.result(ids[0])
        assert stored is not None and stored.status is Status.MISSING
        assert stored.max_score == 2.0
