"""What hostile Moodle downloads cost the grader: wall time and peak memory of
``autograder grade`` on zips where intake decides every row (issue 14).

Cases (each a real zip built with ``zipfile``; no notebook is executed, so no kernel,
no bubblewrap and no worker pool is involved):

- ``empty-N``: N empty student folders (Moodle 3.x and 4.1+ forms, half each): N rows
  ``missing``, their zero results from one check catalogue;
- ``stray-N``: one empty student folder and N-1 files in no participant's folder: one
  summed line;
- ``huge-1GB``: one student whose only file is a 1 GiB notebook (streamed into the zip,
  deflating about 60:1): ``refused`` from its declared size, never read.

Each case runs the real CLI in a subprocess (``python -c`` calling ``autograder.cli.main``
then reading its own ``VmHWM``), on the tiny ``tests/assignments/02_n``, with a fresh
gradebook, and is checked before its time counts (exit 0, every row in ``results.csv``
with the expected status). Prints a Markdown table (median of ``--repeat`` runs).

Usage::

    .venv/bin/python bench/intake_20k.py                 # 1k, 5k, 20k + the 1 GB case
    .venv/bin/python bench/intake_20k.py --sizes 20000 --repeat 3
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from moodle_zips import add_entry, add_streamed_notebook  # noqa: E402

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


@dataclass(frozen=True)
class Case:
    name: str
    entries: int
    status: str          # the status every participant row must have
    rows: int
    build: Callable[[zipfile.ZipFile], None]


def empty(n: int) -> Case:
    def build(zf: zipfile.ZipFile) -> None:
        for i in range(n):
            add_entry(zf, f"Student {i}_{100_000 + i}_assignsubmission_file"
                          f"{'_' if i % 2 else ''}/", b"")
    return Case(f"empty-{n}", n, "missing", n, build)


def stray(n: int) -> Case:
    def build(zf: zipfile.ZipFile) -> None:
        add_entry(zf, "Only Student_1_assignsubmission_file/", b"")
        for i in range(n - 1):
            add_entry(zf, f"loose/junk-{i:05d}.txt", b"x")
    return Case(f"stray-{n}", n, "missing", 1, build)


def huge() -> Case:
    def build(zf: zipfile.ZipFile) -> None:
        add_streamed_notebook(zf, "Mallory_1_assignsubmission_file/02_n.ipynb", mib=1024)
    return Case("huge-1GB", 1, "refused", 1, build)


@dataclass(frozen=True)
class Timing:
    seconds: float
    peak_mb: float


def run_once(case: Case, zip_path: Path, work: Path) -> Timing:
    out, peak = work / "out", work / "peak"
    env = {**os.environ, "PYTHONPATH": str(REPO), "AG_PEAK_FILE": str(peak), "NO_COLOR": "1"}
    argv = [sys.executable, "-c", RUNNER, "--lang", "en", "grade", "02_n", str(zip_path),
            "--out", str(out), "--gradebook", str(work / "gb.sqlite"),
            "--assignments", str(REPO / "tests" / "assignments")]
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=3600,
                          cwd=REPO)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{case.name}: exit {done.returncode}\n{done.stderr[-2000:]}")
    with (out / "results.csv").open(encoding="utf-8") as fh:
        statuses = [row["status"] for row in csv.DictReader(fh)]
    if len(statuses) != case.rows or set(statuses) != {case.status}:
        raise SystemExit(f"{case.name}: unexpected results {sorted(set(statuses))} "
                         f"({len(statuses)} rows)")
    return Timing(seconds, int(peak.read_text()) / 1024)


def measure(case: Case, repeat: int) -> tuple[list[Timing], float]:
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        zip_path = Path(tmp) / "download.zip"
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            case.build(zf)
        size_mb = zip_path.stat().st_size / (1 << 20)
        timings = []
        for i in range(repeat):
            work = Path(tmp) / f"run{i}"
            work.mkdir()
            timings.append(run_once(case, zip_path, work))
    return timings, size_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-huge", action="store_true", help="skip the 1 GB notebook")
    args = parser.parse_args()
    cases = [make(n) for n in args.sizes for make in (empty, stray)]
    cases += [] if args.no_huge else [huge()]
    print(f"cores: {os.cpu_count()}, python {sys.version.split()[0]}, "
          f"median of {args.repeat}\n")
    print("| case | zip entries | zip MB | rows | wall s | ms per entry | grader peak MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for case in cases:
        timings, size_mb = measure(case, args.repeat)
        wall = statistics.median(t.seconds for t in timings)
        peak = max(t.peak_mb for t in timings)
        per_entry = wall / case.entries * 1000
        print(f"| {case.name} | {case.entries} | {size_mb:.1f} | {case.rows} | {wall:.1f} |"
              f" {per_entry:.2f} | {peak:.0f} |", flush=True)


if __name__ == "__main__":
    main()
