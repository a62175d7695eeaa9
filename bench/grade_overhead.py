"""How much does our grading engine cost per submission, compared with nbgrader's own?

Grades the same K notebooks with ``nbgrader autograde`` in a throw-away nbgrader course
and with ``autograder.grading.batch.grade`` (sandboxed kernel per submission, restore, in-notebook
test cells, pytest checks through the ``submission`` bridge), our engine once with
kernels forked from each worker's template (``zygote.py``, the default) and once with
every kernel spawned (``fork=False``, ``grade --no-fork``), and once handed to a grading
service started before the runs (``autograder serve``; ``autograder grade ... --service``
timed from its start to its exit, after one untimed batch of the same kind: the service's
start and first batch are printed under the tables). Three kinds of notebook:
*trivial* (pure Python) and *torch* (the solution cell imports torch, as every real
assignment of the course does) on ``bench/assignments/01_n`` (one solution cell, one
graded test cell, one hidden check), and *13_n*: the course's real lecture-13 assignment
(``assignments/13_n``: 7 test cells, 19 hidden checks), K answers from
``tests/variants`` (two correct ones, two with one realistic bug each), each made
distinct by a comment with the student's number.

Both engines are timed from process start to process exit (``nbgrader autograde`` and
a ``python -c`` that calls ``grade(...)``), on the very same notebook files: the
submissions are written once into the nbgrader course's ``submitted/`` folder, and our
engine reads that folder. Every run is checked before it counts (trivial and torch: full
marks; 13_n: our engine loses exactly the checks ``tests/variant_grading.py`` lists for
each variant, nbgrader loses exactly the test cells among them), so a fast failure is
never reported as a fast grade.

Usage::

    .venv/bin/python bench/grade_overhead.py            # K=8, jobs 1 and os.cpu_count()
    .venv/bin/python bench/grade_overhead.py --quick    # K=2, smoke run
    .venv/bin/python bench/grade_overhead.py --k 16 --jobs 4 --repeat 3 --json out.json
    .venv/bin/python bench/grade_overhead.py --kinds 13_n --paths fork

Not part of the test suite (no timed tests); ``tests/test_bench_assets.py`` keeps its
assignment sound. Results and how to read them: ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import nbformat

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
ASSIGNMENTS = BENCH_DIR / "assignments"
ASSIGNMENT_ID = "01_n"
KINDS = ("trivial", "torch", "13_n")
ENGINES = ("nbgrader", "autograder")
# our engine: kernels forked from a template, or spawned, each batch a fresh grader; or
# the batch handed to a grading service already running (``autograder serve``)
PATHS = ("fork", "spawn", "service")
# kind -> (assignment id, assignments folder)
KIND_ASSIGNMENT = {"trivial": (ASSIGNMENT_ID, ASSIGNMENTS),
                   "torch": (ASSIGNMENT_ID, ASSIGNMENTS),
                   "13_n": ("13_n", REPO / "assignments")}
# 13_n's answers, in turn (as bench/moodle_200.py): two correct, two with one bug each
VARIANTS_13N = ("13_n_alt", "13_n_alt_recursive_softmax", "13_n_bug_softmax_unstable",
                "13_n_bug_step_at_zero")
STUB = "raise NotImplementedError()"
# What replaces nbgrader's stub in the solution cell; the torch kind really uses torch so
# the import cannot be skipped or optimised away by anything.
ANSWERS = {
    "trivial": ("", "return a + b"),
    "torch": ("import torch\n\n", "return int(torch.tensor(a) + torch.tensor(b))"),
}
FULL_MARKS = {"nbgrader": 1.0, "autograder": 2.0}  # test cell; test cell + hidden check

NBGRADER_CONFIG = """\
c = get_config()  # noqa: F821 (nbgrader provides it)
c.CourseDirectory.course_id = "bench"
c.CourseDirectory.root = {root!r}
c.Execute.timeout = 300  # per cell; nbgrader's default of 30 s is tight on a busy VM
"""

ENGINE_CHILD = """\
import json, sys, time
from pathlib import Path
from autograder.grading.batch import grade
a = json.loads(sys.argv[1])
t0 = time.perf_counter()
s = grade(assignment_id=a["id"], submissions=[Path(a["subs"])], out=Path(a["out"]),
          gradebook=Path(a["gb"]), jobs=a["jobs"], assignments_root=Path(a["root"]),
          regrade=True, fork=None if a["fork"] else False)
