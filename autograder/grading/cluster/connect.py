"""Where a cluster batch runs: which Dask cluster ``grade`` starts or joins.

- ``--cluster local:N``: a ``LocalCluster`` of N worker processes on this machine, each
  with ``--jobs`` kernel slots, listening on 127.0.0.1 only, no dashboard. With
  ``--gpus`` on a ``cuda`` assignment there is one worker per GPU (N = the number of
  GPUs), each told its GPU (``AUTOGRADER_GPU``) and declaring that GPU's memory.
- ``--cluster slurm[:N]``: a ``dask_jobqueue.SLURMCluster`` from the user's jobqueue
  configuration (cores, memory, partition, the workers' ``--resources``), N jobs
  (default 1), over TLS with temporary credentials.
- ``--scheduler ADDRESS``: a cluster someone started (``dask scheduler`` / ``dask worker``).

The scheduler is Dask's; this module only builds it. Clusters we start allow no silent
rerun after a worker death (``allowed-failures = 0``): ``cluster_run`` decides what runs
again, because Dask's own count cannot tell the submission that killed a worker from the
ones that merely ran beside it. Their worker processes are not daemonic
(``distributed.worker.daemon = false``): a grading worker starts one process per kernel
slot, and Python forbids children to daemonic processes. The setting is read whenever a
nanny (re)starts a worker, so it holds for the whole life of the cluster.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ...core.errors import ClusterError, ConfigError
from ...engine.kernel.gpu_env import WORKER_GPU
from .gpu_slots import one_gpu_per_worker, worker_resources

if TYPE_CHECKING:
    from distributed import Client

Kind = Literal["local", "slurm", "scheduler"]
LOOPBACK = "127.0.0.1"
DEATH_TIMEOUT_S = 30  # a worker whose scheduler is gone (the client was killed) ends
CLUSTER_CONFIG = {"distributed.scheduler.allowed-failures": 0,
                  "distributed.worker.daemon": False}


@dataclass(frozen=True)
class ClusterTarget:
    kind: Kind
    count: int | None = None   # local: worker processes; slurm: jobs
    address: str = ""          # scheduler


def parse_target(cluster: str | None, scheduler: str | None) -> ClusterTarget | None:
    """``--cluster`` / ``--scheduler`` as a target (``None``: the local process pool)."""
    if cluster and scheduler:
        raise ConfigError("--cluster and --scheduler exclude each other",
                          hint="--cluster starts a cluster, --scheduler joins one")
    if scheduler:
        if "://" not in scheduler:
            scheduler = f"tcp://{scheduler}"
        return ClusterTarget("scheduler", address=scheduler)
    if not cluster:
        return None
    kind, _, count = cluster.partition(":")
    if kind not in ("local", "slurm") or (count and not count.isdigit()) or count == "0":
        raise ConfigError(f"--cluster {cluster!r} is not understood",
                          hint="local, local:N (N worker processes), slurm or slurm:N (N jobs)")
    return ClusterTarget(kind, int(count) if count else None)  # type: ignore[arg-type]


@contextmanager
def open_client(target: ClusterTarget, *, jobs: int, gpus: Sequence[int],
                gpu_budget_mb: int) -> Iterator[Client]:
    """A Dask client for ``target``; a cluster started here ends with the block."""
    import dask
    from distributed import Client

    if target.kind == "scheduler":
        with _joined(target.address) as client:
            yield client
        return
    with dask.config.set(CLUSTER_CONFIG):
        cluster = (_local(target.count, jobs, gpus, gpu_budget_mb) if target.kind == "local"
                   else _slurm(target.count))
        with cluster, Client(cluster) as client:
            yield client


@contextmanager
def _joined(address: str, timeout_s: float = 30.0) -> Iterator[Client]:
    from distributed import Client

    try:
        client = Client(address, timeout=timeout_s)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler ({exc})", where=address,
                           hint="is `dask scheduler` running there, and the port open?"
                                " (docs/scale.md)") from None
    with client:
        yield client


def _local(count: int | None, jobs: int, gpus: Sequence[int], budget_mb: int) -> Any:
    from distributed import LocalCluster

    if gpus:
        return _local_gpus(one_gpu_per_worker(count, gpus), jobs, budget_mb)
    n = count or max(1, (os.cpu_count() or 1) // max(1, jobs))
    return LocalCluster(n_workers=n, threads_per_worker=jobs, processes=True,
                        host=LOOPBACK, dashboard_address=None,
                        resources=worker_resources(slots=jobs), memory_limit=0,
                        death_timeout=DEATH_TIMEOUT_S, silence_logs=logging.CRITICAL)


def _local_gpus(gpus: list[int], jobs: int, budget_mb: int) -> Any:
    """One worker per GPU. ``LocalCluster`` gives every worker the same options, so this
    is the same ``SpecCluster`` it builds, with each worker's own GPU in its env."""
    from distributed import Nanny, Scheduler, SpecCluster

    from ...engine.pool import gpu_memory_mb

    memory = gpu_memory_mb()
    common = {"host": LOOPBACK, "nthreads": jobs, "dashboard": False, "memory_limit": 0,
              "death_timeout": DEATH_TIMEOUT_S, "silence_logs": logging.CRITICAL}
    workers = {i: {"cls": Nanny, "options": {
        **common, "env": {WORKER_GPU: str(gpu)},
        "resources": worker_resources(slots=jobs,
                                      gpu_mb=memory.get(gpu) or max(budget_mb, 1))}}
        for i, gpu in enumerate(gpus)}
    scheduler = {"cls": Scheduler, "options": {"host": LOOPBACK, "dashboard": False,
                                               "dashboard_address": None}}
    return SpecCluster(workers=workers, scheduler=scheduler, silence_logs=logging.CRITICAL)


def _slurm(jobs: int | None) -> Any:
    cluster = slurm_cluster()
    cluster.scale(jobs=jobs or 1)
    return cluster


def slurm_cluster() -> Any:
    """A ``SLURMCluster`` from the user's jobqueue configuration, no job submitted yet."""
    try:
        from dask_jobqueue.slurm import SLURMCluster
    except ImportError:
        raise ClusterError("dask-jobqueue is not installed", where="--cluster slurm",
                           hint="pip install 'dl-autograder[cluster]'") from None
    import dask

    # the job's worker reads its own configuration: tell it in the job script
    prologue = [*(dask.config.get("jobqueue.slurm.job-script-prologue", None) or []),
                "export DASK_DISTRIBUTED__WORKER__DAEMON=False"]
    return SLURMCluster(security=_slurm_security(), job_script_prologue=prologue)


def _slurm_security() -> Any:
    """TLS for a scheduler that other machines (and users) of the cluster can reach: it
    runs whatever task it is sent. The dask configuration's own TLS settings, else
    temporary credentials (written for the workers to jobqueue's shared temp folder)."""
    import dask
    from distributed.security import Security

    if dask.config.get("distributed.comm.tls.ca-file", None):
        return Security()
    try:
        return Security.temporary()
    except ImportError:
        raise ClusterError("the Slurm cluster needs TLS, and `cryptography` is missing",
                           where="--cluster slurm",
                           hint="pip install 'dl-autograder[cluster]', or configure TLS in"
                                " dask's configuration (docs/scale.md)") from None
