"""The gradebook: one embedded SQLite database (WAL) that is the truth.

Every submission is recorded by content hash before it is graded; a result is written in
one transaction when its grading ends, so a killed batch loses nothing and a rerun grades
only what has no result. Workers in other processes write their own results (WAL lets
readers and one writer work at once; writers wait on ``busy_timeout``).

Submitted bytes up to ``INLINE_MAX_BYTES`` are kept in the database; larger ones by
reference, in a content-addressed file beside it (``blobstore``), copied in chunks, so
no size of submission can make SQLite fail (``string or blob too big``) or the grader
hold it twice in memory.

Every result records the fingerprint of what produced it (``fingerprint.py``); a
person's grades live beside the results and outlive them: ``reviews`` (one per
hand-graded answer, keyed by participant, cell and the answer text's hash, never by a
result) and ``overrides`` (``autograder adjust``, keyed by the submission's hash).
``result()`` applies both (``hand_grades.py``), so every reader sees the same total.

Schema history, each upgraded in place when an older gradebook is opened: 2 added
``submissions.content_ref``; 3 added ``results.fingerprint(_json)``,
``checks.review_state``/``answer_sha256`` and the ``reviews`` and ``overrides`` tables.
A result stored before schema 3 has no fingerprint, so it counts as stale.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import GradebookError
from ..core.i18n import tr
from ..core.intake_record import IntakeRecord, IntakeRecordError
from ..core.results import (
    REVIEW_PENDING,
    CheckResult,
    Notice,
    Override,
    Review,
    Status,
    SubmissionResult,
)
from ..core.safetext import visible
from .blobs import BlobStore
from .fingerprint import Fingerprint
from .hand_grades import apply_hand_grades

SCHEMA_VERSION = 3
INLINE_MAX_BYTES = 1 << 20  # larger submissions live in the blob store
_MAX_PARAMS = 900           # SQLite host parameters per statement, with room to spare

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
    content_ref TEXT,
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
    graded_at REAL NOT NULL,
    fingerprint TEXT NOT NULL DEFAULT '',
    fingerprint_json TEXT NOT NULL DEFAULT ''
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
    review_state TEXT NOT NULL DEFAULT '',
    answer_sha256 TEXT NOT NULL DEFAULT '',
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
CREATE TABLE IF NOT EXISTS reviews (
    assignment TEXT NOT NULL,
    participant TEXT NOT NULL,
    grade_id TEXT NOT NULL,
    answer_sha256 TEXT NOT NULL,
    points REAL NOT NULL,
    max_points REAL NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    reviewer TEXT NOT NULL DEFAULT '',
    reviewed_at REAL NOT NULL,
    PRIMARY KEY (assignment, participant, grade_id, answer_sha256)
);
CREATE TABLE IF NOT EXISTS overrides (
    id INTEGER PRIMARY KEY,
    assignment TEXT NOT NULL,
    participant TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    points REAL NOT NULL,
    relative INTEGER NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    author TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS overrides_of ON overrides (assignment, participant, sha256);
"""
# Columns added after schema 1, per table: (name, declaration). Added in place on open.
_ADDED_COLUMNS = {
    "submissions": [("content_ref", "TEXT")],                                    # 2
    "results": [("fingerprint", "TEXT NOT NULL DEFAULT ''"),                     # 3
                ("fingerprint_json", "TEXT NOT NULL DEFAULT ''")],
    "checks": [("review_state", "TEXT NOT NULL DEFAULT ''"),                     # 3
               ("answer_sha256", "TEXT NOT NULL DEFAULT ''")],
}


@dataclass(frozen=True)
class StoredSubmission:
    id: int
    assignment: str
    participant: str
    participant_name: str
    is_group: bool
    file: str
    sha256: str
    intake: IntakeRecord