print(json.dumps({"graded": len(s.graded_now), "grade_s": time.perf_counter() - t0,
                  "errors": [o.error for o in s.graded_now if o.error]}))
"""


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which and shows its output."""


# ------------------------------------------------------------------------------ records


@dataclass
class Breakdown:
    """Where one run of our engine spent its time (seconds).

    ``startup``, ``cells`` and ``checks`` are per-submission means from the gradebook;
    ``launch`` is once per batch: the grader process's start, imports and exit.
    """

    startup: float
    cells: float
    checks: float
    launch: float = 0.0


_FIELDS = ("startup", "cells", "checks", "launch")


@dataclass
class Row:
    engine: str
    kind: str
    k: int
    jobs: int
    walls: list[float] = field(default_factory=list)
    breakdowns: list[Breakdown] = field(default_factory=list)
    error: str = ""
    path: str = ""          # our engine: "fork", "spawn" or "service"; nbgrader: ""
    warmup: float = float("nan")  # service: its first batch of this kind (not counted)

    @property
    def label(self) -> str:
        return f"{self.engine} ({self.path})" if self.path else self.engine

    @property
    def wall(self) -> float:
        return statistics.median(self.walls) if self.walls else float("nan")

    def breakdown(self) -> Breakdown | None:
        if not self.breakdowns:
            return None
        return Breakdown(*(statistics.mean(getattr(b, f) for b in self.breakdowns)
                           for f in _FIELDS))


# ------------------------------------------------------------------------ subprocesses


def _bin(name: str) -> str:
    """An executable of the running venv (not resolved: the venv's bin/ is what counts)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise BenchError(f"{path} not found: run the benchmark with the project venv's python")
    return str(path)


def _venv_env() -> dict[str, str]:
    """As if the venv were activated: nbgrader runs ``alembic`` from PATH."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _run(argv: Sequence[str], *, cwd: Path, timeout: float, what: str) -> str:
    try:
        proc = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True,
                              timeout=timeout, check=False, env=_venv_env())
    except subprocess.TimeoutExpired:
        raise BenchError(f"{what}: no result after {timeout:.0f} s") from None
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-4000:]
        raise BenchError(f"{what}: exit status {proc.returncode}\n{tail}")
    return proc.stdout


def _timed(argv: Sequence[str], *, cwd: Path, timeout: float, what: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = _run(argv, cwd=cwd, timeout=timeout, what=what)
    return time.perf_counter() - t0, out


def _budget(k: int) -> float:
    return 120.0 + 60.0 * k


# --------------------------------------------------------------------- the nbgrader course


def make_course(course: Path, *, kind: str, k: int) -> None:
    """An nbgrader course with the assignment generated and K submissions of ``kind``."""
    aid, root = KIND_ASSIGNMENT[kind]
    (course / "source" / aid).mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(NBGRADER_CONFIG.format(root=str(course)))
    shutil.copy(root / aid / f"{aid}.ipynb", course / "source" / aid / f"{aid}.ipynb")
    nbg = _bin("nbgrader")
    _run([nbg, "generate_assignment", aid, "--force"], cwd=course,
         timeout=_budget(0), what="nbgrader generate_assignment")
    students = [f"s{i:02d}" for i in range(1, k + 1)]
    roster = course / "students.csv"
    with roster.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "first_name", "last_name", "email"])
        writer.writerows([s, "Bench", s, ""] for s in students)
    # One `db student import` instead of K `db student add`: same rows, K-1 fewer starts.
    _run([nbg, "db", "student", "import", str(roster)], cwd=course, timeout=_budget(0),
         what="nbgrader db student import")
    if kind == "13_n":
        write_13n_submissions(course, students)
        return
    released = nbformat.read(course / "release" / ASSIGNMENT_ID / f"{ASSIGNMENT_ID}.ipynb",
                             as_version=4)
    for student in students:
        folder = course / "submitted" / student / ASSIGNMENT_ID
        folder.mkdir(parents=True)
        nbformat.write(fill_in(released, kind=kind, student=student),
                       folder / f"{ASSIGNMENT_ID}.ipynb")


