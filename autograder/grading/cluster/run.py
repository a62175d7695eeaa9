"""A batch on a Dask cluster: the client submits, Dask places, the client stores.

``grade`` hands its ``GradeTask``s here instead of to the local pool. The client keeps a
window of tasks in flight (twice the cluster's kernel slots), each carrying the
submission's bytes and the packed assignment (``assignment_pack``); Dask's scheduler
places them on workers by their resources (``gpu_slots``), and each ``SubmissionResult``
comes back as plain data. The client is the gradebook's one writer: it stores each
result as it arrives, in its own transaction, so a client killed midway resumes from the
gradebook exactly as the local pool does.

When a worker dies under a task, nobody knows which of the tasks it ran killed it.
Each of them runs once more alone on a worker (it asks for all of a worker's slots); a
task that a worker dies under a second time, or whose own grading process died twice
(``cluster_worker.GradingProcessDied``, retried once by Dask), is recorded as
``crashed`` with every item at zero, and never tried again in this run. Tasks that were
only waiting on the dead worker for a free slot (each running task announces its start)
are simply sent again: they count no death.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from uuid import uuid4

from ...core.config import Assignment
from ...core.i18n import Lang
from ...core.results import Notice, Status, SubmissionResult
from ...engine.crashed import crashed_result
from ...engine.grade_one import SubmissionInput
from ...engine.tasks import GradeTask, TaskOutcome
from ...engine.zero_catalog import ZeroCatalog, collect_catalog_apart
from ...store.fingerprint import Fingerprint
from ...store.gradebook import Gradebook
from .connect import ClusterTarget, open_client
from .gpu_slots import task_resources
from .pack import AssignmentPack, pack_assignment
from .preflight import Workers, check_reports, check_task_fits, grading_workers

MIN_WINDOW = 4


@dataclass(frozen=True)
class ClusterPlan:
    """What ``grade`` was asked for: where, and with how many slots per worker."""

    target: ClusterTarget
    jobs: int = 1
    gpus: tuple[int, ...] = ()
    data_dir: Path | None = None


@dataclass(frozen=True)
class _Attempt:
    task: GradeTask
    deaths: int = 0      # workers that died under this submission
    alone: bool = False  # asks for every slot of a worker


Done = Callable[[TaskOutcome], None]


@contextmanager
def cluster_batch(plan: ClusterPlan, *, assignment: Assignment, gradebook: Path,
                  lang: Lang) -> Iterator[ClusterBatch]:
    """Start or join the cluster and check its workers; the batch runs in the block."""
    use_gpu = assignment.device == "cuda"
    with open_client(plan.target, jobs=plan.jobs, gpus=plan.gpus if use_gpu else (),
                     gpu_budget_mb=assignment.limits.gpu_memory_mb) as client:
        batch = ClusterBatch(client, plan=plan, assignment=assignment, gradebook=gradebook,
                             lang=lang)
        try:
            batch.prepare()
            yield batch
        finally:
            batch.close()


class ClusterBatch:
    def __init__(self, client: Any, *, plan: ClusterPlan, assignment: Assignment,
                 gradebook: Path, lang: Lang):
        self.client, self.plan, self.assignment = client, plan, assignment
        self.gradebook, self.lang = gradebook, lang
        self.pack: AssignmentPack = pack_assignment(assignment.root, assignment.id)
        self.messages: list[Notice] = []
        self.workers = Workers({})
        self.use_gpu = False
        self._catalog: ZeroCatalog | None = None
        self._reruns = 0
        self._crashed = 0
        self._started: set[str] = set()  # task keys that began to run on a worker

    def prepare(self) -> None:
        """The checks of ``cluster_check``, before any submission is sent."""
        from .worker import STARTED_TOPIC, engine_version, missing_datasets, worker_report

        self.client.subscribe_topic(STARTED_TOPIC, self._on_started)
        self.workers = grading_workers(self.client)
        self.use_gpu = self.assignment.device == "cuda" and self.workers.any_gpu
        check_task_fits(self.workers, self._resources(alone=False),
                        budget_mb=self.assignment.limits.gpu_memory_mb)
        data = self._data_dir()
        here = missing_datasets(data, self.assignment.datasets)
        reports = self.client.run(worker_report, self.pack, data, self.assignment.datasets,
                                  workers=list(self.workers.resources))
        self.messages += check_reports(reports, version=engine_version(), here_missing=here,
                                       use_gpu=self.use_gpu, lang=self.lang)
        if self.plan.target.kind == "scheduler":
            self.messages += self._scheduler_notices()

    def run(self, tasks: Sequence[GradeTask], on_done: Done) -> list[Notice]:
        """Grade ``tasks``; call ``on_done`` per submission as its result is stored."""
        from distributed import as_completed

        todo = deque(_Attempt(self._localised(t)) for t in tasks)
        live: dict[Any, _Attempt] = {}
        finished = as_completed()
        with Gradebook(self.gradebook) as gb:
            self._fill(gb, todo, live, finished)
            for future in finished:
                again = self._settle(gb, future, live.pop(future), on_done)
                if again is not None:
                    todo.appendleft(again)
                self._fill(gb, todo, live, finished)
        return [*self.messages, *self._summary()]

    def close(self) -> None:
        """End the workers' slot processes (a cluster we started ends after this)."""
        from .worker import close_slots

        with contextlib.suppress(Exception):  # a worker already gone has no processes
            self.client.run(close_slots)

    # -- submitting ----------------------------------------------------------------

    def _fill(self, gb: Gradebook, todo: deque[_Attempt], live: dict[Any, _Attempt],
              finished: Any) -> None:
        window = max(MIN_WINDOW, 2 * int(sum(r.get("kernel", 0.0)
                                             for r in self.workers.resources.values())))
        while todo and len(live) < window:
            attempt = todo.popleft()
            future = self._submit(gb, attempt)
            live[future] = attempt
            finished.add(future)

    def _submit(self, gb: Gradebook, attempt: _Attempt) -> Any:
        from .worker import grade_remote

        sid = attempt.task.submission_id
        stored = gb.submission(sid)
        sub = SubmissionInput(participant=stored.participant, file=stored.file,
                              sha256=stored.sha256, intake=stored.intake,
                              content=gb.content(sid))
        return self.client.submit(grade_remote, attempt.task, sub, self.pack,
                                  key=f"grade-{sid}-{uuid4().hex[:12]}", pure=False,
                                  retries=1, resources=self._resources(alone=attempt.alone))

    def _resources(self, *, alone: bool) -> dict[str, float]:
        budget = self.assignment.limits.gpu_memory_mb
        one = task_resources(gpu=self.use_gpu, budget_mb=budget)
        if not alone:
            return one
        return task_resources(gpu=self.use_gpu, budget_mb=budget,
                              kernels=self.workers.most_slots(one))

    def _localised(self, task: GradeTask) -> GradeTask:
        """The task as workers need it: the GPU decision, threads per kernel (here for
        a local cluster; each worker decides for one elsewhere), the shared data path."""
        threads = 0
        if self.plan.target.kind == "local":
            slots = sum(r.get("kernel", 0.0) for r in self.workers.resources.values())
            threads = max(1, (os.cpu_count() or 1) // max(1, int(slots)))
        return replace(task, use_gpu=self.use_gpu, cpu_threads=threads,
                       data_dir=self._data_dir())

    def _data_dir(self) -> str:
        from ...datasets.cache import resolve

        return str(resolve(self.plan.data_dir).absolute())

    def _on_started(self, event: tuple[float, Any]) -> None:
        # on the client's event loop thread; a set's add is atomic
        msg = event[1]
        if isinstance(msg, dict) and isinstance(msg.get("key"), str):
            self._started.add(msg["key"])

    # -- settling ------------------------------------------------------------------

    def _settle(self, gb: Gradebook, future: Any, attempt: _Attempt, on_done: Done
                ) -> _Attempt | None:
        """Store what came back; the attempt to run next for this submission, if any."""
        from distributed import KilledWorker

        from .worker import GradingProcessDied

        try:
            # result(), not status: a finished result on a worker that dies before it is
            # fetched is lost, and Dask computes it again; result() waits for that
            outcome = future.result()
        except Exception as error:  # the task's exception, or the future cancelled
            exc = error
        else:
            self._store(gb, attempt.task, outcome, on_done)
            return None
        if isinstance(exc, KilledWorker) and str(future.key) not in self._started:
            return attempt  # it was only waiting there for a slot: send it again
        if isinstance(exc, KilledWorker) and attempt.deaths == 0:
            self._reruns += 1
            return _Attempt(attempt.task, deaths=1, alone=True)
        if isinstance(exc, (KilledWorker, GradingProcessDied)):
            self._record_crash(gb, attempt.task, on_done)
            return None
        on_done(TaskOutcome(attempt.task.submission_id, Status.ERROR, 0.0, 0.0,
                            f"worker failed: {type(exc).__name__}: {exc}"))
        return None

    def _store(self, gb: Gradebook, task: GradeTask, outcome: Any, on_done: Done) -> None:
        result: SubmissionResult | None = outcome.result
        sid = task.submission_id
        if result is None:  # as in the local pool: no result, graded again next run
            on_done(TaskOutcome(sid, Status.ERROR, 0.0, 0.0, outcome.error))
            return
        gb.save_result(sid, result, run_id=task.run_id,
                       fingerprint=Fingerprint.from_json(task.fingerprint))
        on_done(TaskOutcome(sid, result.status, result.score, result.max_score))

    def _record_crash(self, gb: Gradebook, task: GradeTask, on_done: Done) -> None:
        if self._catalog is None:
            self._catalog = collect_catalog_apart(self.assignment.id,
                                                  self.assignment.root.parent)
        result = crashed_result(gb, task, self._catalog, self.lang)
        gb.save_result(task.submission_id, result, run_id=task.run_id,
                       fingerprint=Fingerprint.from_json(task.fingerprint))
        self._crashed += 1
        on_done(TaskOutcome(task.submission_id, Status.CRASHED, 0.0, result.max_score,
                            result.reason))

    # -- what the instructor is told -----------------------------------------------

    def _summary(self) -> list[Notice]:
        if not (self._reruns or self._crashed):
            return []
        return [Notice("cluster_reruns",
                       f"ワーカーの停止により {self._reruns} 件を単独で再実行し、"
                       f"{self._crashed} 件を crashed として記録しました",
                       f"{self._reruns} task(s) ran again alone after a worker died; "
                       f"{self._crashed} submission(s) recorded as crashed")]

    def _scheduler_notices(self) -> list[Notice]:
        allowed = self.client.run_on_scheduler(_allowed_failures)
        if not allowed:
            return []
        return [Notice("cluster_allowed_failures",
                       f"スケジューラは allowed-failures = {allowed} です。ワーカーを停止させる"
                       f"提出物が最大 {allowed + 2} 台を停止させます (docs/scale.md)",
                       f"the scheduler has allowed-failures = {allowed}: a submission that "
                       f"kills workers may kill up to {allowed + 2} (docs/scale.md)")]


def _allowed_failures(dask_scheduler: Any) -> int:
    return int(dask_scheduler.allowed_failures)
