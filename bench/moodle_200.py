"""A class of 200 on 13_n: one Moodle 4.1 zip graded end to end by ``autograder grade``.

The zip holds 200 participants (Moodle 4.1+ folders, ``<name>_<id>_assignsubmission_file/
13_n.ipynb``), each a distinct notebook: one of 13_n's variants in tests/variants/
(two correct answers, two with one realistic bug each), made distinct by a comment with
the student's number in a solution cell. The real CLI grades it in a subprocess
(``--jobs 2``, a fresh gradebook) and the time from process start to exit counts. Before
a time is reported every row is checked: status ``graded`` and exactly the checks
``tests/variant_grading.py`` says that variant loses, nothing else.

Where the time went, from the gradebook (slot-seconds per submission, wall x jobs / N):
kernel start (a result's ``exec_seconds`` minus its cells' own times: waiting for a
kernel), execution (the cells), checks (``check_seconds``: pytest checks and test cells),
and the rest (the CLI's start, intake, gradebook writes, restoring, idle slots at the end).

Usage::

    .venv/bin/python bench/moodle_200.py                       # forked kernels
    .venv/bin/python bench/moodle_200.py --paths fork,spawn    # both, results compared
    .venv/bin/python bench/moodle_200.py --n 40 --jobs 2
    .venv/bin/python bench/moodle_200.py --paths fork,service  # and through `autograder serve`

The ``service`` path hands the zip to a grading service (``autograder serve``) started
before the run and warmed with one small batch of 13_n (untimed, as an instructor's
service has graded before): the timed command is ``autograder grade ... --service``,
from its start to its exit; the service's own start and warm-up are printed apart.

Not part of the test suite (no timed tests). Results: ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from moodle_zips import FOLDERS_4X, Student, build_submissions_zip  # noqa: E402

VARIANTS = ("13_n_alt", "13_n_alt_recursive_softmax", "13_n_bug_softmax_unstable",
            "13_n_bug_step_at_zero")
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


CLI = [sys.executable, "-c", "import sys; from autograder.cli import main; sys.exit(main())"]


def expected_losses() -> dict[str, frozenset[str]]:
    from variant_grading import EXPECTED

    return EXPECTED["13_n"]


# ---------------------------------------------------------------- the zip


def distinct_notebook(variant: str, number: int) -> bytes:
    """The variant with the student's number in a comment of its first solution cell."""
    nb = json.loads((REPO / "tests" / "variants" / f"{variant}.ipynb").read_text())
    for cell in nb["cells"]:
        if cell.get("cell_type") == "code" and cell.get("metadata", {}).get(
                "nbgrader", {}).get("solution"):
            source = "".join(cell["source"]) if isinstance(cell["source"], list) \
                else cell["source"]
            cell["source"] = f"# student {number:04d}\n{source}"
            break
    return json.dumps(nb, ensure_ascii=False, indent=1).encode("utf-8")


def build_zip(path: Path, n: int) -> dict[str, str]:
    """The zip of ``n`` students; participant label → variant."""
    students, variant_of = [], {}
    for i in range(n):
        variant = VARIANTS[i % len(VARIANTS)]
        student = Student(2_000_000 + i, f"Student {i:04d}",
                          {"13_n.ipynb": distinct_notebook(variant, i)})
        students.append(student)
        variant_of[str(2_000_000 + i)] = variant  # intake labels a participant by id
    build_submissions_zip(path, students, layout=FOLDERS_4X)
    return variant_of


# ---------------------------------------------------------------- one run


@dataclass
class Run:
    path: str
    n: int
    jobs: int
    wall: float = 0.0
    peak_mb: float = 0.0
    start: list[float] = field(default_factory=list)
    cells: list[float] = field(default_factory=list)
    checks: list[float] = field(default_factory=list)
    results: dict[str, tuple[str, float, tuple[str, ...]]] = field(default_factory=dict)


def _env(peak: Path) -> dict[str, str]:
    # With cwd=REPO as well: ``python -c`` puts its working folder first on sys.path, so
    # a run started from another checkout would grade with that checkout's code.
    return {**os.environ, "PYTHONPATH": str(REPO), "AG_PEAK_FILE": str(peak), "NO_COLOR": "1"}


def _grade(path: str, zip_path: Path, work: Path, *, jobs: int,
           service: Path | None = None) -> float:
    """Seconds of one ``autograder grade`` of the zip into ``work``, process start to exit."""
    argv = [sys.executable, "-c", RUNNER, "--lang", "en", "grade", "13_n", str(zip_path),
            "--out", str(work / "out"), "--gradebook", str(work / "gb.sqlite"),
            "--jobs", str(jobs), "--assignments", str(REPO / "assignments"),
            *(["--no-fork"] if path == "spawn" else []),
            *(["--service", str(service)] if service is not None else [])]
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=_env(work / "peak"),
                          timeout=7200, check=False, cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"{path}: exit {done.returncode}\n{done.stderr[-3000:]}")
    return time.perf_counter() - t0


def stop_service(proc: subprocess.Popen[bytes], sock: Path) -> None:
    subprocess.run([*CLI, "serve", "--socket", str(sock), "--stop"],
                   env=_env(sock.parent / "peak"), capture_output=True, timeout=120, check=False,
                   cwd=REPO)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def grade_once(path: str, zip_path: Path, work: Path, *, n: int, jobs: int,
               service: Path | None = None) -> Run:
    run = Run(path, n, jobs, wall=_grade(path, zip_path, work, jobs=jobs, service=service))
    run.peak_mb = int((work / "peak").read_text()) / 1024
    read_gradebook(run, work / "gb.sqlite")
    return run


