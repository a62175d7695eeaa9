"""A Dask worker's side of a cluster batch: grade one task in a slot process.

Grading cannot run in a Dask worker's own threads: the checks are pytest sessions with
process-wide state (``sys.modules``, RNGs, the output capture) and a hard alarm that only
a main thread can set. So each worker keeps one grading process per kernel slot, the
same kind of process the local pool uses (spawned, torch and pytest imported once,
warm kernels on CPU batches), and a Dask task only hands its submission to a free one
and waits. The worker's ``kernel`` resource is the number of slots, so Dask never gives
it more tasks than it has processes.

A slot process that dies (segfault, the OOM killer) takes only its own task with it: the
task raises ``GradingProcessDied`` and Dask runs it once more (``retries=1``); a second
death reaches the client, which records the submission as ``crashed``. Slot processes
die with their worker (``PR_SET_PDEATHSIG``), and kernels with their slot process.

Nothing here opens the gradebook: the submission arrives as plain data and the
``SubmissionResult`` goes back as plain data to the client, the gradebook's one writer.
"""

from __future__ import annotations

import atexit
import hashlib
import multiprocessing
import os
import queue
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from ...core.errors import AutograderError, ClusterError
from ...core.results import SubmissionResult
from ...engine.grade_one import SubmissionInput
from ...engine.kernel.gpu_env import worker_gpu
from ...engine.tasks import GradeTask
from .gpu_slots import KERNEL
from .pack import AssignmentPack, unpack


class GradingProcessDied(ClusterError):
    """The slot process grading this task died (Dask retries the task once)."""


@dataclass(frozen=True)
class RemoteOutcome:
    """What a task sends back: a result to store, or why there is none."""

    result: SubmissionResult | None
    error: str = ""
    worker: str = ""


@dataclass(frozen=True)
class WorkerReport:
    """What the client checks on every worker before the batch starts."""

    version: str
    python: str
    sandbox: str               # "bwrap" or "none"
    missing: tuple[str, ...]   # datasets of the assignment absent from the data path
    gpu: int | None
    error: str = ""


STARTED_TOPIC = "autograder-task-started"


def grade_remote(task: GradeTask, sub: SubmissionInput, pack: AssignmentPack
                 ) -> RemoteOutcome:
    """The Dask task: grade ``sub`` in a free slot process of this worker."""
    _announce_start()
    local = replace(task, assignments_root=str(unpack(pack)),
                    cpu_threads=task.cpu_threads or _threads_per_slot())
    gpu = worker_gpu() if task.use_gpu else None
    outcome: RemoteOutcome = _slots().run(local, sub, gpu)
    return replace(outcome, worker=_worker_name())


def _announce_start() -> None:
    """Tell the client this task runs now. Dask counts a task as "processing" on a
    worker from the moment it is assigned there, even while it only waits for a free
    slot; when that worker dies, the client needs to know which tasks were running."""
    from distributed import get_worker

    worker = get_worker()
    worker.log_event(STARTED_TOPIC, {"key": str(worker.get_current_task())})


def _grade_in_slot(task: GradeTask, sub: SubmissionInput, gpu: int | None, slot: int
                   ) -> RemoteOutcome:
    """In the slot process: as the local pool's worker does, minus the gradebook."""
    from ...engine.grade_one import grade_input

    try:
        _use_template(task, gpu)
        return RemoteOutcome(grade_input(task, sub, slot=slot, gpu=gpu))
    except AutograderError as exc:  # no result: the submission is graded again next run
        return RemoteOutcome(None, exc.render())


_SPECS: dict[tuple[str, str, str | None], Any] = {}


def _use_template(task: GradeTask, gpu: int | None) -> None:
    """Fork this slot's kernels from a template made for the task's assignment, as the
    local pool's workers do (CPU kernels only; ``--no-fork`` and hosts without root or
    bubblewrap spawn them). The first task of an assignment waits for the template's
    imports; later ones find it running (``template.start`` keeps a matching one)."""
    from ...engine.kernel import template
    from ...engine.kernel.zygote import available

    if not task.fork or gpu is not None or not available():
        template.stop()
        return
    key = (task.assignments_root, task.assignment_id, task.data_dir)
    spec = _SPECS.get(key)
    if spec is None:
        from ...core.config import load_assignment
        from ...engine.grade_one import template_spec

        assignment = load_assignment(task.assignment_id, Path(task.assignments_root))
        data_dir = Path(task.data_dir) if task.data_dir else None
        spec = _SPECS[key] = template_spec(assignment, data_dir)
    template.start(spec)


