"""The gradebook on real SQLite: idempotent intake, one result per submission, WAL writers."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
from pathlib import Path

import pytest

from autograder.core.errors import GradebookError
from autograder.core.results import CheckResult, Notice, Status, SubmissionResult
from autograder.store.gradebook import Gradebook


def _result(participant: str, points: float) -> SubmissionResult:
    return SubmissionResult(
        participant=participant, file="14_n.ipynb", sha256="x", status=Status.GRADED,
        checks=[CheckResult("test_a", points, 2.0, points == 2.0, "ok"),
                CheckResult("cell_b", 1.0, 1.0, True, "", kind="cell")],
        notices=[Notice("misnamed", "名前が違います", "misnamed")], penalty=0.5)


def test_add_submission_is_idempotent_by_hash(tmp_path: Path) -> None:
    with Gradebook(tmp_path / "gb.sqlite") as gb:
        a = gb.add_submission(assignment="14_n", participant="1", file="f", sha256="h1",
                              content=b"one")
        b = gb.add_submission(assignment="14_n", participant="1", file="f", sha256="h1",
                              content=b"one")
        c = gb.add_submission(assignment="14_n", participant="1", file="f", sha256="h2",
                              content=b"two")
        assert a == b != c
        assert gb.content(c) == b"two"
        assert [s.id for s in gb.latest_submissions("14_n")] == [c]


def test_result_round_trip_and_replacement(tmp_path: Path) -> None:
    with Gradebook(tmp_path / "gb.sqlite") as gb:
        sid = gb.add_submission(assignment="14_n", participant="7", file="f", sha256="h",
                                content=b"x")
        assert gb.ungraded([sid]) == [sid]
        gb.save_result(sid, _result("7", 1.0))
        gb.save_result(sid, _result("7", 2.0))  # regrade replaces, never duplicates
        res = gb.result(sid)
        assert res is not None and res.score == pytest.approx(2.5)
        assert res.max_score == 3.0 and res.notices[0].code == "misnamed"
        assert [c.name for c in res.checks] == ["test_a", "cell_b"]
        assert gb.ungraded([sid]) == []
    db = sqlite3.connect(tmp_path / "gb.sqlite")
    assert db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 1
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _writer(path: str, sid: int) -> None:
    with Gradebook(Path(path)) as gb:
        for _ in range(20):
            gb.save_result(sid, _result(str(sid), 2.0))


def test_concurrent_writers_from_processes(tmp_path: Path) -> None:
    path = tmp_path / "gb.sqlite"
    with Gradebook(path) as gb:
        ids = [gb.add_submission(assignment="a", participant=str(i), file="f", sha256=str(i),
                                 content=b"") for i in range(4)]
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), sid)) for sid in ids]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with Gradebook(path) as gb:
        assert gb.ungraded(ids) == [] and gb.count_results("a") == 4


def test_corrupt_file_gives_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "gb.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(GradebookError) as err:
        Gradebook(bad)
    assert "gb.sqlite" in str(err.value)