def fill_in(released: nbformat.NotebookNode, *, kind: str,
            student: str) -> nbformat.NotebookNode:
    """The released notebook as a student who solved it would hand it in."""
    nb = nbformat.from_dict(json.loads(json.dumps(released)))
    prefix, answer = ANSWERS[kind]
    solved = 0
    for cell in nb.cells:
        if cell.cell_type == "code" and STUB in cell.source:
            cell.source = f"# {student}\n{prefix}{cell.source.replace(STUB, answer)}"
            solved += 1
    if solved != 1:
        raise BenchError(f"expected one solution stub ({STUB!r}) in the released notebook,"
                         f" found {solved}: did nbgrader's release format change?")
    return nb


def write_13n_submissions(course: Path, students: Sequence[str]) -> None:
    """Each student hands in one of 13_n's variants in turn (already in nbgrader's
    released form), made distinct by a comment; ``variants.json``: student → variant."""
    variant_of = {}
    for i, student in enumerate(students):
        variant = VARIANTS_13N[i % len(VARIANTS_13N)]
        nb = json.loads((REPO / "tests" / "variants" / f"{variant}.ipynb").read_text("utf-8"))
        solutions = [c for c in nb["cells"] if c.get("cell_type") == "code"
                     and c.get("metadata", {}).get("nbgrader", {}).get("solution")]
        if not solutions:
            raise BenchError(f"{variant}: no solution cell")
        source = solutions[0]["source"]
        text = "".join(source) if isinstance(source, list) else source
        solutions[0]["source"] = f"# {student}\n{text}"
        folder = course / "submitted" / student / "13_n"
        folder.mkdir(parents=True)
        (folder / "13_n.ipynb").write_text(json.dumps(nb, ensure_ascii=False, indent=1),
                                           encoding="utf-8")
        variant_of[student] = variant
    (course / "variants.json").write_text(json.dumps(variant_of))


def expected_13n(course: Path) -> tuple[dict[str, str], dict[str, frozenset[str]]]:
    """student → variant, and variant → the checks it loses (tests/variant_grading.py)."""
    sys.path.insert(0, str(REPO / "tests"))
    try:
        from variant_grading import EXPECTED
    finally:
        sys.path.remove(str(REPO / "tests"))
    variant_of = json.loads((course / "variants.json").read_text())
    return variant_of, EXPECTED["13_n"]


def time_nbgrader(course: Path, *, kind: str, k: int) -> float:
    aid = KIND_ASSIGNMENT[kind][0]
    seconds, _ = _timed([_bin("nbgrader"), "autograde", aid, "--force"],
                        cwd=course, timeout=_budget(k), what="nbgrader autograde")
    check_nbgrader_scores(course, kind=kind, k=k)
    return seconds


def check_nbgrader_scores(course: Path, *, kind: str, k: int) -> None:
    """trivial and torch: full marks; 13_n: every test cell passes but those its variant
    loses (its code score; the free-text cell waits for a person in nbgrader)."""
    from nbgrader.api import Gradebook

    aid = KIND_ASSIGNMENT[kind][0]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        subs = gb.assignment_submissions(aid)
        if kind == "13_n":
            scores = {s.student_id: (s.code_score, s.max_code_score) for s in subs}
        else:
            scores = {s.student_id: (s.score, s.max_score) for s in subs}
    if kind == "13_n":
        variant_of, losses = expected_13n(course)
        cells = 7
        wanted = {s: (float(cells - sum(1 for c in losses[v] if c.startswith("cell:"))),
                      float(cells)) for s, v in variant_of.items()}
    else:
        wanted = {s: (FULL_MARKS["nbgrader"],) * 2 for s in scores}
    bad = {s: (v, wanted.get(s)) for s, v in scores.items() if v != wanted.get(s)}
    if len(scores) != k or bad:
        raise BenchError(f"nbgrader autograde: expected {k} submissions scored as their"
                         f" answers deserve, got {len(scores)} with these off"
                         f" (got, wanted): {bad}")