class Gradebook:
    """A connection to the gradebook file; cheap to open, one per process/thread."""

    def __init__(self, path: Path, *, create: bool = True):
        """Open (and with ``create``, make) the gradebook at ``path``. Readers such as
        ``export`` pass ``create=False``: a mistyped path is an error, not a new empty
        gradebook that then says "nothing graded"."""
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise GradebookError(tr(ja="採点記録がありません", en="no gradebook here"),
                                 where=str(self.path),
                                 hint=tr(ja="先に `autograder grade` を実行するか、その --gradebook"
                                            " と同じパスを指定してください",
                                         en="run `autograder grade` first, or pass the same"
                                            " --gradebook it was given"))
        self.blobs = BlobStore.beside(self.path)
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
            raise GradebookError(tr(ja=f"採点記録を開けません ({exc})",
                                    en=f"cannot open the gradebook ({exc})"),
                                 where=str(self.path),
                                 hint=tr(ja="別の --gradebook を指定するか、"
                                            "バックアップから戻してください",
                                         en="pass another --gradebook path, or restore a backup")
                                 ) from exc

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is not None and int(row[0]) > SCHEMA_VERSION:
            raise GradebookError(tr(ja=f"採点記録の形式 {row[0]} は"
                                       "この autograder より新しいものです",
                                    en=f"gradebook schema {row[0]} is newer than this autograder"),
                                 where=str(self.path),
                                 hint=tr(ja="dl-autograder を更新してください",
                                         en="upgrade dl-autograder"))
        if row is not None and int(row[0]) == SCHEMA_VERSION:
            return
        for table, added in _ADDED_COLUMNS.items():
            columns = {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}
            for name, declaration in added:
                if name not in columns:
                    # another process may have upgraded it just now
                    with suppress(sqlite3.OperationalError):
                        self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)",
                         (str(SCHEMA_VERSION),))

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
                       content: bytes = b"", source: Path | None = None,
                       participant_name: str = "", is_group: bool = False,
                       intake: IntakeRecord | None = None) -> int:
        """Record a submission (idempotent on assignment+participant+hash); return its id.

        The bytes are ``content``, or the file ``source`` (copied in chunks, never held
        whole in memory when it is large); ``sha256`` must be theirs.
        """
        meta = (file, participant_name, int(is_group), (intake or IntakeRecord()).to_json())
        try:
            row = self._db.execute("SELECT id FROM submissions WHERE assignment=? AND"
                                   " participant=? AND sha256=?",
                                   (assignment, participant, sha256)).fetchone()
            if row:
                with self._tx() as db:
                    db.execute("UPDATE submissions SET file=?, participant_name=?, is_group=?,"
                               " intake_json=? WHERE id=?", (*meta, row[0]))
                return int(row[0])
            inline, ref = self._place(content, source, sha256)
            with self._tx() as db:
                cur = db.execute(
                    "INSERT INTO submissions (assignment, participant, participant_name,"
                    " is_group, file, sha256, content, intake_json, received_at, content_ref)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (assignment, participant, meta[1], meta[2], file, sha256, inline, meta[3],
                     time.time(), ref))
                return int(cur.lastrowid or 0)
        except sqlite3.Error as exc:
            raise self._error(exc, participant) from exc

    def _place(self, content: bytes, source: Path | None, sha256: str) -> tuple[bytes, str | None]:
        """(inline bytes, blob ref): small content inline, the rest in the blob store."""
        if source is not None and source.stat().st_size <= INLINE_MAX_BYTES:
            content, source = source.read_bytes(), None
        if source is None and len(content) <= INLINE_MAX_BYTES:
            return content, None
        stored, _ = (self.blobs.put_file(source) if source is not None
                     else self.blobs.put_bytes(content))
        if stored != sha256:
            raise GradebookError(tr(ja="保存中に提出ファイルが変わりました",
                                    en="the submission changed while it was stored"),
                                 where=str(source or self.path))
        return b"", self.blobs.ref(stored)

    def _error(self, exc: sqlite3.Error, participant: str) -> GradebookError:
        return GradebookError(tr(ja=f"参加者 {participant} の提出を記録できません ({exc})",
                                 en=f"cannot record the submission of {participant} ({exc})"),
                              where=str(self.path))

    def submission(self, submission_id: int) -> StoredSubmission:
        row = self._db.execute(
            "SELECT id, assignment, participant, participant_name, is_group, file, sha256,"
            " intake_json FROM submissions WHERE id=?", (submission_id,)).fetchone()
        if row is None:
            raise GradebookError(f"no submission {submission_id}", where=str(self.path))
        return self._stored(row)

    def content(self, submission_id: int) -> bytes:
        row = self._db.execute("SELECT content, content_ref FROM submissions WHERE id=?",
                               (submission_id,)).fetchone()
        if row is None:
            raise GradebookError(f"no submission {submission_id}", where=str(self.path))
        return self.blobs.read(row[1]) if row[1] else bytes(row[0])

    def latest_submissions(self, assignment: str) -> list[StoredSubmission]:
        """The newest submission of each participant for an assignment."""
        rows = self._db.execute(
            "SELECT id, assignment, participant, participant_name, is_group, file, sha256,"
            " intake_json FROM submissions s WHERE assignment=? AND received_at = ("
            " SELECT MAX(received_at) FROM submissions t WHERE t.assignment=s.assignment"
            " AND t.participant=s.participant) ORDER BY participant", (assignment,)).fetchall()
        return [self._stored(r) for r in rows]

    def _stored(self, row: tuple[object, ...]) -> StoredSubmission:
        sid, participant = int(str(row[0])), str(row[2])
        try:  # the rules for old and odd values: core/intake_record.py
            intake = IntakeRecord.from_json(str(row[7]))
        except IntakeRecordError as exc:
            raise _damaged_intake(self.path, sid, participant, exc.key) from exc
        return StoredSubmission(id=sid, assignment=str(row[1]), participant=participant,
                                participant_name=str(row[3]), is_group=bool(row[4]),
                                file=str(row[5]), sha256=str(row[6]), intake=intake)

    def ungraded(self, ids: list[int]) -> list[int]:
        done = self._with_result(ids)
        return [i for i in ids if i not in done]

    def failed(self, ids: list[int]) -> list[int]:
        """Those of ``ids`` whose result says the grader could not finish (``error``): no
        grade, so a later run grades them again."""
        bad = self._with_result(ids, status=Status.ERROR)
        return [i for i in ids if i in bad]

    def _with_result(self, ids: list[int], *, status: Status | None = None) -> set[int]:
        """Those of ``ids`` that have a result (with ``status``, when given)."""
        found: set[int] = set()
        where = "" if status is None else "status = ? AND "
        for start in range(0, len(ids), _MAX_PARAMS):  # any number of submissions
            chunk = ids[start:start + _MAX_PARAMS]
            found.update(r[0] for r in self._db.execute(
                f"SELECT submission_id FROM results WHERE {where}submission_id IN "
                f"({','.join('?' * len(chunk))})",
                [*([] if status is None else [status.value]), *chunk]))
        return found

    # --- results -----------------------------------------------------------------
    def save_result(self, submission_id: int, result: SubmissionResult,
                    run_id: int | None = None, fingerprint: Fingerprint | None = None) -> None:
        """Replace the result of a submission atomically (exactly one per submission),
        with the fingerprint of what produced it."""
        self.save_results([(submission_id, result)], run_id=run_id, fingerprint=fingerprint)

    def save_results(self, results: list[tuple[int, SubmissionResult]],
                     run_id: int | None = None, fingerprint: Fingerprint | None = None) -> None:
        """``save_result`` for many submissions in one transaction (thousands of rows
        that intake already decided cost one commit, not one each)."""
        with self._tx() as db:
            for submission_id, result in results:
                _write_result(db, submission_id, result, run_id, fingerprint)

    def result(self, submission_id: int, *, hand_grades: bool = True
               ) -> SubmissionResult | None:
        """The stored result, with the reviews and overrides that apply to it (unless
        ``hand_grades`` is false: the result exactly as the grader wrote it)."""
        row = self._db.execute(
            "SELECT r.status, r.penalty, r.reason, r.exec_seconds, r.check_seconds,"
            " r.notices_json, r.executed_notebook, s.participant, s.file, s.sha256,"
            " r.fingerprint, s.assignment FROM results r JOIN submissions s"
            " ON s.id = r.submission_id WHERE r.submission_id=?", (submission_id,)).fetchone()
        if row is None:
            return None
        checks = [CheckResult(name=n, points=p, max_points=m, passed=bool(ok), message=msg,
                              kind=k, metric=v, review_state=rs, answer_sha256=ah)
                  for n, k, p, m, ok, msg, v, rs, ah in self._db.execute(
            "SELECT name, kind, points, max_points, passed, message, metric, review_state,"
            " answer_sha256 FROM checks WHERE submission_id=? ORDER BY position",
            (submission_id,))]
        result = SubmissionResult(
            participant=row[7], file=row[8], sha256=row[9], status=Status(row[0]),
            checks=checks, notices=[Notice(**n) for n in json.loads(row[5])], reason=row[2],
            penalty=row[1], exec_seconds=row[3], check_seconds=row[4],
            executed_notebook=row[6], fingerprint=row[10])
        if not hand_grades:
            return result
        return apply_hand_grades(result, self.reviews(row[11], row[7]),
                                 self.overrides(row[11], row[7], row[9]))

    def count_results(self, assignment: str) -> int:
        return int(self._db.execute(
            "SELECT COUNT(*) FROM results r JOIN submissions s ON s.id=r.submission_id"
            " WHERE s.assignment=?", (assignment,)).fetchone()[0])

    def fingerprints(self, ids: list[int]) -> dict[int, Fingerprint | None]:
        """The stored fingerprint of each id that has a result (``None``: not recorded)."""
        found: dict[int, Fingerprint | None] = {}
        parsed: dict[str, Fingerprint | None] = {}
        for start in range(0, len(ids), _MAX_PARAMS):
            chunk = ids[start:start + _MAX_PARAMS]
            for sid, text in self._db.execute(
                    f"SELECT submission_id, fingerprint_json FROM results WHERE submission_id"
                    f" IN ({','.join('?' * len(chunk))})", chunk):
                if text not in parsed:  # a batch shares one: parse it once
                    parsed[text] = Fingerprint.from_json(text)
                found[int(sid)] = parsed[text]
        return found

    def newest_fingerprint(self, ids: list[int]) -> Fingerprint | None:
        """The fingerprint of the most recently graded result among ``ids``."""
        best: tuple[float, str] | None = None
        for start in range(0, len(ids), _MAX_PARAMS):
            chunk = ids[start:start + _MAX_PARAMS]
            row = self._db.execute(
                f"SELECT graded_at, fingerprint_json FROM results WHERE submission_id IN"
                f" ({','.join('?' * len(chunk))}) ORDER BY graded_at DESC LIMIT 1",
                chunk).fetchone()
            if row is not None and (best is None or row[0] > best[0]):
                best = (float(row[0]), str(row[1]))
        return Fingerprint.from_json(best[1]) if best else None

    # --- hand grading ------------------------------------------------------------
    def awaiting_review(self, ids: list[int]) -> list[int]:
        """The ids among ``ids`` with an answer that still waits for a person."""
        candidates: list[int] = []
        for start in range(0, len(ids), _MAX_PARAMS):  # cheap: only pending rows come back
            chunk = ids[start:start + _MAX_PARAMS]
            candidates += [int(r[0]) for r in self._db.execute(
                f"SELECT DISTINCT submission_id FROM checks WHERE review_state=? AND"
                f" submission_id IN ({','.join('?' * len(chunk))})", [REVIEW_PENDING, *chunk])]
        return [i for i in candidates if (res := self.result(i)) is not None and res.provisional]

    def save_review(self, *, assignment: str, participant: str, review: Review) -> None:
        """Record (or replace) a person's grade for one answer, in one transaction."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO reviews VALUES (?,?,?,?,?,?,?,?,?)",
                       (assignment, participant, review.grade_id, review.answer_sha256,
                        review.points, review.max_points, review.comment, review.by,
                        review.at or time.time()))

    def reviews(self, assignment: str, participant: str) -> list[Review]:
        return [Review(*row) for row in self._db.execute(
            "SELECT grade_id, answer_sha256, points, max_points, comment, reviewer,"
            " reviewed_at FROM reviews WHERE assignment=? AND participant=?",
            (assignment, participant))]

    def add_override(self, *, assignment: str, participant: str, sha256: str,
                     override: Override) -> None:
        """Record a change to one submission's total (applied after earlier ones)."""
        with self._tx() as db:
            db.execute("INSERT INTO overrides (assignment, participant, sha256, points,"
                       " relative, comment, author, created_at) VALUES (?,?,?,?,?,?,?,?)",
                       (assignment, participant, sha256, override.points,
                        int(override.relative), override.comment, override.by,
                        override.at or time.time()))

    def overrides(self, assignment: str, participant: str, sha256: str) -> list[Override]:
        return [Override(points=p, relative=bool(r), comment=c, by=b, at=t)
                for p, r, c, b, t in self._db.execute(
            "SELECT points, relative, comment, author, created_at FROM overrides WHERE"
            " assignment=? AND participant=? AND sha256=? ORDER BY created_at, id",
            (assignment, participant, sha256))]

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


