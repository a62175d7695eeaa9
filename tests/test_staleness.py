"""Results know what graded them: a check changed after grading makes exactly the results
graded before it stale; ``grade`` regrades those (and says so), ``--keep-stale`` keeps
them, ``export`` refuses a gradebook that mixes fingerprints unless ``--allow-stale``.

Real kernels and bubblewrap, real SQLite, the CLI as an instructor runs it, on a copy of
the tiny 02_n assignment whose check file the test edits.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.core.config import load_assignment
from autograder.core.results import CheckResult, Status, SubmissionResult
from autograder.engine.kernel.sandbox import bwrap_available
from autograder.store.fingerprint import (
    Fingerprint,
    _engine_files,
    effective_params,
    fingerprint,
)
from autograder.store.gradebook import SCHEMA_VERSION, Gradebook

HERE = Path(__file__).resolve().parent
NOTEBOOKS = HERE / "notebooks"
FIRST = {"s1": "add_correct", "s2": "add_wrong", "s3": "hello"}


def _cli(*args: str, lang: str = "ja") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "autograder", "--lang", lang, *args],
                          capture_output=True, text=True, timeout=600)


def _runs(gradebook: Path) -> dict[str, int]:
    """participant -> the run that wrote its result."""
    with sqlite3.connect(gradebook) as db:
        return dict(db.execute("SELECT s.participant, r.run_id FROM results r JOIN"
                               " submissions s ON s.id = r.submission_id").fetchall())


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("stale")
    root = tmp / "assignments"
    shutil.copytree(HERE / "assignments" / "02_n", root / "02_n")
    subs = tmp / "subs"
    subs.mkdir()
    for name, sample in FIRST.items():
        shutil.copy(NOTEBOOKS / f"{sample}.ipynb", subs / f"{name}.ipynb")
    return {"root": root, "subs": subs, "gradebook": tmp / "gb.sqlite", "out": tmp / "out",
            "tmp": tmp}


def _grade(course: dict[str, Path], *extra: str, lang: str = "ja"
           ) -> subprocess.CompletedProcess[str]:
    done = _cli("grade", "02_n", str(course["subs"]), "--out", str(course["out"]),
                "--gradebook", str(course["gradebook"]), "--assignments", str(course["root"]),
                *extra, lang=lang)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _export(course: dict[str, Path], *extra: str) -> subprocess.CompletedProcess[str]:
    return _cli("export", "02_n", "--out", str(course["tmp"] / "export"), "--gradebook",
                str(course["gradebook"]), "--assignments", str(course["root"]), *extra)


def _tighten_a_check(root: Path) -> None:
    """The instructor adds a case to test_add after grading."""
    tests = root / "02_n" / "tests" / "test_02_n.py"
    text = tests.read_text()
    tightened = text.replace("    for _ in range(5):",
                             "    if add(0, 0) != 0:\n"
                             "        checks.fail(ja='add(0, 0) は 0', en='add(0, 0) is 0')\n"
                             "    for _ in range(5):")
    assert tightened != text
    tests.write_text(tightened)


@pytest.mark.slow
@pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap")
def test_stale_results_are_regraded_exactly_and_export_refuses_a_mix(
        course: dict[str, Path]) -> None:
    first = _grade(course)
    assert "古い採点結果" not in first.stdout
    before = _runs(course["gradebook"])
    assert set(before) == set(FIRST)

    _tighten_a_check(course["root"])
    shutil.copy(NOTEBOOKS / "add_eq_always_true.ipynb", course["subs"] / "s4.ipynb")
    kept = _grade(course, "--keep-stale", lang="en")
    assert "kept 3 stale result(s)" in kept.stdout and "checks (tests/)" in kept.stdout
    mixed = _runs(course["gradebook"])
    assert {p: mixed[p] for p in FIRST} == before  # kept, not regraded
    assert mixed["s4"] not in before.values()      # the new one, under the new checks

    refused = _export(course)
    assert refused.returncode == 9, refused.stdout + refused.stderr
    message = " ".join(refused.stderr.split())
    assert "古い採点結果が 3 人分あります" in message and "チェック (tests/)" in message
    assert all(p in message for p in FIRST) and "s4" not in message
    assert "--allow-stale" in message
    assert not (course["tmp"] / "export" / "report.html").exists()

    rerun = _grade(course)
    assert "古い採点結果 3 件を採点し直します" in " ".join(rerun.stdout.split())
    after = _runs(course["gradebook"])
    assert after["s4"] == mixed["s4"]  # current: skipped
    assert len({after[p] for p in FIRST}) == 1 and after["s1"] not in mixed.values()

    exported = _export(course)
    assert exported.returncode == 0, exported.stderr[-2000:]
    again = _grade(course)
    assert "古い採点結果" not in again.stdout and _runs(course["gradebook"]) == after


@pytest.mark.slow
@pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap")
def test_export_allow_stale_warns_and_names_them(course: dict[str, Path]) -> None:
    _grade(course)
    (course["root"] / "02_n" / "tests" / "test_02_n.py").open("a").write("\n# tightened\n")
    shutil.copy(NOTEBOOKS / "add_correct.ipynb", course["subs"] / "s5.ipynb")
    _grade(course, "--keep-stale")
    allowed = _export(course, "--allow-stale")
    assert allowed.returncode == 0, allowed.stderr[-2000:]
    text = " ".join(allowed.stdout.split())
    assert "古い採点結果" in text and "--allow-stale" in text and "s1" in text


def test_each_part_of_the_fingerprint(tmp_path: Path) -> None:
    shutil.copytree(HERE / "assignments" / "02_n", tmp_path / "02_n")
    assignment = load_assignment("02_n", tmp_path)
    base = fingerprint(assignment, effective_params(assignment, None))
    assert base.parts["params"] == {"FACTOR": 3}
    assert base.changed(fingerprint(assignment, effective_params(assignment, {"FACTOR": 4}))
                        ) == ["params"]
    (tmp_path / "02_n" / "tests" / "__pycache__").mkdir()
    (tmp_path / "02_n" / "tests" / "__pycache__" / "x.pyc").write_bytes(b"cache")
    assert fingerprint(assignment, effective_params(assignment, None)) == base
    previous = base
    for part, path in (("tests", "tests/test_02_n.py"), ("manifest", "assignment.toml"),
                       ("source", "02_n.ipynb")):
        file = tmp_path / "02_n" / path
        file.write_bytes(file.read_bytes() + b"\n")
        now = load_assignment("02_n", tmp_path)
        current = fingerprint(now, effective_params(now, None))
        assert previous.changed(current) == [part]
        previous = current
    assert Fingerprint.from_json(base.to_json()) == base
    assert Fingerprint.from_json("") is None and base.changed(None) == list(base.parts)


def test_the_engine_hash_covers_grading_code_not_presentation() -> None:
    labels = {label for label, _ in _engine_files()}
    assert {"autograder/engine/grade_one.py", "autograder/engine/cells/scores.py",
            "autograder/engine/bridge/submission.py", "autograder/engine/kernel/sandboxed.py",
            "autograder/checks/runner.py", "autograder/engine/kernel/sandbox_files/ag_bridge.py",
            "autograder/core/config.py", "autograder/store/gradebook.py",
            "autograder/grading/batch.py", "autograder/intake/folders.py",
            "autograder_reference/perceptron.py"} <= labels
    assert not labels & {"autograder/export/command.py", "autograder/export/feedback.py",
                         "autograder/review/server.py", "autograder/cli/commands/grade_cmd.py",
                         "autograder/cli/__init__.py", "autograder/authoring/release.py",
                         "autograder/grading/staleness.py", "autograder/store/fingerprint.py",
                         "autograder/core/console.py", "autograder/moodle/model.py"}


def test_a_schema_2_gradebook_is_upgraded_and_its_results_are_stale(tmp_path: Path) -> None:
    db = tmp_path / "v2.sqlite"
    with sqlite3.connect(db) as con:  # what schema 2 created, with one graded submission
        con.executescript("""
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            INSERT INTO meta VALUES ('schema', '2');
            CREATE TABLE submissions (id INTEGER PRIMARY KEY, assignment TEXT NOT NULL,
                participant TEXT NOT NULL, participant_name TEXT NOT NULL DEFAULT '',
                is_group INTEGER NOT NULL DEFAULT 0, file TEXT NOT NULL, sha256 TEXT NOT NULL,
                content BLOB NOT NULL, intake_json TEXT NOT NULL DEFAULT '{}',
                received_at REAL NOT NULL, content_ref TEXT,
                UNIQUE (assignment, participant, sha256));
            CREATE TABLE results (submission_id INTEGER PRIMARY KEY, status TEXT NOT NULL,
                score REAL NOT NULL, max_score REAL NOT NULL, penalty REAL NOT NULL DEFAULT 0,
                reason TEXT NOT NULL DEFAULT '', exec_seconds REAL NOT NULL DEFAULT 0,
                check_seconds REAL NOT NULL DEFAULT 0, notices_json TEXT NOT NULL DEFAULT '[]',
                executed_notebook TEXT, run_id INTEGER, graded_at REAL NOT NULL);
            CREATE TABLE checks (submission_id INTEGER NOT NULL, position INTEGER NOT NULL,
                name TEXT NOT NULL, kind TEXT NOT NULL, points REAL NOT NULL,
                max_points REAL NOT NULL, passed INTEGER NOT NULL, message TEXT NOT NULL,
                metric REAL, PRIMARY KEY (submission_id, name));
            INSERT INTO submissions VALUES (1, '13_n', '7', '', 0, 'f', 'h', x'7b7d', '{}', 0,
                                            NULL);
            INSERT INTO results VALUES (1, 'graded', 1, 1, 0, '', 0, 0, '[]', NULL, 1, 0);
            INSERT INTO checks VALUES (1, 0, 'manual:comments', 'manual', 1, 1, 1, 'ok', NULL);
        """)
    with Gradebook(db) as gb:
        res = gb.result(1)
        assert res is not None and res.score == 1 and res.fingerprint == ""
        assert res.checks[0].review_state == "" and not res.provisional
        assert gb.fingerprints([1]) == {1: None}  # no fingerprint: stale
        gb.save_result(1, SubmissionResult("7", "f", "h", Status.GRADED, checks=[
            CheckResult("manual:comments", 0, 1, False, kind="manual", review_state="pending",
                        answer_sha256="a" * 64)]))
        assert gb.result(1).provisional  # type: ignore[union-attr]
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT value FROM meta").fetchone() == (str(SCHEMA_VERSION),)
        assert SCHEMA_VERSION == 3
