"""Does the grader's memory stay flat over a long batch? RSS over 1,000 trivial submissions.

Builds N (default 1,000) distinct trivial submissions of ``bench/assignments/01_n`` (the
released notebook, ``return a + b`` in the stub, a comment with the student's number),
one folder per student, and grades them with the real CLI in a subprocess (``--jobs 2``,
a fresh gradebook). While it runs, every ``--interval`` seconds the script reads from
``/proc``, for each process below the grader:

- **grader**: the ``autograder grade`` process itself;
- **workers**: its ``multiprocessing`` grading workers (spawned; the resource tracker is
  left out);
- **templates**: each worker's kernel template (``ag_zygote``; its two bubblewrap
  processes are counted with it);
- **kernels**: everything else (the forked or spawned kernels of the moment, counted
  apart: they come and go with the submissions);

their resident set (``VmRSS``) and proportional set (``Pss`` from ``smaps_rollup``, so
pages a template shares with its kernels and torch's pages shared between processes
count once), together with the number of results in the gradebook at that moment. The
table shows the first sample at or after each milestone (100, 250, 500, 750 results),
the last sample in which every worker still had its template (just before the batch
closes them), and the first sample with all N results (the workers, without their
templates, about to exit). Every result must be ``graded`` with full marks (2/2) or the
run is reported as failed.

    .venv/bin/python bench/rss_1000.py                    # 1,000 submissions, forked kernels
    .venv/bin/python bench/rss_1000.py --n 200 --no-fork  # spawned kernels
    .venv/bin/python bench/rss_1000.py --report samples.json   # the table again (--json)

Not part of the test suite (no timed tests). Results: ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENTS = REPO / "bench" / "assignments"
ASSIGNMENT_ID = "01_n"
STUB = "raise NotImplementedError()"
MILESTONES = (100, 250, 500, 750)
ROLES = ("grader", "workers", "templates", "kernels")
RUNNER = """
import os, sys
from autograder.cli import main
code = main(sys.argv[1:])
with open("/proc/self/status") as fh:
    peak = next(line for line in fh if line.startswith("VmHWM:")).split()[1]
with open(os.environ["AG_PEAK_FILE"], "w") as fh:
    fh.write(peak)
