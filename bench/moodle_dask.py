"""What going through Dask costs: a class's Moodle zip graded by the local pool and by a
``--cluster local:N`` in one run.

The zip holds N distinct 13_n submissions (``zip_13n.py``, default 200). Each
configuration runs the real CLI in a subprocess with a fresh gradebook, timed from
process start to exit; the configurations alternate when ``--repeat`` > 1, so drift in
the machine's load hits all alike. Every run's ``results.csv`` must equal the first
one's (status and score of every participant), or the table says so.

    .venv/bin/python bench/moodle_dask.py                      # 200 students
    .venv/bin/python bench/moodle_dask.py --n 20 --configs pool:2,local:2x1

Configurations: ``pool:J`` (the local pool, ``--jobs J``: kernels forked from each
worker's template), ``spawn:J`` (the same with ``--no-fork``: every kernel spawned, as on
a Dask worker) and ``local:NxJ`` (``--cluster local:N --jobs J``: N Dask workers of J
kernel slots). Dask workers spawn their kernels, so ``spawn:J`` is the like-for-like
baseline for what Dask itself costs, and ``pool:J`` what a batch costs locally.
"""

from __future__ import annotations

import argparse
import csv
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from zip_13n import build_13n_zip  # noqa: E402


@dataclass
class Run:
    config: str
    wall_s: float
    results: dict[str, tuple[str, str]]
    exec_s: float
    check_s: float


def command(config: str, zip_path: Path, out: Path) -> list[str]:
    cmd = [sys.executable, "-m", "autograder", "grade", "13_n", str(zip_path),
           "--out", str(out), "--gradebook", str(out / "gb.sqlite")]
    kind, _, spec = config.partition(":")
    if kind == "pool":
        return [*cmd, "--jobs", spec]
    if kind == "spawn":
        return [*cmd, "--jobs", spec, "--no-fork"]
    workers, _, jobs = spec.partition("x")
    return [*cmd, "--cluster", f"local:{workers}", "--jobs", jobs or "1"]


def run_once(config: str, zip_path: Path, work: Path, i: int) -> Run:
    out = work / f"{config.replace(':', '-')}-{i}"
    env = {**os.environ, "AUTOGRADER_LANG": "en", "PYTHONPATH": str(REPO)}
    t0 = time.monotonic()
    done = subprocess.run(command(config, zip_path, out), env=env, capture_output=True,
                          text=True, timeout=7200, cwd=REPO)
    wall = time.monotonic() - t0
    if done.returncode != 0:
        raise SystemExit(f"{config}: exit {done.returncode}\n{done.stderr[-3000:]}")
    return read_run(config, out, wall)


def read_run(config: str, out: Path, wall: float) -> Run:
    with (out / "results.csv").open(encoding="utf-8") as fh:
        results = {r["participant"]: (r["status"], r["score"]) for r in csv.DictReader(fh)}
    with sqlite3.connect(out / "gb.sqlite") as db:
        exec_s, check_s = db.execute(
            "SELECT AVG(exec_seconds), AVG(check_seconds) FROM results").fetchone()
    return Run(config, wall, results, float(exec_s or 0), float(check_s or 0))


def table(runs: list[Run], n: int) -> str:
    base = statistics.median(r.wall_s for r in runs if r.config == runs[0].config)
    reference = runs[0].results
    lines = ["| configuration | kernels | runs | wall s (median) | s per submission |"
             " vs local pool | mean exec s | mean checks s | slot-s outside exec+checks |"
             " results = pool's |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for config in dict.fromkeys(r.config for r in runs):
        mine = [r for r in runs if r.config == config]
        wall = statistics.median(r.wall_s for r in mine)
        same = all(r.results == reference for r in mine)
        lines.append(
            f"| {label(config)} | {kernels(config)} | {len(mine)} | {wall:.1f} | "
            f"{wall / n:.2f} | {100 * (wall - base) / base:+.1f}% | "
            f"{statistics.mean(r.exec_s for r in mine):.2f} | "
            f"{statistics.mean(r.check_s for r in mine):.2f} | "
            f"{statistics.mean(outside(r, n) for r in mine):.2f} | {'yes' if same else 'NO'} |")
    return "\n".join(lines)


def outside(run: Run, n: int) -> float:
    """Slot-seconds per submission spent neither executing nor checking: start-up, the
    pool or the cluster, intake, gradebook writes, idle slots. Load on the machine
    stretches execution and checks alike in every configuration; this part is where
    going through Dask would show."""
    return run.wall_s * kernels(run.config) / n - (run.exec_s + run.check_s)


def label(config: str) -> str:
    kind, _, spec = config.partition(":")
    if kind == "pool":
        return f"local pool `--jobs {spec}`"
    if kind == "spawn":
        return f"local pool `--jobs {spec} --no-fork`"
    workers, _, jobs = spec.partition("x")
    return f"`--cluster local:{workers} --jobs {jobs or 1}`"


def kernels(config: str) -> int:
    spec = config.partition(":")[2]
    workers, _, jobs = spec.partition("x")
    return int(workers) * int(jobs or 1)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=200, help="students in the zip")
    p.add_argument("--configs", default="pool:2,local:2x1",
                   help="comma-separated: pool:J, spawn:J, local:NxJ (the first is the"
                        " baseline)")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--workdir", type=Path, default=None)
    args = p.parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="moodle-dask-"))
    work.mkdir(parents=True, exist_ok=True)
    zip_path = work / "moodle-13_n.zip"
    build_13n_zip(zip_path, args.n)
    configs = args.configs.split(",")
    runs: list[Run] = []
    load = os.getloadavg()
    for i in range(args.repeat):
        for config in configs:
            runs.append(run_once(config, zip_path, work, i))
            print(f"{config} run {i}: {runs[-1].wall_s:.1f} s", file=sys.stderr, flush=True)
    print(f"{args.n} students of 13_n, {os.cpu_count()} cores, load average "
          f"{load[0]:.1f} before and {os.getloadavg()[0]:.1f} after")
    print(table(runs, args.n))


if __name__ == "__main__":
    main()