# --------------------------------------------------------------------------- our engine


def time_engine(course: Path, work: Path, *, kind: str, k: int, jobs: int,
                path: str) -> tuple[float, Breakdown]:
    out = work / f"out-{time.monotonic_ns()}"
    gradebook = out / "gb.sqlite"
    aid, root = KIND_ASSIGNMENT[kind]
    if path == "service":
        return time_service(course, work, kind=kind, k=k, jobs=jobs)
    args = {"id": aid, "subs": str(course / "submitted"), "out": str(out),
            "gb": str(gradebook), "jobs": jobs, "root": str(root), "fork": path == "fork"}
    seconds, stdout = _timed([sys.executable, "-c", ENGINE_CHILD, json.dumps(args)],
                             cwd=work, timeout=_budget(k),
                             what=f"autograder grade (jobs={jobs}, {path})")
    report = json.loads(stdout.strip().splitlines()[-1])
    if report["errors"]:
        raise BenchError("autograder grade: " + "\n".join(report["errors"])[:4000])
    breakdown = engine_breakdown(gradebook, course, kind=kind, k=k)
    breakdown.launch = max(0.0, seconds - float(report["grade_s"]))
    return seconds, breakdown


def service_socket(work: Path, jobs: int) -> Path:
    return work / f"service-{jobs}" / "grader.sock"


def start_service(work: Path, jobs: int) -> tuple[subprocess.Popen[bytes], float]:
    """``autograder serve`` for the rows of ``jobs`` workers (one service each: a batch
    with another ``--jobs`` would replace its workers); and seconds until it listens."""
    sock = service_socket(work, jobs)
    sock.parent.mkdir(mode=0o700)
    t0 = time.perf_counter()
    proc = subprocess.Popen([_bin("autograder"), "serve", "--socket", str(sock)], cwd=work,
                            env=_venv_env(), stdout=subprocess.DEVNULL,
                            stderr=(sock.parent / "serve.log").open("wb"))
    while not sock.exists():
        if proc.poll() is not None or time.perf_counter() - t0 > 120:
            raise BenchError(f"autograder serve did not start: see {sock.parent}/serve.log")
        time.sleep(0.01)
    return proc, time.perf_counter() - t0


def time_service(course: Path, work: Path, *, kind: str, k: int,
                 jobs: int) -> tuple[float, Breakdown]:
    """``autograder grade ... --service``: the command timed from its start to its exit,
    the service's own start (and its first batch of the kind) not counted."""
    out = work / f"out-{time.monotonic_ns()}"
    gradebook = out / "gb.sqlite"
    aid, root = KIND_ASSIGNMENT[kind]
    seconds, _ = _timed([_bin("autograder"), "grade", aid, str(course / "submitted"),
                         "--out", str(out), "--gradebook", str(gradebook), "--assignments",
                         str(root), "--regrade", "--jobs", str(jobs), "--service",
                         str(service_socket(work, jobs))], cwd=work, timeout=_budget(k),
                        what=f"autograder grade --service (jobs={jobs})")
    return seconds, engine_breakdown(gradebook, course, kind=kind, k=k)


def engine_breakdown(gradebook: Path, course: Path, *, kind: str, k: int) -> Breakdown:
    """Check every result (trivial, torch: full marks; 13_n: exactly its variant's losses);
    mean kernel start-up / cells / checks seconds."""
    from autograder.store.gradebook import Gradebook

    aid = KIND_ASSIGNMENT[kind][0]
    variant_of, losses = expected_13n(course) if kind == "13_n" else ({}, {})
    parts: list[Breakdown] = []
    with Gradebook(gradebook) as gb:
        for stored in gb.latest_submissions(aid):
            res = gb.result(stored.id)
            if res is None or res.status.value != "graded":
                raise BenchError(_describe_failure(stored.participant, res))
            if kind == "13_n":
                lost = {c.name for c in res.checks if c.points < c.max_points}
                if lost != losses[variant_of[stored.participant]]:
                    raise BenchError(_describe_failure(stored.participant, res))
            elif (res.score, res.max_score) != (FULL_MARKS["autograder"],) * 2:
                raise BenchError(_describe_failure(stored.participant, res))
            cells = _cell_seconds(res.executed_notebook or "{}")
            parts.append(Breakdown(max(0.0, res.exec_seconds - cells), cells,
                                   res.check_seconds))
    if len(parts) != k:
        raise BenchError(f"autograder grade: expected {k} results, found {len(parts)}")
    return Breakdown(*(statistics.mean(getattr(p, f) for p in parts)
                       for f in _FIELDS[:3]))