sys.exit(code)
"""


# ---------------------------------------------------------------- the submissions


def build_submissions(folder: Path, n: int) -> None:
    """``folder/sNNNN/01_n.ipynb``: the released notebook solved, one per student."""
    from autograder.authoring.release import release

    released = json.loads(release(assignment_id=ASSIGNMENT_ID, out=folder / ".release",
                                  assignments_root=ASSIGNMENTS, lang="en").read_text())
    stubs = [c for c in released["cells"]
             if c["cell_type"] == "code" and STUB in _text(c["source"])]
    if len(stubs) != 1:
        raise SystemExit(f"expected one stub ({STUB!r}) in the released notebook, "
                         f"found {len(stubs)}")
    stub, original = stubs[0], _text(stubs[0]["source"])
    for i in range(n):
        stub["source"] = f"# student {i:04d}\n" + original.replace(STUB, "return a + b")
        target = folder / f"s{i:04d}"
        target.mkdir(parents=True)
        (target / f"{ASSIGNMENT_ID}.ipynb").write_text(json.dumps(released, indent=1),
                                                       encoding="utf-8")


def _text(source: str | list[str]) -> str:
    return "".join(source) if isinstance(source, list) else source


# ---------------------------------------------------------------- /proc


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read().decode("ascii", "replace")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(name))
    return kids


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def _memory_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, Pss) in kB; (0, 0) once the process is gone."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmRSS:"):
                    rss = int(line.split()[1])
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    pss = int(line.split()[1])
    except (OSError, ValueError):
        return 0, 0
    return rss, pss


def _subtree(pid: int, kids: dict[int, list[int]]) -> list[int]:
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(kids.get(p, []))
    return found


def classify(grader: int) -> dict[str, list[int]]:
    """The grader's processes by role (see the module docstring). A template's children
    are forked, so they carry its command line: the template is the first process below
    its bubblewrap chain, and everything below it is a kernel."""
    kids = _children()
    roles: dict[str, list[int]] = {role: [] for role in ROLES}
    roles["grader"].append(grader)
    for worker in kids.get(grader, []):
        if "resource_tracker" in _cmdline(worker):
            continue
        roles["workers"].append(worker)
        for child in kids.get(worker, []):
            line = _cmdline(child)
            if not (line.startswith("bwrap ") and "ag_zygote" in line):
                roles["kernels"].extend(_subtree(child, kids))
                continue
            pid = child
            while _cmdline(pid).startswith("bwrap "):
                roles["templates"].append(pid)
                below = kids.get(pid, [])
                if len(below) != 1:
                    pid = 0
                    break
                pid = below[0]
            if pid:
                roles["templates"].append(pid)
                roles["kernels"].extend(_subtree(pid, kids)[1:])
    return roles


# ---------------------------------------------------------------- sampling


@dataclass
class Sample:
    t: float
    results: int
    rss: dict[str, int]          # kB by role
    pss: dict[str, int]
    count: dict[str, int]


@dataclass
class Run:
    n: int
    jobs: int
    fork: bool
    wall: float = 0.0
    grader_peak_mb: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    worker_peak_mb: dict[int, float] = field(default_factory=dict)


def _results(gradebook: Path) -> int:
    if not gradebook.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{gradebook}?mode=ro", uri=True, timeout=1) as db:
            return int(db.execute("SELECT COUNT(*) FROM results").fetchone()[0])
    except sqlite3.Error:
        return -1


def sample(grader: int, gradebook: Path, t0: float, run: Run) -> Sample | None:
    results = _results(gradebook)
    roles = classify(grader)
    rss: dict[str, int] = {}
    pss: dict[str, int] = {}
    for role, pids in roles.items():
        figures = [_memory_kb(p) for p in pids]
        rss[role] = sum(f[0] for f in figures)
        pss[role] = sum(f[1] for f in figures)
    for pid in roles["workers"]:
        peak = _peak_mb(pid)
        run.worker_peak_mb[pid] = max(run.worker_peak_mb.get(pid, 0.0), peak)
    if results < 0 or not rss["grader"]:
        return None
    return Sample(time.monotonic() - t0, results, rss, pss,
                  {role: len(pids) for role, pids in roles.items()})


def _peak_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def grade_and_sample(subs: Path, work: Path, *, n: int, jobs: int, fork: bool,
                     interval: float) -> Run:
    out, peak, gradebook = work / "out", work / "peak", work / "gb.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO), "AG_PEAK_FILE": str(peak), "NO_COLOR": "1"}
    argv = [sys.executable, "-c", RUNNER, "--lang", "en", "grade", ASSIGNMENT_ID, str(subs),
            "--out", str(out), "--gradebook", str(gradebook), "--jobs", str(jobs),
            "--assignments", str(ASSIGNMENTS), *([] if fork else ["--no-fork"])]
    run = Run(n, jobs, fork)
    log = (work / "grade.log").open("wb")
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    try:
        while proc.poll() is None:
            got = sample(proc.pid, gradebook, t0, run)
            if got is not None:
                run.samples.append(got)
            time.sleep(interval)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        log.close()
    run.wall = time.monotonic() - t0
    if proc.returncode != 0:
        tail = (work / "grade.log").read_text(errors="replace")[-3000:]
        raise SystemExit(f"grade: exit {proc.returncode}\n{tail}")
    run.grader_peak_mb = int(peak.read_text()) / 1024
    check(gradebook, n)
    return run


def check(gradebook: Path, n: int) -> None:
    with sqlite3.connect(gradebook) as db:
        rows = db.execute("SELECT status, score, max_score FROM results").fetchall()
    wrong = [r for r in rows if r != ("graded", 2.0, 2.0)]
    if len(rows) != n or wrong:
        raise SystemExit(f"{len(rows)} results (expected {n}); not graded in full: "
                         f"{len(wrong)}, e.g. {wrong[:3]}")


# ---------------------------------------------------------------- report


def picked(run: Run) -> list[tuple[str, Sample]]:
    """The first sample at or after each milestone; the last one with every worker and
    (forked kernels) its template; the first one with all results and every worker."""
    chosen: list[tuple[str, Sample]] = []
    for mark in MILESTONES:
        if mark >= run.n:
            continue
        first = next((s for s in run.samples if s.results >= mark), None)
        if first is not None:
            chosen.append((str(mark), first))
    full = [s for s in run.samples if s.count["workers"] >= run.jobs
            and (not run.fork or s.count["templates"] >= 1)]
    if full:
        chosen.append(("last with templates" if run.fork else "last", full[-1]))
    done = next((s for s in run.samples if s.results >= run.n
                 and s.count["workers"] >= run.jobs), None)
    if done is not None and (not full or done is not full[-1]):
        chosen.append((f"all {run.n} results", done))
    return chosen


def table(run: Run) -> str:
    mb = 1024
    lines = ["| milestone | results | t s | grader RSS MB | workers RSS MB (n) |"
             " templates RSS MB (n) | grader+workers+templates RSS MB | same, PSS MB |"
             " kernels alive: n, RSS MB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for mark, s in picked(run):
        own = ("grader", "workers", "templates")
        lines.append(
            f"| {mark} | {s.results} | {s.t:.0f} | {s.rss['grader'] / mb:.0f} |"
            f" {s.rss['workers'] / mb:.0f} ({s.count['workers']}) |"
            f" {s.rss['templates'] / mb:.0f} ({s.count['templates']}) |"
            f" {sum(s.rss[r] for r in own) / mb:.0f} | {sum(s.pss[r] for r in own) / mb:.0f} |"
            f" {s.count['kernels']}, {s.rss['kernels'] / mb:.0f} |")
    return "\n".join(lines)


def machine_line() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}; load average (1/5/15 min): {load}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--n", type=int, default=1000, help="submissions (default 1000)")
    p.add_argument("--jobs", type=int, default=2, help="worker slots (default 2)")
    p.add_argument("--no-fork", action="store_true", help="spawn every kernel")
    p.add_argument("--interval", type=float, default=0.5, help="seconds between samples")
    p.add_argument("--workdir", type=Path, help="keep the submissions and outputs here")
    p.add_argument("--json", type=Path, help="also write every sample here")
    p.add_argument("--report", type=Path, help="only print the table of a --json file")
    ns = p.parse_args(argv)
    if ns.report:
        run = from_json(json.loads(ns.report.read_text()))
        print(table(run))
        return 0
    if ns.n < 1 or ns.jobs < 1 or ns.interval <= 0:
        p.error("--n, --jobs and --interval must be positive")
    work = ns.workdir or Path(tempfile.mkdtemp(prefix="ag-rss-"))
    work.mkdir(parents=True, exist_ok=True)
    subs = work / "submissions"
    build_submissions(subs, ns.n)
    before = machine_line()
    print(f"grading {ns.n} submissions ...", file=sys.stderr, flush=True)
    run = grade_and_sample(subs, work, n=ns.n, jobs=ns.jobs, fork=not ns.no_fork,
                           interval=ns.interval)
    print(f"machine (before): {before}\nmachine (after):  {machine_line()}\n")
    print(f"{run.n} trivial submissions of {ASSIGNMENT_ID}, --jobs {run.jobs}, "
          f"{'forked' if run.fork else 'spawned'} kernels: {run.wall:.1f} s wall, "
          f"{len(run.samples)} samples\n")
    print(table(run))
    peaks = ", ".join(f"{v:.0f}" for v in run.worker_peak_mb.values())
    print(f"\npeak RSS (VmHWM): grader {run.grader_peak_mb:.0f} MB; workers {peaks} MB")
    if ns.json:
        ns.json.write_text(json.dumps({"machine": before, "wall": run.wall, "n": run.n,
                                       "jobs": run.jobs, "fork": run.fork,
                                       "grader_peak_mb": run.grader_peak_mb,
                                       "samples": [s.__dict__ for s in run.samples]}))
    return 0


def from_json(data: dict[str, object]) -> Run:
    """A run back from ``--json`` (files from before n/jobs/fork were saved: 1000, 2,
    forked)."""
    run = Run(int(data.get("n", 1000)), int(data.get("jobs", 2)),  # type: ignore[call-overload]
              bool(data.get("fork", True)), wall=float(data["wall"]))  # type: ignore[arg-type]
    run.samples = [Sample(**s) for s in data["samples"]]  # type: ignore[attr-defined]
    return run


if __name__ == "__main__":
    sys.exit(main())
