"""The gradebook: one embedded SQLite database (WAL) that is the truth.

Every submission is recorded by content hash before it is graded; a result is written in
one transaction when its grading ends, so a killed batch loses nothing and a rerun grades
only what has no result. Workers in other processes write their own results (WAL lets
readers and one writer work at once; writers wait on ``busy_timeout``).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import GradebookError
from .results import CheckResult, Notice, Status, SubmissionResult

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY,
    assignment TEXT NOT NULL,
    participant TEXT NOT NULL,
    participant_name TEXT NOT NULL DEFAULT '',
    is_group INTEGER NOT NULL DEFAULT 0,
    file TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    content BLOB NOT NULL,
    intake_json TEXT NOT NULL DEFAULT '{}',
    received_at REAL NOT NULL,
    UNIQUE (assignment, participant, sha256)
);
CREATE TABLE IF NOT EXISTS results (
    submission_id INTEGER PRIMARY KEY REFERENCES submissions(id),
    status TEXT NOT NULL,
    score REAL NOT NULL,
    max_score REAL NOT NULL,
    penalty REAL NOT NULL DEFAULT 0,
    reason TEXT NOT NULL DEFAULT '',
    exec_seconds REAL NOT NULL DEFAULT 0,
    check_seconds REAL NOT NULL DEFAULT 0,
    notices_json TEXT NOT NULL DEFAULT '[]',
    executed_notebook TEXT,
    run_id INTEGER,
    graded_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS checks (
    submission_id INTEGER NOT NULL REFERENCES submissions(id),
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    points REAL NOT NULL,
    max_points REAL NOT NULL,
    passed INTEGER NOT NULL,
    message TEXT NOT NULL,
    metric REAL,
    PRIMARY KEY (submission_id, name)
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    assignment TEXT NOT NULL,
    command TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    graded INTEGER NOT NULL DEFAULT 0
);
"""


@dataclass(frozen=True)
class StoredSubmission:
    id: int
    assignment: str
    participant: str
    participant_name: str
    is_group: bool
    file: str
    sha256: str
    intake: dict[str, object]