def _describe_failure(participant: str, res: Any) -> str:
    if res is None:
        return f"autograder grade: no result for {participant}"
    failed = [f"{c.name}: {c.message}" for c in res.checks if not c.passed]
    return (f"autograder grade: {participant} got {res.score}/{res.max_score}"
            f" (status {res.status.value}) {res.reason}\n" + "\n".join(failed))[:4000]


def _cell_seconds(executed: str) -> float:
    """Sum of the per-cell times the kernel's execute_reply recorded."""
    nb = json.loads(executed)
    return float(sum((c.get("metadata", {}).get("autograder") or {}).get("seconds", 0.0)
                     for c in nb.get("cells", []) if c.get("cell_type") == "code"))


# ----------------------------------------------------------------------------- the runs


@dataclass(frozen=True)
class Options:
    k: int
    jobs: tuple[int, ...]
    repeat: int
    kinds: tuple[str, ...]
    engines: tuple[str, ...]
    paths: tuple[str, ...] = PATHS


def run_all(opts: Options, work: Path) -> list[Row]:
    """For each kind: build the course once, then time every engine ``repeat`` times."""
    rows: list[Row] = []
    for kind in opts.kinds:
        course = work / f"course-{kind}"
        make_course(course, kind=kind, k=opts.k)
        kind_rows = [Row("nbgrader", kind, opts.k, 1)] if "nbgrader" in opts.engines else []
        if "autograder" in opts.engines:
            kind_rows += [Row("autograder", kind, opts.k, j, path=path)
                          for path in opts.paths for j in opts.jobs]
        for row in kind_rows:  # a service grades the kind once before it is timed
            if row.path == "service":
                row.warmup = _warm_up(row, course, work)
        for _ in range(opts.repeat):  # interleaved, so drift in the VM's load hits all alike
            for row in kind_rows:
                _measure(row, course, work)
        rows += kind_rows
    return rows


def _measure(row: Row, course: Path, work: Path) -> None:
    if row.error:  # it failed once: the figures after that would mean nothing
        return
    _progress(f"{row.label:18} {row.kind:7} K={row.k} jobs={row.jobs} ...")
    try:
        if row.engine == "nbgrader":
            row.walls.append(time_nbgrader(course, kind=row.kind, k=row.k))
        else:
            seconds, breakdown = time_engine(course, work, kind=row.kind, k=row.k,
                                             jobs=row.jobs, path=row.path)
            row.walls.append(seconds)
            row.breakdowns.append(breakdown)
    except BenchError as exc:
        row.error = str(exc)
        _progress(f"  FAILED: {exc}")
        return
    _progress(f"  {row.walls[-1]:.1f} s")


def _warm_up(row: Row, course: Path, work: Path) -> float:
    _progress(f"{row.label:18} {row.kind:7} K={row.k} jobs={row.jobs} warm-up ...")
    try:
        seconds, _ = time_service(course, work, kind=row.kind, k=row.k, jobs=row.jobs)
    except BenchError as exc:
        row.error = str(exc)
        return float("nan")
    return seconds


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# What a grading worker imports before its first submission (batch → grading and the
# modules grading imports lazily). Keep in step with autograder/engine/grade_one.py.
WORKER_IMPORTS = ("autograder.engine.pool", "autograder.engine.grade_one",
                  "autograder.core.notebooks", "autograder.engine.restore",
                  "autograder.engine.cells.scores", "autograder.engine.kernel.sandboxed",
                  "autograder.datasets", "autograder.engine.bridge.submission",
                  "autograder.checks", "nbformat")


