"""Worker slots for a batch: processes, GPUs, crash isolation.

Each worker is a long-lived process (it imports torch and pytest once) that grades one
submission at a time and writes its own result to the gradebook, so a grader killed
midway loses at most the submissions in flight. Workers die with the batch process
(``PR_SET_PDEATHSIG``) and their kernels die with them (bubblewrap ``--die-with-parent``).

Beyond one machine the same ``GradeTask`` objects are plain, picklable data that a Dask
cluster can run through ``grade_one.grade_task``; this module is only the local pool
(the task and its outcome are in ``tasks.py``, which ``grade_one`` imports without it).
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from multiprocessing.context import SpawnContext
from typing import Any

from ..core.errors import AutograderError
from ..core.results import Status, SubmissionResult
from .kernel.zygote import TemplateSpec
from .tasks import GradeTask, TaskOutcome

# Per-process state of a worker: its slot (which picks its sandbox uid) and GPU tokens.
_SLOT: int = 0
_GPU_TOKENS: Any = None  # a multiprocessing queue of GPU indices
_RUNNING: Any = None  # shared with the batch: the submission each slot is grading (0: none)
_STARTING = False  # until the first task has run: the collector waits (_settle_collector)


@dataclass
class PoolOptions:
    jobs: int = 1
    gpu_slots: list[int] = field(default_factory=list)  # one entry per concurrent GPU task
    # start each worker's next kernel while it grades (kernel/prestarted.py); off for GPU batches,
    # whose GPU is only known when a task takes its token
    warm_kernels: bool = True
    # each worker forks its kernels from a template made for this (zygote.py); None: spawn
    template: TemplateSpec | None = None


def _set_pdeathsig() -> None:
    if sys.platform != "linux":
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


def _ignore_interrupt(signum: int, frame: Any) -> None:
    """Ctrl-C reaches the whole process group; the batch process decides what stops
    (a handler, not SIG_IGN: the kernels this worker starts get the default back)."""


def _share_cores(jobs: int) -> None:
    """One worker's share of the cores for the grader's own tensors (the checks'
    reference values): PyTorch's default, a thread per core in every worker, only makes
    its idle threads spin on cores the kernels need (2.5% of a 13_n batch's CPU on two
    cores). Set before anything imports torch; what the user set is kept."""
    names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
    if any(name in os.environ for name in names):
        return
    threads = str(max(1, (os.cpu_count() or 1) // max(1, jobs)))
    for name in names:
        os.environ[name] = threads


def _init_worker(slots: Any, gpu_tokens: Any, warm_kernels: bool,
                 template: TemplateSpec | None, jobs: int = 1, running: Any = None) -> None:
    global _SLOT, _GPU_TOKENS, _RUNNING, _STARTING
    gc.disable()
    _STARTING = True
    _set_pdeathsig()
    _share_cores(jobs)
    signal.signal(signal.SIGINT, _ignore_interrupt)
    if template is not None:  # first: it imports torch while this worker imports the rest
        from .kernel.template import start

        start(template)
    _SLOT = int(slots.get())
    _GPU_TOKENS = gpu_tokens
    _RUNNING = running
    if warm_kernels:
        from .kernel.prestarted import enable_in_worker

        enable_in_worker()


def current_slot() -> int:
    return _SLOT


def _run_task(task: GradeTask) -> TaskOutcome:
    from .grade_one import grade_task

    gpu: int | None = None
    if task.use_gpu and _GPU_TOKENS is not None:
        gpu = _GPU_TOKENS.get()
    started = time.monotonic()
    if _RUNNING is not None:
        _RUNNING[_SLOT] = task.submission_id
    try:
        result: SubmissionResult = grade_task(task, slot=_SLOT, gpu=gpu)
        return TaskOutcome(task.submission_id, result.status, result.score, result.max_score,
                           participant=result.participant,
                           seconds=time.monotonic() - started)
    except AutograderError as exc:
        return TaskOutcome(task.submission_id, Status.ERROR, 0.0, 0.0, exc.render(),
                           seconds=time.monotonic() - started)
    finally:
        if _RUNNING is not None:
            _RUNNING[_SLOT] = 0
        if gpu is not None and _GPU_TOKENS is not None:
            _GPU_TOKENS.put(gpu)
        _settle_collector()


def _settle_collector() -> None:
    """After a worker's first task (its imports, the checks' collection, the first
    kernel): collect once, keep what is there out of later collections, collect from
    then on. With the collector on, the imports' growing heap was walked again and again:
    0.7 s of each worker's start. Frozen objects are never freed: only what the start
    left, which lives as long as the worker anyway."""
    global _STARTING
    if _STARTING:
        _STARTING = False
        gc.collect()
        gc.freeze()
        gc.enable()


def run_pool(tasks: Iterable[GradeTask], *, options: PoolOptions,
             on_done: Callable[[TaskOutcome], None],
             warm: WarmPool | None = None) -> list[TaskOutcome]:
    """Grade ``tasks`` on ``options.jobs`` worker processes; call ``on_done`` per task.

    ``warm``: take the workers from it and leave them running after the batch (the
    grading service, ``service/server.py``); otherwise they start and end here.

    A worker that dies breaks its pool, and every task queued there fails with it. The
    tasks it left run in a new pool; those that were running when it died (each worker
    announces its task) run again first, alone, and one that kills a pool alone is
    recorded ``crashed`` (``crashed.record_crash``), as on a
    cluster. A pool that breaks twice with no task running (its workers cannot start)
    ends the batch: what is left is reported as errors, graded again next run."""
    outcomes: list[TaskOutcome] = []
    lend = warm.lend if warm is not None else _fresh

    def done(outcome: TaskOutcome) -> None:
        outcomes.append(outcome)
        on_done(outcome)

    todo, blind = list(tasks), 0
    suspects: list[GradeTask] = []
    while todo or suspects:
        if suspects:  # alone, in a pool of its own (never the service's kept one)
            task = suspects.pop(0)
            if _pool_round([task], replace(options, jobs=1), done, _fresh).broke:
                done(_crash(task))
            continue
        left = _pool_round(todo, options, done, lend)
        suspects = [t for t in left.tasks if t.submission_id in left.running]
        todo = [t for t in left.tasks if t.submission_id not in left.running]
        blind += 1 if left.broke and not suspects else 0
        if blind >= 2:
            for task in todo:
                done(TaskOutcome(task.submission_id, Status.ERROR, 0.0, 0.0,
                                 "worker failed: the grading processes could not start"))
            break
    return outcomes


@dataclass
class _Left:
    """What one pool left: its unfinished tasks, those running when it broke."""

    tasks: list[GradeTask] = field(default_factory=list)
    running: set[int] = field(default_factory=set)
    broke: bool = False


@dataclass
class _Pool:
    """Worker processes and the array where each announces the task it is grading."""

    executor: ProcessPoolExecutor
    running: Any
    broken: bool = False  # died or was stopped: never used again


Lend = Callable[[PoolOptions], AbstractContextManager[_Pool]]


def _new_pool(options: PoolOptions) -> _Pool:
    ctx: SpawnContext = mp.get_context("spawn")
    slots, gpu_tokens = ctx.Queue(), ctx.Queue()
    for slot in range(options.jobs):
        slots.put(slot)
    for gpu in options.gpu_slots:
        gpu_tokens.put(gpu)
    running = ctx.RawArray("q", options.jobs)
    executor = ProcessPoolExecutor(max_workers=options.jobs, mp_context=ctx,
                                   initializer=_init_worker,
                                   initargs=(slots, gpu_tokens, options.warm_kernels,
                                             options.template, options.jobs, running))
    return _Pool(executor, running)


@contextmanager
def _fresh(options: PoolOptions) -> Iterator[_Pool]:
    """A pool for this round only: its workers end with it."""
    pool = _new_pool(options)
    with pool.executor:
        yield pool


class WarmPool:
    """Workers kept running between batches, with their imports, kernel templates and
    next kernels (the grading service). One pool at a time: a batch that needs other
    options (jobs, GPUs, the assignment's template) replaces it. Batches must come from
    one thread, the one that made the first (workers die with the thread that started
    them: ``PR_SET_PDEATHSIG``)."""

    def __init__(self) -> None:
        self._held: tuple[PoolOptions, _Pool] | None = None
        self._starting: list[Future[None]] = []  # the tasks of start(), until a lend
        self.batches = 0  # pools lent so far

    def start(self, options: PoolOptions, *, workers: int) -> None:
        """Start ``workers`` of the pool for ``options`` now (their imports, templates),
        before any task is known: each takes a task that does nothing. The pool starts
        the others as tasks come, as it always does."""
        self.close()
        pool = _new_pool(options)
        self._held = (options, pool)
        self._starting = [pool.executor.submit(_started)
                          for _ in range(max(1, min(workers, options.jobs)))]

    @contextmanager
    def lend(self, options: PoolOptions) -> Iterator[_Pool]:
        self.batches += 1
        held = self._held
        if held is None or held[0] != options or held[1].broken:
            self.close()
            held = self._held = (options, _new_pool(options))
        # The workers start() made count as idle once their empty task is done: tasks
        # given before that would each start one more worker (up to jobs). Waiting costs
        # nothing: a task cannot run before its worker has started anyway.
        starting, self._starting = self._starting, []
        wait(starting)
        try:
            yield held[1]
        finally:
            if held[1].broken:
                self.close()

    @property
    def options(self) -> PoolOptions | None:
        return None if self._held is None else self._held[0]

    def worker_pids(self) -> list[int]:
        """The kept workers' process ids (none before the first batch)."""
        if self._held is None:
            return []
        return sorted(int(proc.pid) for proc in _processes(self._held[1].executor))

    def close(self, *, now: bool = False) -> None:
        """End the kept workers (their templates and kernels end with them); ``now``:
        stop them where they are (workers started for a batch that had nothing to grade)
        rather than wait for their start to finish."""
        held, self._held = self._held, None
        self._starting = []
        if held is None:
            return
        if now:
            _stop_workers(held[1].executor)
        else:
            held[1].executor.shutdown(wait=True, cancel_futures=True)


def _started() -> None:
    """The task ``WarmPool.start`` gives each worker: none (the pool starts a worker per
    task it cannot hand to an idle one)."""


def _pool_round(tasks: list[GradeTask], options: PoolOptions,
                done: Callable[[TaskOutcome], None], lend: Lend) -> _Left:
    pending: dict[Future[TaskOutcome], GradeTask] = {}
    with lend(options) as pool:
        try:
            for index, task in enumerate(tasks):
                try:
                    pending[pool.executor.submit(_run_task, task)] = task
                except BrokenProcessPool:  # a kept worker that died between batches
                    pool.broken = True
                    left = _broken(pending, set(pool.running) - {0}, done)
                    return replace(left, tasks=left.tasks + tasks[index:])
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                if any(isinstance(f.exception(), BrokenProcessPool) for f in finished):
                    pool.broken = True
                    return _broken(pending, set(pool.running) - {0}, done)
                for fut in finished:
                    done(_outcome_of(fut, pending.pop(fut)))
        except BaseException:  # told to stop (SIGINT/SIGTERM as an exception), or a bug
            pool.broken = True
            _stop_workers(pool.executor)
            raise
    return _Left()


def _broken(pending: dict[Future[TaskOutcome], GradeTask], running: set[int],
            done: Callable[[TaskOutcome], None]) -> _Left:
    """A broken pool: report what it finished, return the rest."""
    left = _Left(running=running, broke=True)
    for fut, task in pending.items():
        if fut.done() and fut.exception() is None:
            done(fut.result())
        else:
            left.tasks.append(task)
    return left


def _crash(task: GradeTask) -> TaskOutcome:
    from .crashed import record_crash  # its catalogue import: only for a crash

    return record_crash(task)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Stop at once rather than wait for the submissions in flight: queued tasks are
    dropped and the workers terminated; their kernels die with them (bubblewrap's
    ``--die-with-parent``), what they recorded stays, and a rerun grades the rest."""
    terminate = getattr(pool, "terminate_workers", None)  # Python 3.14+
    if terminate is not None:
        terminate()
        return
    workers = _processes(pool)  # before shutdown(), which forgets them
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in workers:
        proc.terminate()
    for proc in workers:
        proc.join(timeout=10)


def _processes(pool: ProcessPoolExecutor) -> list[Any]:
    """The executor's worker processes (its process table is the only handle on them
    before Python 3.14)."""
    return list((getattr(pool, "_processes", None) or {}).values())


def _outcome_of(fut: Future[TaskOutcome], task: GradeTask) -> TaskOutcome:
    try:
        return fut.result()
    except Exception as exc:  # a worker died (e.g. killed by the OOM killer): record, go on
        return TaskOutcome(task.submission_id, Status.ERROR, 0.0, 0.0,
                           f"worker failed: {type(exc).__name__}: {exc}")


def gpu_slots(gpus: Iterable[int], *, budget_mb: int,
              memory_of: Mapping[int, int] | None = None) -> list[int]:
    """Tokens for concurrent GPU tasks: per GPU, ``memory // budget`` (at least one).

    Without a budget (or without knowing a GPU's memory) each GPU takes one task at a time.
    """
    per_gpu: dict[int, int] = {}
    for gpu in gpus:
        total = (memory_of or {}).get(gpu, 0)
        per_gpu[gpu] = max(1, total // budget_mb) if budget_mb > 0 and total > 0 else 1
    # Round-robin order spreads the first tasks over all GPUs.
    rounds = max(per_gpu.values(), default=0)
    return [gpu for r in range(rounds) for gpu, n in per_gpu.items() if n > r]


def gpu_memory_mb() -> dict[int, int]:
    """Total memory of each visible NVIDIA GPU, from nvidia-smi (empty when none)."""
    import shutil
    import subprocess

    if not shutil.which("nvidia-smi"):
        return {}
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index,memory.total",
                              "--format=csv,noheader,nounits"], capture_output=True,
                             text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    result: dict[int, int] = {}
    for line in out.splitlines():
        idx, _, mem = line.partition(",")
        if idx.strip().isdigit() and mem.strip().isdigit():
            result[int(idx)] = int(mem)
    return result


def default_jobs() -> int:
    return max(1, (os.cpu_count() or 2) // 2)
