"""Kernel slots and GPU memory budgets as Dask resources.

Dask's scheduler places our tasks; these numbers are all it needs to keep a worker
within its means. Each grading worker declares

- ``kernel``: its kernel slots (``--jobs`` for clusters we start; ``--resources
  kernel=N`` on workers started by hand), and, when it owns a GPU,
- ``gpu = 1`` and ``gpu_mb``: the memory of that one GPU that kernels may share.

A task asks for one ``kernel`` and, on a ``cuda`` assignment, for the manifest's
``[limits] gpu_memory_mb`` of ``gpu_mb`` (or the whole ``gpu`` when the manifest gives no
budget). A worker then runs at most ``min(slots, gpu_mb // budget)`` kernels at once,
all on its own GPU: four 14_h kernels of 3 GB share a 16 GB card, forty an H200.

One GPU per worker keeps "which GPU" out of the scheduler: several GPUs on one machine
are several workers (``cluster.open_client`` starts them so for ``--cluster local:N``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ...core.errors import ConfigError

KERNEL = "kernel"
GPU = "gpu"
GPU_MB = "gpu_mb"

Resources = dict[str, float]


def kernels_per_gpu(total_mb: int, budget_mb: int) -> int:
    """Kernels whose budgets fit on a GPU of ``total_mb`` (one when either is unknown)."""
    if total_mb <= 0 or budget_mb <= 0:
        return 1
    return max(1, total_mb // budget_mb)


def worker_resources(*, slots: int, gpu_mb: int | None = None) -> Resources:
    """What one worker declares: its slots, and its GPU's memory when it owns one."""
    if slots < 1:
        raise ConfigError(f"a worker needs at least one kernel slot, got {slots}",
                          hint="--jobs N sets the kernel slots of each worker")
    out: Resources = {KERNEL: float(slots)}
    if gpu_mb is not None:
        out[GPU] = 1.0
        out[GPU_MB] = float(max(gpu_mb, 1))
    return out


def task_resources(*, gpu: bool, budget_mb: int, kernels: int = 1) -> Resources:
    """What one grading task asks for; ``kernels > 1`` keeps a worker to itself (a task
    run again alone after a worker died under it, ``cluster_run``)."""
    out: Resources = {KERNEL: float(kernels)}
    if gpu:
        if budget_mb > 0:
            out[GPU_MB] = float(budget_mb)
        else:  # no budget in the manifest: one kernel per GPU, as the local pool does
            out[GPU] = 1.0
    return out


def concurrent(worker: Mapping[str, float], task: Mapping[str, float]) -> int:
    """How many such tasks Dask runs on such a worker at once (0: never there)."""
    counts = [int(worker.get(name, 0.0) // need) for name, need in task.items() if need > 0]
    return min(counts, default=0)


def resources_flag(resources: Mapping[str, float]) -> str:
    """``resources`` as ``dask worker --resources`` takes them: ``kernel=4,gpu=1,...``."""
    return ",".join(f"{name}={value:g}" for name, value in resources.items())


def one_gpu_per_worker(workers: int | None, gpus: Sequence[int]) -> list[int]:
    """The GPU of each local worker: one worker per GPU in ``gpus``."""
    if workers is not None and workers != len(gpus):
        raise ConfigError(f"--cluster local:{workers} with {len(gpus)} GPU(s) in --gpus",
                          hint=f"each local worker owns one GPU: use --cluster local:{len(gpus)}"
                               " (or plain --cluster local); --jobs sets kernels per GPU")
    if len(set(gpus)) != len(gpus):
        raise ConfigError(f"--gpus lists a GPU twice: {','.join(map(str, gpus))}")
    return list(gpus)
