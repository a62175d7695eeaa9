"""``grade --cluster local:2``: a LocalCluster of two worker processes on 127.0.0.1 grades
like the local pool, and every submission ends with exactly one result when a worker
dies, when a submission kills its worker (``crashed``), and when the client is killed.

The batch is the fast test assignment 02_n (tests/assignments): real sandboxed kernels,
real SQLite, real Dask.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from autograder.core.results import Status
from autograder.engine.kernel.sandbox import bwrap_available
from autograder.engine.pool import TaskOutcome
from autograder.grading.batch import grade
from autograder.grading.cluster.connect import parse_target
from autograder.grading.summary import GradeSummary
from autograder.store.gradebook import Gradebook

HERE = Path(__file__).resolve().parent
ASSIGNMENTS = HERE / "assignments"
SAMPLES = {"add_correct": 4.0, "add_wrong": 1.0, "hello": 3.0, "add_eq_always_true": 0.0}
N = 8

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap")]


def _folder(tmp: Path, extra: dict[str, str] | None = None) -> Path:
    """N submissions cycling through SAMPLES (s00..s07), and ``extra`` name → marker."""
    folder = tmp / "subs"
    folder.mkdir()
    names = list(SAMPLES)
    for i in range(N):
        shutil.copy(HERE / "notebooks" / f"{names[i % len(names)]}.ipynb",
                    folder / f"s{i:02d}.ipynb")
    for name, marker in (extra or {}).items():
        text = (HERE / "notebooks" / "add_correct.ipynb").read_text(encoding="utf-8")
        (folder / f"{name}.ipynb").write_text(text.replace("return a + b",
                                                           f"return a + b  # {marker}"),
                                              encoding="utf-8")
    return folder


def _expected(participant: str) -> float:
    names = list(SAMPLES)
    return SAMPLES[names[int(participant[1:]) % len(names)]]


def _grade(subs: Path, gb: Path, *, cluster: str | None, jobs: int,
           on_done: Callable[[TaskOutcome], None] | None = None,
           kernel_factory: str = "autograder.engine.kernel.sandboxed:SandboxedKernel",
           fork: bool | None = None) -> GradeSummary:
    return grade(assignment_id="02_n", submissions=[subs], out=gb.parent / "out",
                 gradebook=gb, jobs=jobs, assignments_root=ASSIGNMENTS, lang="en",
                 cluster=parse_target(cluster, None), on_done=on_done,
                 kernel_factory=kernel_factory, fork=fork)


def _results(gb: Path) -> dict[str, tuple[object, ...]]:
    """participant → (status, score, reason, checks, notices): all but timings."""
    with Gradebook(gb) as book:
        out = {}
        for stored in book.latest_submissions("02_n"):
            res = book.result(stored.id)
            assert res is not None, stored.participant
            out[stored.participant] = (res.status, res.score, res.reason,
                                       [c.to_dict() for c in res.checks],
                                       [n.__dict__ for n in res.notices])
        return out


def _one_result_each(gb: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(gb) as db:
        return db.execute("SELECT s.participant, COUNT(r.submission_id) FROM submissions s"
                          " LEFT JOIN results r ON r.submission_id = s.id"
                          " GROUP BY s.id").fetchall()


def _listening_ports() -> dict[int, set[str]]:
    """Port → local IPv4 addresses of every listening TCP socket (from /proc/net/tcp)."""
    found: dict[int, set[str]] = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if state != "0A":  # LISTEN
            continue
        addr, port = local.split(":")
        ip = ".".join(str(int(addr[i:i + 2], 16)) for i in (6, 4, 2, 0))
        found.setdefault(int(port, 16), set()).add(ip)
    return found


def test_local_cluster_grades_like_the_local_pool(tmp_path: Path) -> None:
    from distributed import default_client

    seen: list[dict[str, object]] = []

    def look_at_the_cluster(outcome: TaskOutcome) -> None:
        if not seen:
            seen.append(default_client().scheduler_info())
            seen.append({"listening": _listening_ports()})

    subs = _folder(tmp_path)
    _grade(subs, tmp_path / "pool" / "gb.sqlite", cluster=None, jobs=2)
    summary = _grade(subs, tmp_path / "dask" / "gb.sqlite", cluster="local:2", jobs=1,
                     on_done=look_at_the_cluster)
    info = seen[0]
    workers: dict[str, dict[str, object]] = info["workers"]  # type: ignore[assignment]
    assert str(info["address"]).startswith("tcp://127.0.0.1:")
    assert len(workers) == 2 and all(a.startswith("tcp://127.0.0.1:") for a in workers)
    assert all(w["resources"] == {"kernel": 1.0} for w in workers.values())  # one slot each
    # distributed always runs the scheduler's HTTP endpoints (health, metrics; no dashboard
    # without bokeh): on the scheduler's host, 127.0.0.1, never on every interface
    listening: dict[int, set[str]] = seen[1]["listening"]  # type: ignore[assignment]
    ports = [int(p) for w in [info, *workers.values()]
             for p in (w.get("services") or {}).values()]  # type: ignore[union-attr]
    assert all(listening.get(p, {"127.0.0.1"}) == {"127.0.0.1"} for p in ports), listening
    pool, dask = _results(tmp_path / "pool" / "gb.sqlite"), _results(tmp_path / "dask" /
                                                                     "gb.sqlite")
    assert len(dask) == N and dask == pool
    assert {p: r[1] for p, r in dask.items()} == {p: _expected(p) for p in dask}
    assert len(summary.graded_now) == N and not summary.messages


def test_a_worker_killed_midway_every_submission_ends_with_one_result(tmp_path: Path
                                                                      ) -> None:
    from distributed import default_client

    killed: list[int] = []

    def kill_a_busy_worker(outcome: TaskOutcome) -> None:
        if killed:
            return
        client = default_client()
        busy = [addr for addr, keys in client.processing().items() if keys]
        if busy:
            pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    # Spawned kernels (seconds per submission) keep the worker mid-task when it is
    # killed; with forked ones a task takes about a second, and the worker killed after
    # the first result can be between tasks: then nothing runs again, nothing to report.
    summary = _grade(_folder(tmp_path), tmp_path / "gb.sqlite", cluster="local:2", jobs=2,
                     on_done=kill_a_busy_worker, fork=False)
    assert killed, "no worker was busy after the first result"
    counts = _one_result_each(tmp_path / "gb.sqlite")
    assert all(count == 1 for _, count in counts), (counts, summary.graded_now)
    results = _results(tmp_path / "gb.sqlite")
    assert {p: (r[0], r[1]) for p, r in results.items()} == {
        p: (Status.GRADED, _expected(p)) for p in results}
    assert any(m.code == "cluster_reruns" for m in summary.messages)


def test_a_submission_that_kills_its_worker_twice_is_crashed(tmp_path: Path) -> None:
    subs = _folder(tmp_path, {"killer": "AG_TEST_KILL_WORKER",
                              "exiter": "AG_TEST_EXIT_GRADER"})
    summary = _grade(subs, tmp_path / "gb.sqlite", cluster="local:2", jobs=2,
                     kernel_factory="cluster_kernels:WorkerKillingKernel")
    counts = _one_result_each(tmp_path / "gb.sqlite")
    assert all(count == 1 for _, count in counts), (counts, summary.graded_now)
    results = _results(tmp_path / "gb.sqlite")
    for who in ("killer", "exiter"):
        status, score, reason, checks, notices = results.pop(who)
        assert (status, score) == (Status.CRASHED, 0.0), who
        assert "died twice" in str(reason) and checks, who
        assert [n["code"] for n in notices] == ["crashed"], who  # type: ignore[index]
    assert {p: (r[0], r[1]) for p, r in results.items()} == {
        p: (Status.GRADED, _expected(p)) for p in results}
    crashed = [o for o in summary.graded_now if o.status is Status.CRASHED]
    assert len(crashed) == 2


def _command(subs: Path, tmp: Path) -> list[str]:
    return [sys.executable, "-m", "autograder", "grade", "02_n", str(subs),
            "--out", str(tmp / "out"), "--gradebook", str(tmp / "gb.sqlite"),
            "--assignments", str(ASSIGNMENTS), "--cluster", "local:2", "--jobs", "1"]


def _count(gb: Path) -> int:
    try:
        with sqlite3.connect(gb, timeout=5) as db:
            return int(db.execute("SELECT COUNT(*) FROM results").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_client_killed_midway_then_rerun_finishes_the_rest(tmp_path: Path) -> None:
    subs = _folder(tmp_path)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "AUTOGRADER_LANG": "en"}
    proc = subprocess.Popen(_command(subs, tmp_path), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while _count(tmp_path / "gb.sqlite") < 2 and time.monotonic() < deadline:
        assert proc.poll() is None, "the batch ended before it could be killed"
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)  # the client, its scheduler, workers and kernels
    proc.wait(30)
    before = _count(tmp_path / "gb.sqlite")
    assert 0 < before < N, "the kill must land midway"
    rerun = subprocess.run(_command(subs, tmp_path), env=env, capture_output=True, text=True,
                           timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert all(count == 1 for _, count in _one_result_each(tmp_path / "gb.sqlite"))
    with sqlite3.connect(tmp_path / "gb.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 2
    scores = {p: r[1] for p, r in _results(tmp_path / "gb.sqlite").items()}
    assert scores == {p: _expected(p) for p in scores}