class SlotProcesses:
    """One grading process per kernel slot of this worker, started on first use."""

    def __init__(self, slots: Sequence[int]):
        self._free: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._count = len(slots)
        for slot in slots:
            self._free.put(slot)
        self._pools: dict[int, tuple[bool, ProcessPoolExecutor]] = {}
        self._lock = threading.Lock()
        # Processes are spawned from this one long-lived thread: PR_SET_PDEATHSIG follows
        # the thread that forked, and Dask's task threads may come and go.
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ag-slots")

    def run(self, task: GradeTask, sub: SubmissionInput, gpu: int | None) -> Any:
        slot = self._free.get()
        try:
            pool = self._pool(slot, warm=gpu is None)
            return self._spawner.submit(pool.submit, _grade_in_slot, task, sub, gpu,
                                        slot).result().result()
        except BrokenProcessPool:
            self._discard(slot)
            raise GradingProcessDied(
                "the grading process died while grading this submission",
                where=f"slot {slot} of worker {_worker_name()}") from None
        finally:
            self._free.put(slot)

    def _pool(self, slot: int, *, warm: bool) -> ProcessPoolExecutor:
        """The slot's process; a new one when it was started for the other kind of
        batch (warm kernels are for CPU batches only, as in the local pool)."""
        with self._lock:
            held = self._pools.get(slot)
            if held is not None and held[0] == warm:
                return held[1]
            if held is not None:
                held[1].shutdown(wait=True)
            pool = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"),
                                       initializer=_init_slot, initargs=(warm, self._count))
            self._pools[slot] = (warm, pool)
            return pool

    def _discard(self, slot: int) -> None:
        with self._lock:
            held = self._pools.pop(slot, None)
        if held is not None:
            held[1].shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """End every slot process; their warm kernels are closed on the way out."""
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for _, pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)
        self._spawner.shutdown(wait=True)


def _init_slot(warm: bool, slots: int = 1) -> None:
    from ...engine.pool import _set_pdeathsig, _share_cores

    _set_pdeathsig()
    _share_cores(slots)  # this worker's slots share the cores (not other workers' slots)
    if warm:
        from ...engine.kernel.prestarted import enable_in_worker

        enable_in_worker()


_SLOTS: SlotProcesses | None = None
_SLOTS_LOCK = threading.Lock()


def _slots() -> SlotProcesses:
    global _SLOTS
    with _SLOTS_LOCK:
        if _SLOTS is None:
            count, base = _worker_slots()
            _SLOTS = SlotProcesses(range(base, base + count))
            atexit.register(_SLOTS.close)
        return _SLOTS


def close_slots() -> int:
    """End this worker's slot processes (the client calls it at the end of a batch)."""
    global _SLOTS
    with _SLOTS_LOCK:
        slots, _SLOTS = _SLOTS, None
    if slots is not None:
        slots.close()
    return os.getpid()


def _worker_slots() -> tuple[int, int]:
    """(slot count, first slot) of this worker. Slots pick the kernels' uids; workers of
    one local cluster are named 0, 1, ... and get disjoint ranges (elsewhere the uid
    lease finds a free uid when two workers on one machine pick the same slot)."""
    from distributed import get_worker

    worker = get_worker()
    count = max(1, int(worker.state.total_resources.get(KERNEL, 1)))
    name = worker.name
    return count, (name * count if isinstance(name, int) and name >= 0 else 0)


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().name)
    except ValueError:  # not in a worker (tests call the functions directly)
        return ""


def _threads_per_slot() -> int:
    count = _worker_slots()[0]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    return max(1, cores // count)


def engine_version() -> str:
    """``__version__`` and a digest of the package's code: two checkouts of one version
    that differ would grade differently, and the batch must not mix them."""
    from ... import __version__

    package = Path(__file__).resolve().parents[2]  # autograder/ (this: grading/cluster/)
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"


def worker_report(pack: AssignmentPack, data_dir: str | None,
                  datasets: tuple[str, ...]) -> WorkerReport:
    """Run on every worker before the batch: version, sandbox, datasets, GPU."""
    __version__ = engine_version()
    python = ".".join(map(str, sys.version_info[:2]))
    try:
        if multiprocessing.current_process().daemon:
            raise ClusterError("the worker process is daemonic and cannot start grading"
                               " processes", hint="start it with"
                               " DASK_DISTRIBUTED__WORKER__DAEMON=False (docs/scale.md)")
        unpack(pack)
        return WorkerReport(version=__version__, python=python, sandbox=_sandbox(),
                            missing=missing_datasets(data_dir, datasets), gpu=worker_gpu())
    except Exception as exc:  # reported with the worker's name; the client decides
        return WorkerReport(version=__version__, python=python, sandbox="?", missing=(),
                            gpu=None, error=f"{type(exc).__name__}: {exc}")


def missing_datasets(data_dir: str | None, names: tuple[str, ...]) -> tuple[str, ...]:
    """The datasets in ``names`` that the cache at ``data_dir`` lacks (or has in part)."""
    from ...datasets.catalog import by_name
    from ...datasets.listing import seed_entries

    complete = {folder for folder, _ in seed_entries(cache=data_dir, names=names)}
    return tuple(name for name in names if by_name(name).folder not in complete)


def _sandbox() -> str:
    from ...engine.kernel.sandbox import bwrap_available

    wanted = os.environ.get("AUTOGRADER_SANDBOX", "auto").strip().lower()
    return "bwrap" if wanted != "none" and bwrap_available() else "none"
