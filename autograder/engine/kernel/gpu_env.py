"""What a kernel that owns a GPU sees beside the device: its memory cap and MPS.

Several kernels share one GPU (``gpu_slots``); each is told its share:

- ``AG_GPU_MEMORY_MB``: the manifest's ``gpu_memory_mb``. The kernel's startup extension
  (``sandbox_files/ag_startup.py``) turns it into
  ``torch.cuda.set_per_process_memory_fraction`` before any student code runs, so one
  notebook that allocates without measure gets an out-of-memory error in its own cell
  instead of starving the kernels beside it. The student's code could raise the fraction
  again: it is a guard against accidents, not a boundary (docs/security.md).
- ``PYTORCH_CUDA_ALLOC_CONF``: the caching allocator gives cached blocks back once 80 %
  of the cap is in use, rather than failing at the cap while holding free cache.
- NVIDIA MPS, when the instructor runs its daemon (docs/scale.md): the daemon's
  ``CUDA_MPS_PIPE_DIRECTORY`` and ``CUDA_MPS_LOG_DIRECTORY`` are passed through, the pipe
  folder is bound read-only into the sandbox (``mps_pipe``), and the per-client memory
  limit of MPS (``CUDA_MPS_PINNED_DEVICE_MEM_LIMIT``), which the MPS server enforces,
  is set to the same budget.

``AUTOGRADER_GPU`` names the GPU of a grading worker of a Dask cluster (its host index in
PCI-bus order, as ``--gpus`` takes it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ...core.errors import ConfigError

WORKER_GPU = "AUTOGRADER_GPU"
MEMORY_ENV = "AG_GPU_MEMORY_MB"
MPS_VARS = ("CUDA_MPS_PIPE_DIRECTORY", "CUDA_MPS_LOG_DIRECTORY")
ALLOC_CONF = "garbage_collection_threshold:0.8"


def kernel_gpu_env(budget_mb: int, environ: Mapping[str, str] | None = None
                   ) -> dict[str, str]:
    """Environment entries for a kernel that owns a GPU (its index is set elsewhere)."""
    env = {"PYTORCH_CUDA_ALLOC_CONF": ALLOC_CONF}
    if budget_mb > 0:
        env[MEMORY_ENV] = str(budget_mb)
    mps = mps_env(environ)
    env.update(mps)
    if mps and budget_mb > 0:
        # device 0: the kernel sees its one GPU under that number
        env["CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"] = f"0={budget_mb}M"
    return env


def mps_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The MPS variables of the grader's environment that are set (empty: no MPS)."""
    source = os.environ if environ is None else environ
    return {name: source[name] for name in MPS_VARS if source.get(name)}


def mps_pipe(environ: Mapping[str, str] | None = None) -> str | None:
    """The MPS pipe folder to bind into the sandbox, when MPS is in use and it exists."""
    pipe = mps_env(environ).get("CUDA_MPS_PIPE_DIRECTORY")
    return pipe if pipe and os.path.isabs(pipe) and Path(pipe).is_dir() else None


def worker_gpu(environ: Mapping[str, str] | None = None) -> int | None:
    """The GPU of this grading worker (``AUTOGRADER_GPU``), or ``None``."""
    raw = (os.environ if environ is None else environ).get(WORKER_GPU, "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise ConfigError(f"{WORKER_GPU}={raw!r} is not a GPU index", where="environment",
                          hint="one host GPU index in PCI-bus order, e.g. 0 (docs/scale.md)")
    return int(raw)
