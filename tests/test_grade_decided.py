"""Rows whose outcome intake already decided never enter the worker pool (issue 14).

``grade`` runs for real on the tiny 02_n assignment with a real SQLite gradebook; only
the pool is replaced by a recorder, so a test can show what would have been sent to it.
Timings are in ``bench/intake_20k.py``, not here.
"""

from __future__ import annotations

import csv
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

import pytest
from moodle_zips import add_entry, notebook_bytes

import autograder.grading.batch
import autograder.grading.decided
from autograder.cli import EXIT_BUG, main
from autograder.engine.zero_catalog import ZeroCatalog
from autograder.grading.batch import grade
from autograder.store.gradebook import Gradebook

HERE = Path(__file__).resolve().parent
ASSIGNMENTS = HERE / "assignments"
N = 20_000


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """What ``grade`` sends to the worker pool (nothing is graded there)."""
    sent: list[int] = []

    def record(tasks: Any, **_: Any) -> list[Any]:
        sent.extend(task.submission_id for task in tasks)
        return []

    monkeypatch.setattr(autograder.grading.batch, "run_pool", record)
    return sent


@pytest.fixture
def catalogues(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every check catalogue ``grade`` collects (each one is a pytest collection)."""
    calls: list[str] = []
    real = autograder.grading.decided.collect_catalog_apart

    def counted(assignment_id: str, assignments_root: Path) -> ZeroCatalog:
        calls.append(assignment_id)
        return real(assignment_id, assignments_root)

    monkeypatch.setattr(autograder.grading.decided, "collect_catalog_apart", counted)
    return calls


def _empty_folders_zip(path: Path, n: int) -> Path:
    with zipfile.ZipFile(path, "w") as zf:  # Moodle 3.x and 4.1+ folder forms, half each
        for i in range(n):
            add_entry(zf, f"Student {i}_{100_000 + i}_assignsubmission_file"
                          f"{'_' if i % 2 else ''}/", b"")
    return path


def _rows(out: Path) -> list[dict[str, str]]:
    with (out / "results.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_20000_empty_folders_never_reach_the_pool(tmp_path: Path, pool: list[int],
                                                  catalogues: list[str]) -> None:
    zip_path = _empty_folders_zip(tmp_path / "dl.zip", N)
    with zipfile.ZipFile(zip_path) as zf:
        assert len(zf.infolist()) == N and all(i.is_dir() for i in zf.infolist())
    gradebook = tmp_path / "gb.sqlite"
    summary = grade(assignment_id="02_n", submissions=[zip_path], out=tmp_path / "out",
                    gradebook=gradebook, assignments_root=ASSIGNMENTS, lang="en")
    assert pool == [] and catalogues == ["02_n"]
    assert len(summary.graded_now) == N and summary.skipped == 0
    rows = _rows(tmp_path / "out")
    assert len(rows) == N
    assert {r["participant"] for r in rows} == {str(100_000 + i) for i in range(N)}
    assert {(r["status"], r["score"], r["max_score"], r["reason"]) for r in rows} == {
        ("missing", "0", "4", "No 02_n notebook was submitted.")}
    with sqlite3.connect(gradebook) as db:  # each with every graded item at zero
        assert db.execute("SELECT COUNT(*), SUM(points) FROM checks").fetchone() == (3 * N, 0)
    assert not any((tmp_path / "out" / ".intake").iterdir())  # extraction removed
    again = grade(assignment_id="02_n", submissions=[zip_path], out=tmp_path / "out",
                  gradebook=gradebook, assignments_root=ASSIGNMENTS, lang="en")
    assert again.skipped == N and catalogues == ["02_n"]  # nothing to collect for


def test_only_notebooks_to_grade_are_sent(tmp_path: Path, pool: list[int],
                                          catalogues: list[str]) -> None:
    zip_path = tmp_path / "dl.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        add_entry(zf, "Taro_1_assignsubmission_file/02_n.ipynb", notebook_bytes())
        add_entry(zf, "Hanako_2_assignsubmission_file/13_n.ipynb", notebook_bytes())
        add_entry(zf, "Jiro_3_assignsubmission_file/", b"")
        add_entry(zf, "Saburo_4_assignsubmission_file/../../x.ipynb", notebook_bytes())
    gradebook = tmp_path / "gb.sqlite"
    grade(assignment_id="02_n", submissions=[zip_path], out=tmp_path / "out",
          gradebook=gradebook, assignments_root=ASSIGNMENTS, lang="en")
    with Gradebook(gradebook) as gb:
        by_participant = {s.participant: s.id for s in gb.latest_submissions("02_n")}
        assert pool == [by_participant["1"]] and catalogues == ["02_n"]
        statuses = {p: (r.status.value if (r := gb.result(i)) else None)
                    for p, i in by_participant.items()}
    assert statuses == {"1": None, "2": "wrong_assignment", "3": "missing", "4": "refused"}


def test_a_submission_that_cannot_be_stored_is_an_error_not_the_end(
        tmp_path: Path, pool: list[int], catalogues: list[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    real = Gradebook.add_submission

    def failing(self: Gradebook, **kwargs: Any) -> int:
        if kwargs["participant"] == "2" and kwargs.get("source") is not None:
            raise OSError(28, "No space left on device")
        return real(self, **kwargs)

    monkeypatch.setattr(Gradebook, "add_submission", failing)
    zip_path = tmp_path / "dl.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        for pid in (1, 2, 3):
            add_entry(zf, f"S{pid}_{pid}_assignsubmission_file/02_n.ipynb",
                      notebook_bytes(f"x = {pid}\n"))
    grade(assignment_id="02_n", submissions=[zip_path], out=tmp_path / "out",
          gradebook=tmp_path / "gb.sqlite", assignments_root=ASSIGNMENTS, lang="en")
    rows = {r["participant"]: r for r in _rows(tmp_path / "out")}
    assert set(rows) == {"2"} and rows["2"]["status"] == "error"
    assert "could not be stored" in rows["2"]["reason"]
    assert "No space left" in rows["2"]["reason"]
    assert len(pool) == 2  # the other two go on to be graded


def test_an_unexpected_exception_is_one_line_not_a_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> None:
    def broken(**_: Any) -> None:
        raise KeyError("\x1b[2Jsurprise [/]")

    monkeypatch.setattr(autograder.grading.batch, "grade", broken)
    monkeypatch.delenv("AUTOGRADER_DEBUG", raising=False)
    code = main(["--lang", "en", "grade", "02_n", str(tmp_path), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == EXIT_BUG
    assert "Traceback" not in err and "\x1b" not in err
    assert err.strip().startswith("unexpected error: KeyError:")
    assert "[/]" in err and "please report it" in err


def test_a_changed_verdict_replaces_the_old_one(tmp_path: Path, pool: list[int],
                                                catalogues: list[str]) -> None:
    """Every decided row of a participant holds the same empty content, so it is one row
    across runs: the result must follow what intake says now."""
    from moodle_zips import symlink_mode

    first, second = tmp_path / "early.zip", tmp_path / "late.zip"
    with zipfile.ZipFile(first, "w") as zf:
        add_entry(zf, "Jiro_3_assignsubmission_file/", b"")
        add_entry(zf, "Saburo_4_assignsubmission_file/", b"")
    with zipfile.ZipFile(second, "w") as zf:
        add_entry(zf, "Jiro_3_assignsubmission_file/02_n.ipynb", b"/etc/passwd",
                  mode=symlink_mode())
        add_entry(zf, "Saburo_4_assignsubmission_file/", b"")
    gradebook, out = tmp_path / "gb.sqlite", tmp_path / "out"
    for zip_path in (first, second):
        summary = grade(assignment_id="02_n", submissions=[zip_path], out=out,
                        gradebook=gradebook, assignments_root=ASSIGNMENTS, lang="en")
    assert summary.skipped == 1 and len(summary.graded_now) == 1  # Saburo: unchanged
    rows = {r["participant"]: r for r in _rows(out)}
    assert (rows["3"]["status"], rows["4"]["status"]) == ("refused", "missing")
    assert "symbolic links" in rows["3"]["reason"]
    assert pool == [] and catalogues == ["02_n", "02_n"]
