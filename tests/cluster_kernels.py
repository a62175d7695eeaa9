"""Kernel factories for the cluster tests (``grade(kernel_factory="cluster_kernels:...")``).

They run in a Dask worker's slot process, which imports this module by name: pytest puts
``tests/`` on ``sys.path`` and spawned processes inherit it.

- ``WorkerKillingKernel``: a notebook whose source holds ``AG_TEST_KILL_WORKER`` kills the
  Dask worker that grades it (the slot process's parent), as a crash of the worker's
  machine would; one holding ``AG_TEST_EXIT_GRADER`` ends its own grading process.
- ``FakeGpuKernel``: records the GPU it was given (and the environment the sandbox would
  give such a kernel) in ``$AG_TEST_RECORD``, then runs on the CPU: GPU scheduling
  tested on a machine without one.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from autograder.core.config import Limits
from autograder.core.errors import SandboxError
from autograder.engine.kernel.sandbox import SandboxSpec, kernel_env
from autograder.engine.kernel.sandboxed import SandboxedKernel


def _source(nb: Any) -> str:
    return "\n".join(str(cell.get("source", "")) for cell in nb.cells)


class WorkerKillingKernel(SandboxedKernel):
    def execute_notebook(self, nb: Any) -> Any:
        text = _source(nb)
        if "AG_TEST_KILL_WORKER" in text:
            os.kill(os.getppid(), signal.SIGKILL)
            time.sleep(60)  # PR_SET_PDEATHSIG ends this process with its worker
        if "AG_TEST_EXIT_GRADER" in text:
            os._exit(3)
        return super().execute_notebook(nb)


class SandboxFailingKernel(SandboxedKernel):
    def execute_notebook(self, nb: Any) -> Any:
        if "AG_TEST_SANDBOX_FAILS" in _source(nb):
            raise SandboxError("the sandbox could not start (a test's failure)")
        return super().execute_notebook(nb)


class FakeGpuKernel(SandboxedKernel):
    def __init__(self, *, gpu: int | None = None, limits: Limits | None = None,
                 **kwargs: Any):
        self._record = Path(os.environ["AG_TEST_RECORD"]) / f"{os.getpid()}-{time.time_ns()}"
        spec = SandboxSpec(workdir=Path("/w"), exchange=Path("/x"), home=Path("/h"),
                           limits=limits or Limits(), gpu=gpu)
        env = kernel_env(spec, "none") if gpu is not None else {}
        self._seen = {"gpu": gpu, "pid": os.getpid(), "start": time.time(),
                      "CUDA_VISIBLE_DEVICES": env.get("CUDA_VISIBLE_DEVICES"),
                      "AG_GPU_MEMORY_MB": env.get("AG_GPU_MEMORY_MB")}
        super().__init__(gpu=None, limits=limits, **kwargs)  # no GPU here: run on the CPU

    def close(self) -> None:
        super().close()
        self._record.write_text(json.dumps({**self._seen, "end": time.time()}))
