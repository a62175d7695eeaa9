"""A batch killed with SIGKILL finishes on rerun with exactly one result per submission,
and ``--jobs 2`` gives the same results as ``--jobs 1``."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.engine.kernel.sandbox import bwrap_available

HERE = Path(__file__).resolve().parent
SAMPLES = ["add_correct", "add_wrong", "hello", "add_eq_always_true"]
N = 20

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap")]


def _command(subs: Path, out: Path, gradebook: Path, jobs: int) -> list[str]:
    return [sys.executable, "-m", "autograder", "grade", "02_n", str(subs),
            "--out", str(out), "--gradebook", str(gradebook), "--jobs", str(jobs),
            "--assignments", str(HERE / "assignments")]


def _results(gradebook: Path) -> int:
    if not gradebook.exists():
        return 0
    try:
        with sqlite3.connect(gradebook, timeout=5) as db:
            return int(db.execute("SELECT COUNT(*) FROM results").fetchone()[0])
    except sqlite3.OperationalError:  # tables not created yet
        return 0


def _table(out: Path) -> dict[str, tuple[str, str]]:
    with (out / "results.csv").open(encoding="utf-8") as fh:
        return {row["participant"]: (row["status"], row["score"]) for row in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def subs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("subs")
    for i in range(N):
        shutil.copy(HERE / "notebooks" / f"{SAMPLES[i % len(SAMPLES)]}.ipynb",
                    folder / f"s{i:02d}.ipynb")
    return folder


@pytest.fixture(scope="module")
def killed_then_rerun(subs: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``--jobs 2`` killed with SIGKILL after a few results, then run again to the end."""
    tmp = tmp_path_factory.mktemp("killed")
    gradebook, out = tmp / "gb.sqlite", tmp / "out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(_command(subs, out, gradebook, 2), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 240
    while _results(gradebook) < 4 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the grader, its workers and their kernels
    proc.wait(30)
    (tmp / "done_before").write_text(str(_results(gradebook)))
    rerun = subprocess.run(_command(subs, out, gradebook, 2), env=env, capture_output=True,
                           text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    return {"gradebook": gradebook, "out": out, "tmp": tmp}


def test_sigkill_midway_then_rerun_finishes_exactly_once(killed_then_rerun: dict[str, Path]
                                                         ) -> None:
    done_before = int((killed_then_rerun["tmp"] / "done_before").read_text())
    assert 0 < done_before < N, "the kill must land midway"
    with sqlite3.connect(killed_then_rerun["gradebook"]) as db:
        per_submission = db.execute(
            "SELECT s.participant, COUNT(r.submission_id) FROM submissions s"
            " LEFT JOIN results r ON r.submission_id = s.id GROUP BY s.id").fetchall()
        runs = db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    assert len(per_submission) == N
    assert all(count == 1 for _, count in per_submission)
    assert runs == 2
    assert len(_table(killed_then_rerun["out"])) == N


def test_jobs_2_equals_jobs_1(subs: Path, tmp_path: Path,
                              killed_then_rerun: dict[str, Path]) -> None:
    out = tmp_path / "out1"
    done = subprocess.run(_command(subs, out, tmp_path / "gb1.sqlite", 1),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    jobs1, jobs2 = _table(out), _table(killed_then_rerun["out"])
    assert len(jobs1) == N
    assert jobs1 == jobs2
