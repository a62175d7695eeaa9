"""``autograder grade`` as a batch job sees it: output to a file shows one progress line
per finished submission while it runs, and SIGTERM stops it with one clean line (no
traceback, no leaked semaphores, no kernel left behind); the rerun finishes the rest."""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.engine.kernel.proctree import descendants
from autograder.engine.kernel.sandbox import bwrap_available

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LINE = re.compile(r"^\[(\d+)/(\d+)\] (\S+) (\w+) ([\d.]+)/([\d.]+) ([\d.]+)s$")

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap")]


def _submissions(folder: Path, names: dict[str, str]) -> Path:
    folder.mkdir()
    for participant, sample in names.items():
        shutil.copy(HERE / "notebooks" / f"{sample}.ipynb", folder / f"{participant}.ipynb")
    return folder


def _grade(tmp: Path, subs: Path) -> list[str]:
    return [sys.executable, "-m", "autograder", "grade", "02_n", str(subs),
            "--out", str(tmp / "out"), "--gradebook", str(tmp / "gb.sqlite"),
            "--assignments", str(HERE / "assignments"), "--lang", "en"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "AUTOGRADER_LANG": "en"}


def test_output_to_a_file_has_one_progress_line_per_submission(tmp_path: Path) -> None:
    subs = _submissions(tmp_path / "subs", {"ann": "add_correct", "ben": "add_wrong",
                                            "cy": "hello"})
    log = tmp_path / "grade.log"
    with log.open("w") as fh:
        code = subprocess.run([*_grade(tmp_path, subs), "--jobs", "2"], stdout=fh,
                              stderr=subprocess.STDOUT, env=_env(), timeout=600,
                              check=False).returncode
    text = log.read_text(encoding="utf-8")
    assert code == 0, text
    lines = [m for m in map(LINE.match, text.splitlines()) if m]
    assert sorted(m[3] for m in lines) == ["ann", "ben", "cy"], text
    assert sorted(int(m[1]) for m in lines) == [1, 2, 3] and {m[2] for m in lines} == {"3"}
    scores = {m[3]: (m[4], float(m[5]), float(m[6])) for m in lines}
    assert scores["ann"] == ("graded", 4.0, 4.0) and scores["ben"] == ("graded", 1.0, 4.0)
    assert "\x1b[" not in text, "no terminal control codes in a log"


def _wait_for_line(log: Path, proc: subprocess.Popen[bytes], deadline_s: float) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end and proc.poll() is None:
        if any(LINE.match(line) for line in log.read_text(encoding="utf-8").splitlines()):
            return
        time.sleep(0.2)
    pytest.fail(f"no progress line before the deadline:\n{log.read_text(encoding='utf-8')}")


def _gone(pids: list[int], deadline_s: float) -> list[int]:
    end = time.monotonic() + deadline_s
    alive = pids
    while alive and time.monotonic() < end:
        alive = [p for p in alive if Path(f"/proc/{p}").exists()
                 and "Z" not in Path(f"/proc/{p}/stat").read_text().split(")")[-1][:3]]
        time.sleep(0.2)
    return alive


def test_sigterm_stops_cleanly_and_the_rerun_finishes(tmp_path: Path) -> None:
    # ann is graded first; bo and cal sleep until the cell limit, so SIGTERM finds one in
    # flight and one queued
    subs = _submissions(tmp_path / "subs", {"ann": "add_correct", "bo": "sleep_forever",
                                            "cal": "sleep_forever"})
    log = tmp_path / "grade.log"
    with log.open("w") as fh:
        proc = subprocess.Popen([*_grade(tmp_path, subs), "--jobs", "1"], stdout=fh,
                                stderr=subprocess.STDOUT, env=_env())
        try:
            _wait_for_line(log, proc, deadline_s=300)
            family = descendants(proc.pid)
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    text = log.read_text(encoding="utf-8")
    assert code == 128 + signal.SIGTERM, text
    assert "stopped by SIGTERM" in text and "run the same command again" in text, text
    assert "Traceback" not in text and "leaked" not in text, text
    assert family and not _gone(family, deadline_s=30), "workers and kernels are stopped"
    rerun = subprocess.run([*_grade(tmp_path, subs), "--jobs", "2"], capture_output=True,
                           text=True, env=_env(), timeout=600, check=False)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    with (tmp_path / "out" / "results.csv").open(encoding="utf-8") as fh:
        rows = {r["participant"]: r["status"] for r in csv.DictReader(fh)}
    assert rows == {"ann": "graded", "bo": "timeout", "cal": "timeout"}