def _damaged_intake(path: Path, sid: int, participant: str, key: str) -> GradebookError:
    who = visible(participant)
    return GradebookError(
        tr(ja=f"提出 {sid}(参加者 {who})の受付記録 intake_json が壊れています"
              f"({key or '全体'})",
           en=f"the intake record (intake_json) of submission {sid} (participant {who})"
              f" is damaged (at {key or 'the top level'})"),
        where=str(path),
        hint=tr(ja="元の提出ファイルで grade をもう一度実行すると書き直されます",
                en="running grade again on the original submissions rewrites it"))


def _write_result(db: sqlite3.Connection, submission_id: int, result: SubmissionResult,
                  run_id: int | None, fingerprint: Fingerprint | None) -> None:
    notices = [n.__dict__ for n in result.notices]
    db.execute("DELETE FROM checks WHERE submission_id=?", (submission_id,))
    db.execute(
        "INSERT OR REPLACE INTO results (submission_id, status, score, max_score,"
        " penalty, reason, exec_seconds, check_seconds, notices_json,"
        " executed_notebook, run_id, graded_at, fingerprint, fingerprint_json)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (submission_id, result.status.value, result.checks_score, result.max_score,
         result.penalty, result.reason, result.exec_seconds, result.check_seconds,
         json.dumps(notices, ensure_ascii=False), result.executed_notebook, run_id,
         time.time(), fingerprint.digest if fingerprint else "",
         fingerprint.to_json() if fingerprint else ""))
    db.executemany(
        "INSERT INTO checks (submission_id, position, name, kind, points, max_points,"
        " passed, message, metric, review_state, answer_sha256)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        [(submission_id, i, c.name, c.kind, c.points, c.max_points, int(c.passed),
          c.message, c.metric, c.review_state, c.answer_sha256)
         for i, c in enumerate(result.checks)])