def start_service(work: Path, *, jobs: int) -> tuple[subprocess.Popen[bytes], Path, str]:
    """``autograder serve`` in ``work``, warmed with one 2-student batch of 13_n (untimed);
    the process, its socket and a line saying what its start and warm-up took."""
    folder = work / "serve"
    folder.mkdir(mode=0o700)
    sock = folder / "grader.sock"
    t0 = time.perf_counter()
    proc = subprocess.Popen([*CLI, "serve", "--socket", str(sock)], env=_env(folder / "peak"),
                            cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=(folder / "serve.log").open("wb"))
    while not sock.exists():
        if proc.poll() is not None or time.perf_counter() - t0 > 120:
            raise SystemExit(f"autograder serve did not start: see {folder}/serve.log")
        time.sleep(0.01)
    listening = time.perf_counter() - t0
    warm = folder / "warm-up"
    warm.mkdir()
    build_zip(warm / "warm-up.zip", 2)
    seconds = _grade("service", warm / "warm-up.zip", warm, jobs=jobs, service=sock)
    return proc, sock, (f"service: listening {listening:.1f} s after its start; its first"
                        f" batch (2 submissions, the warm-up, not counted) {seconds:.1f} s")


def read_gradebook(run: Run, gradebook: Path) -> None:
    from autograder.store.gradebook import Gradebook

    with Gradebook(gradebook) as gb:
        for stored in gb.latest_submissions("13_n"):
            res = gb.result(stored.id)
            if res is None:
                raise SystemExit(f"{run.path}: no result for {stored.participant}")
            cells = _cell_seconds(res.executed_notebook or "{}")
            run.start.append(max(0.0, res.exec_seconds - cells))
            run.cells.append(cells)
            run.checks.append(res.check_seconds)
            lost = tuple(sorted(c.name for c in res.checks if c.points < c.max_points))
            run.results[stored.participant] = (res.status.value, res.score, lost)


def _cell_seconds(executed: str) -> float:
    nb = json.loads(executed)
    return float(sum((c.get("metadata", {}).get("autograder") or {}).get("seconds", 0.0)
                     for c in nb.get("cells", []) if c.get("cell_type") == "code"))


def check(run: Run, variant_of: dict[str, str]) -> None:
    """Every row graded, losing exactly its variant's checks (else the time means nothing)."""
    losses = expected_losses()
    wrong = [f"{who}: {status} lost {list(lost)}"
             for who, (status, _score, lost) in run.results.items()
             if status != "graded" or set(lost) != losses[variant_of[who]]]
    if len(run.results) != run.n or wrong:
        raise SystemExit(f"{run.path}: {len(run.results)} results, wrong: {wrong[:5]}")


# ---------------------------------------------------------------- report


def machine_line() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}; load average (1/5/15 min): {load}")


def table(runs: list[Run]) -> str:
    lines = ["| kernels | N | jobs | wall s | per submission s | grader peak MB |"
             " kernel start | execution | checks | the rest |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in runs:
        slot = r.wall * r.jobs / r.n
        parts = [statistics.mean(x) for x in (r.start, r.cells, r.checks)]
        rest = max(0.0, slot - sum(parts))
        shares = " | ".join(f"{x:.3f} ({x / slot:.0%})" for x in (*parts, rest))
        lines.append(f"| {r.path} | {r.n} | {r.jobs} | {r.wall:.1f} | {r.wall / r.n:.3f} |"
                     f" {r.peak_mb:.0f} | {shares} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--n", type=int, default=200, help="students (default 200)")
    p.add_argument("--jobs", type=int, default=2, help="worker slots (default 2)")
    p.add_argument("--paths", default="fork",
                   help="comma-separated: fork, spawn, service (default fork)")
    p.add_argument("--workdir", type=Path, help="keep the zip, outputs and gradebooks here")
    ns = p.parse_args(argv)
    paths = [x.strip() for x in ns.paths.split(",") if x.strip()]
    if not paths or set(paths) - {"fork", "spawn", "service"}:
        p.error("--paths: fork, spawn, service, comma-separated")
    work = ns.workdir or Path(tempfile.mkdtemp(prefix="ag-moodle200-"))
    work.mkdir(parents=True, exist_ok=True)
    zip_path = work / "moodle-download.zip"
    variant_of = build_zip(zip_path, ns.n)
    before = machine_line()
    runs, notes = [], []
    service: tuple[subprocess.Popen[bytes], Path, str] | None = None
    try:
        for path in paths:
            if path == "service":
                service = start_service(work, jobs=ns.jobs)
                notes.append(service[2])
            folder = work / path
            folder.mkdir()
            print(f"grading {ns.n} submissions, {path} ...", file=sys.stderr, flush=True)
            run = grade_once(path, zip_path, folder, n=ns.n, jobs=ns.jobs,
                             service=service[1] if path == "service" else None)
            check(run, variant_of)
            runs.append(run)
    finally:
        if service is not None:
            stop_service(*service[:2])
    same = all(r.results == runs[0].results for r in runs)
    print(f"machine (before): {before}\nmachine (after):  {machine_line()}\n")
    print(table(runs))
    for line in notes:
        print(f"\n{line}")
    if len(runs) > 1:
        print(f"\nresults identical on every path: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
