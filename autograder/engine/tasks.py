"""One submission to grade, and what grading it came to: plain, picklable data.

The local pool (``pool.py``) and a Dask cluster (``grading/cluster/``) hand ``GradeTask``
objects to ``grade_one.grade_task`` and collect ``TaskOutcome`` objects; both sides
import them from here, so the pool and the grader do not import each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.results import Status


@dataclass(frozen=True)
class GradeTask:
    """Everything a worker needs to grade one stored submission (picklable)."""

    submission_id: int
    gradebook: str
    assignment_id: str
    assignments_root: str
    run_id: int
    lang: str = "ja"
    overrides: tuple[tuple[str, bool | int | float | str], ...] = ()
    kernel_factory: str = "autograder.engine.kernel.sandboxed:SandboxedKernel"
    data_dir: str | None = None
    use_gpu: bool = False
    cpu_threads: int = 1  # threads the kernel may use (cores / parallel jobs)
    fingerprint: str = ""  # JSON of what grades it (fingerprint.py), stored with the result
    # may a cluster worker's slot process fork this task's kernel from a template (CPU
    # kernels only; the local pool decides once for its workers: ``PoolOptions.template``)
    fork: bool = True


@dataclass(frozen=True)
class TaskOutcome:
    submission_id: int
    status: Status
    score: float
    max_score: float
    error: str = ""
    participant: str = ""     # for progress lines (a log shows who is done)
    seconds: float = 0.0      # wall time of this submission in its worker


__all__ = ["GradeTask", "TaskOutcome"]