def measure_worker_imports() -> float:
    """Seconds a fresh process takes to import what a grading worker imports (NaN if it
    cannot: the nbgrader figures are still worth having when our engine is broken)."""
    code = "import " + ", ".join(WORKER_IMPORTS)
    try:
        seconds, _ = _timed([sys.executable, "-c", code], cwd=BENCH_DIR, timeout=600,
                            what="worker imports")
    except BenchError as exc:
        _progress(f"worker imports not measured: {exc}")
        return float("nan")
    return seconds


def warm_page_cache() -> None:
    """Import torch once, untimed, so the first timed run does not pay the cold disk."""
    _run([sys.executable, "-c", "import torch, nbgrader"], cwd=BENCH_DIR, timeout=600,
         what="warm-up import")


# ------------------------------------------------------------------------------ report


def _fmt(value: float, digits: int = 2) -> str:
    return "—" if value != value else f"{value:.{digits}f}"  # NaN: no figure


def overhead_table(rows: Sequence[Row]) -> str:
    base = {r.kind: r.wall for r in rows if r.engine == "nbgrader" and r.walls}
    lines = ["| engine | notebooks | K | jobs | total wall s | runs (min–max) s |"
             " per submission s | ratio vs nbgrader |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ratio = r.wall / base[r.kind] if r.kind in base and r.walls else float("nan")
        spread = f"{min(r.walls):.1f}–{max(r.walls):.1f} ({len(r.walls)})" if r.walls else "—"
        lines.append(f"| {r.label} | {r.kind} | {r.k} | {r.jobs} | {_fmt(r.wall, 1)} |"
                     f" {spread} | {_fmt(r.wall / r.k)} | {_fmt(ratio)} |")
    return "\n".join(lines)


def breakdown_table(rows: Sequence[Row], *, worker_imports: float) -> str:
    """Where our time goes, in slot-seconds per submission (wall × jobs / K).

    Kernel start-up is ``exec_seconds`` minus the cells' own times; grader launch is the
    ``python -c`` process around ``grade()`` (start, imports, exit); worker imports is an
    estimate (each of the ``jobs`` workers imports ``WORKER_IMPORTS`` once, timed alone;
    none for the service, whose workers are running); for the service the grader launch
    is in the rest (the client command is timed as a whole);
    the rest is spawning the pool, intake, gradebook writes, restoring cells, collecting
    the checks, kernel shutdown, and slots left idle at the end of the batch.
    """
    lines = ["| notebooks | kernels | jobs | slot-s per submission | kernel start-up |"
             " cell execution | checks | grader launch | worker imports (est.) |"
             " rest of the batch |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        b = r.breakdown()
        if r.engine != "autograder" or b is None:
            continue
        slot = r.wall * r.jobs / r.k
        launch = b.launch * r.jobs / r.k
        # NaN when it could not be measured (engine unfinished): then it stays in the rest.
        imports = worker_imports * r.jobs / r.k if worker_imports == worker_imports else 0.0
        if r.path == "service":  # its workers imported everything before (its warm-up)
            imports = 0.0
        rest = max(0.0, slot - b.startup - b.cells - b.checks - launch - imports)
        shares = [f"{_fmt(x)} ({x / slot:.0%})"
                  for x in (b.startup, b.cells, b.checks, launch, imports, rest)]
        lines.append(f"| {r.kind} | {r.path} | {r.jobs} | {_fmt(slot)} | "
                     + " | ".join(shares) + " |")
    return "\n".join(lines)


def service_lines(rows: Sequence[Row], starts: dict[int, float]) -> str:
    """What the service rows did not count: the service's start, its first batch."""
    lines = [f"service with --jobs {j}: listening {_fmt(t, 1)} s after its start"
             for j, t in sorted(starts.items())]
    lines += [f"service --jobs {r.jobs}, first batch of {r.kind} (warm-up, not counted):"
              f" {_fmt(r.warmup, 1)} s" for r in rows if r.path == "service"]
    return "\n".join(lines)


def machine_line() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    versions = ", ".join(f"{p} {_version(p)}" for p in ("torch", "nbgrader", "ipykernel"))
    return (f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}, {versions}; sandbox: {_sandbox()};"
            f" load average (1/5/15 min): {load}")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def _sandbox() -> str:
    try:
        from autograder.engine.kernel.sandbox import bwrap_available
    except ImportError as exc:  # the engine is unfinished: the report still comes out
        return f"unknown ({exc})"
    return "bubblewrap" if bwrap_available() else "none (rlimits only)"


def report(rows: Sequence[Row], *, machine_before: str, worker_imports: float) -> str:
    parts = [f"machine (before): {machine_before}", f"machine (after):  {machine_line()}",
             "", overhead_table(rows), "",
             breakdown_table(rows, worker_imports=worker_imports), "",
             f"a grading worker's imports, timed alone: {_fmt(worker_imports, 1)} s"]
    failures = [f"FAILED {r.label} {r.kind} jobs={r.jobs}:\n{r.error}"
                for r in rows if r.error]
    return "\n".join(parts + (["", *failures] if failures else []))


# --------------------------------------------------------------------------------- CLI


def parse_args(argv: Sequence[str] | None) -> tuple[Options, argparse.Namespace]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--k", type=int, default=8, help="notebooks per kind (default 8)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="parallel slots for the second run of our engine (default: CPUs);"
                        " our engine always runs with jobs=1 too")
    p.add_argument("--quick", action="store_true", help="smoke run: K=2, no repeats")
    p.add_argument("--repeat", type=int, default=1,
                   help="runs per configuration; the table shows the median (default 1)")
    p.add_argument("--kinds", default=",".join(KINDS),
                   help="trivial,torch,13_n (default all three)")
    p.add_argument("--engines", default=",".join(ENGINES), help="nbgrader,autograder")
    p.add_argument("--paths", default=",".join(PATHS),
                   help="our engine: fork (kernels forked from a template per worker), spawn"
                        " (--no-fork), service (grade --service, the service started"
                        " first); default all")
    p.add_argument("--workdir", type=Path, help="keep the courses and outputs here")
    p.add_argument("--json", type=Path, help="also write the raw figures here")
    ns = p.parse_args(argv)
    kinds, engines = _choices(p, ns.kinds, KINDS), _choices(p, ns.engines, ENGINES)
    paths = _choices(p, ns.paths, PATHS)
    if ns.k < 1 or ns.jobs < 1 or ns.repeat < 1:
        p.error("--k, --jobs and --repeat must be at least 1")
    k, repeat = (2, 1) if ns.quick else (ns.k, ns.repeat)
    jobs = (1,) if ns.jobs == 1 else (1, ns.jobs)
    return Options(k=k, jobs=jobs, repeat=repeat, kinds=kinds, engines=engines,
                   paths=paths), ns