class Gradebook:
    """A connection to the gradebook file; cheap to open, one per process/thread."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA busy_timeout=60000")
            self._db.executescript(_SCHEMA)
            self._check_version()
        except sqlite3.DatabaseError as exc:
            raise GradebookError(f"cannot open the gradebook ({exc})", where=str(self.path),
                                 hint="pass another --gradebook path, or restore a backup") from exc

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None:
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)",
                             (str(SCHEMA_VERSION),))
        elif int(row[0]) > SCHEMA_VERSION:
            raise GradebookError(f"gradebook schema {row[0]} is newer than this autograder",
                                 where=str(self.path), hint="upgrade dl-autograder")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Gradebook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        # BEGIN IMMEDIATE takes the write lock up front, so two workers never deadlock
        # upgrading read locks.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- submissions -------------------------------------------------------------
    def add_submission(self, *, assignment: str, participant: str, file: str, sha256: str,
                       content: bytes, participant_name: str = "", is_group: bool = False,
                       intake: dict[str, object] | None = None) -> int:
        """Record a submission (idempotent on assignment+participant+hash); return its id."""
        with self._tx() as db:
            row = db.execute("SELECT id FROM submissions WHERE assignment=? AND participant=?"
                             " AND sha256=?", (assignment, participant, sha256)).fetchone()
            if row:
                db.execute("UPDATE submissions SET file=?, participant_name=?, is_group=?,"
                           " intake_json=? WHERE id=?",
                           (file, participant_name, int(is_group),
                            json.dumps(intake or {}, ensure_ascii=False), row[0]))
                return int(row[0])
            cur = db.execute(
                "INSERT INTO submissions (assignment, participant, participant_name, is_group,"
                " file, sha256, content, intake_json, received_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (assignment, participant, participant_name, int(is_group), file, sha256,
                 content, json.dumps(intake or {}, ensure_ascii=False), time.time()))
            return int(cur.lastrowid or 0)

    def submission(self, submission_id: int) -> StoredSubmission:
        row = self._db.execute(
            "SELECT id, assignment, participant, participant_name, is_group, file, sha256,"
            " intake_json FROM submissions WHERE id=?", (submission_id,)).fetchone()
        if row is None:
            raise GradebookError(f"no submission {submission_id}", where=str(self.path))
        return _stored(row)

    def content(self, submission_id: int) -> bytes:
        row = self._db.execute("SELECT content FROM submissions WHERE id=?",
                               (submission_id,)).fetchone()
        if row is None:
            raise GradebookError(f"no submission {submission_id}", where=str(self.path))
        return bytes(row[0])

    def latest_submissions(self, assignment: str) -> list[StoredSubmission]:
        """The newest submission of each participant for an assignment."""
        rows = self._db.execute(
            "SELECT id, assignment, participant, participant_name, is_group, file, sha256,"
            " intake_json FROM submissions s WHERE assignment=? AND received_at = ("
            " SELECT MAX(received_at) FROM submissions t WHERE t.assignment=s.assignment"
            " AND t.participant=s.participant) ORDER BY participant", (assignment,)).fetchall()
        return [_stored(r) for r in rows]

    def ungraded(self, ids: list[int]) -> list[int]:
        if not ids:
            return []
        done = {r[0] for r in self._db.execute(
            f"SELECT submission_id FROM results WHERE submission_id IN "
            f"({','.join('?' * len(ids))})", ids)}
        return [i for i in ids if i not in done]

    # --- results -----------------------------------------------------------------
    def save_result(self, submission_id: int, result: SubmissionResult,
                    run_id: int | None = None) -> None:
        """Replace the result of a submission atomically (exactly one per submission)."""
        notices = [n.__dict__ for n in result.notices]
        with self._tx() as db:
            db.execute("DELETE FROM checks WHERE submission_id=?", (submission_id,))
            db.execute(
                "INSERT OR REPLACE INTO results (submission_id, status, score, max_score,"
                " penalty, reason, exec_seconds, check_seconds, notices_json,"
                " executed_notebook, run_id, graded_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (submission_id, result.status.value, result.score, result.max_score,
                 result.penalty, result.reason, result.exec_seconds, result.check_seconds,
                 json.dumps(notices, ensure_ascii=False), result.executed_notebook, run_id,
                 time.time()))
            db.executemany(
                "INSERT INTO checks VALUES (?,?,?,?,?,?,?,?,?)",
                [(submission_id, i, c.name, c.kind, c.points, c.max_points, int(c.passed),
                  c.message, c.metric) for i, c in enumerate(result.checks)])

    def result(self, submission_id: int) -> SubmissionResult | None:
        row = self._db.execute(
            "SELECT r.status, r.penalty, r.reason, r.exec_seconds, r.check_seconds,"
            " r.notices_json, r.executed_notebook, s.participant, s.file, s.sha256"
            " FROM results r JOIN submissions s ON s.id = r.submission_id"
            " WHERE r.submission_id=?", (submission_id,)).fetchone()
        if row is None:
            return None
        checks = [CheckResult(name=n, points=p, max_points=m, passed=bool(ok), message=msg,
                              kind=k, metric=v) for n, k, p, m, ok, msg, v in self._db.execute(
            "SELECT name, kind, points, max_points, passed, message, metric FROM checks"
            " WHERE submission_id=? ORDER BY position", (submission_id,))]
        return SubmissionResult(
            participant=row[7], file=row[8], sha256=row[9], status=Status(row[0]),
            checks=checks, notices=[Notice(**n) for n in json.loads(row[5])], reason=row[2],
            penalty=row[1], exec_seconds=row[3], check_seconds=row[4],
            executed_notebook=row[6])

    def count_results(self, assignment: str) -> int:
        return int(self._db.execute(
            "SELECT COUNT(*) FROM results r JOIN submissions s ON s.id=r.submission_id"
            " WHERE s.assignment=?", (assignment,)).fetchone()[0])

    # --- runs --------------------------------------------------------------------
    def start_run(self, *, assignment: str, command: str) -> int:
        with self._tx() as db:
            cur = db.execute("INSERT INTO runs (assignment, command, started_at) VALUES"
                             " (?,?,?)", (assignment, command, time.time()))
            return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, *, graded: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE runs SET finished_at=?, graded=? WHERE id=?",
                       (time.time(), graded, run_id))


def _stored(row: tuple[object, ...]) -> StoredSubmission:
    return StoredSubmission(id=int(str(row[0])), assignment=str(row[1]), participant=str(row[2]),
                            participant_name=str(row[3]), is_group=bool(row[4]),
                            file=str(row[5]), sha256=str(row[6]),
                            intake=json.loads(str(row[7])))
