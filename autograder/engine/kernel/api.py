"""The narrow interface between the grader and a running kernel.

``kernel.SandboxedKernel`` implements ``KernelLike``; the bridge and the checks depend on
this protocol only, so they can be tested against any real kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class CodeResult:
    """Outcome of one snippet run in the kernel (all fields are untrusted text)."""

    ok: bool
    stdout: str = ""
    error_name: str = ""
    error_value: str = ""
    timed_out: bool = False
    kernel_died: bool = False
    answer: bytes | None = None  # a bridge answer the kernel's channel carried (bytes)


class KernelLike(Protocol):
    @property
    def exchange_dir(self) -> Path:
        """Host path of the per-submission exchange directory (kernel may write there)."""

    @property
    def kernel_exchange_dir(self) -> str:
        """The same directory as the kernel sees it (also ``$AG_EXCHANGE`` in the kernel)."""

    def run_code(self, code: str, *, timeout: float = 60.0) -> CodeResult:
        """Execute ``code`` in the kernel's user namespace and wait for it."""


class NotebookRun(Protocol):
    """What executing a whole notebook came to (``execution.ExecutionReport``)."""

    @property
    def status(self) -> str:
        """``ok``, ``error``, ``timeout`` or ``killed``."""

    @property
    def reason(self) -> str:
        """Why it was not ``ok``, in the grader's language."""


class GradingKernel(KernelLike, Protocol):
    """What grading one submission needs of its kernel: the bridge's ``KernelLike`` and
    running the notebook (``SandboxedKernel``; tests use fakes of this shape)."""

    def execute_notebook(self, nb: Any) -> NotebookRun:
        """Run the notebook's code cells in order, outputs recorded in ``nb``."""