def _choices(p: argparse.ArgumentParser, text: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    chosen = tuple(x.strip() for x in text.split(",") if x.strip())
    if not chosen or any(x not in allowed for x in chosen):
        p.error(f"choose from {', '.join(allowed)} (comma-separated), got {text!r}")
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    opts, ns = parse_args(argv)
    before = machine_line()
    work = ns.workdir or Path(tempfile.mkdtemp(prefix="ag-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if any(work.iterdir()):
        raise SystemExit(f"--workdir {work} is not empty: pass a new folder")
    services: list[subprocess.Popen[bytes]] = []
    starts: dict[int, float] = {}
    try:
        warm_page_cache()
        worker_imports = measure_worker_imports()
        if "service" in opts.paths and "autograder" in opts.engines:
            for jobs in opts.jobs:
                proc, starts[jobs] = start_service(work, jobs)
                services.append(proc)
        rows = run_all(opts, work)
    except BenchError as exc:  # the courses could not even be built
        print(f"benchmark set-up failed: {exc}", file=sys.stderr)
        return 2
    finally:
        for proc in services:
            proc.terminate()
            proc.wait(timeout=60)
        if ns.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(report(rows, machine_before=before, worker_imports=worker_imports))
    print(service_lines(rows, starts))
    if ns.json:
        ns.json.write_text(json.dumps({"machine": before, "options": asdict(opts),
                                       "worker_imports_s": worker_imports,
                                       "rows": [_row_dict(r) for r in rows]}, indent=1))
    return 1 if any(r.error for r in rows) else 0


def _row_dict(row: Row) -> dict[str, Any]:
    return {**asdict(row), "median_wall": row.wall}


if __name__ == "__main__":
    sys.exit(main())
