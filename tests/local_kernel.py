"""An unsandboxed ``KernelLike`` for tests: a real ipykernel started with jupyter_client.

The exchange directory is a temporary folder seen under the same path by both sides;
``autograder/engine/kernel/sandbox_files`` is put on the kernel's import path, as the sandbox does.
"""

from __future__ import annotations

import os
import queue
import time
from pathlib import Path
from typing import Any

from jupyter_client.manager import KernelManager

from autograder.engine.kernel.api import CodeResult

SANDBOX_FILES = (Path(__file__).resolve().parents[1] / "autograder" / "engine" / "kernel"
                 / "sandbox_files")


class LocalKernel:
    def __init__(self, workdir: Path, *, preload_bridge: bool = True):
        self._exchange = workdir / "exchange"
        self._exchange.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SANDBOX_FILES),
                                                          env.get("PYTHONPATH")]))
        env["AG_EXCHANGE"] = str(self._exchange)
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(env=env, cwd=str(workdir))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        if preload_bridge:
            self.run_code("import ag_bridge")

    @property
    def exchange_dir(self) -> Path:
        return self._exchange

    @property
    def kernel_exchange_dir(self) -> str:
        return str(self._exchange)

    def run_code(self, code: str, *, timeout: float = 60.0) -> CodeResult:
        return self._run(code, timeout=timeout, store_history=False)

    def _run(self, code: str, *, timeout: float, store_history: bool) -> CodeResult:
        msg_id = self.kc.execute(code, store_history=store_history, allow_stdin=False)
        deadline = time.monotonic() + timeout
        stdout: list[str] = []
        while True:
            if time.monotonic() > deadline:
                self.km.interrupt_kernel()
                self._drain(msg_id, 3.0, stdout)
                return CodeResult(ok=False, stdout="".join(stdout), timed_out=True)
            try:
                reply = self.kc.get_shell_msg(timeout=0.2)
            except queue.Empty:
                if not self.km.is_alive():
                    return CodeResult(ok=False, kernel_died=True)
                continue
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        self._drain(msg_id, 5.0, stdout)
        content = reply["content"]
        return CodeResult(ok=content["status"] == "ok", stdout="".join(stdout),
                          error_name=content.get("ename", ""),
                          error_value=content.get("evalue", ""))

    def _drain(self, msg_id: str, seconds: float, stdout: list[str]) -> None:
        """Read iopub up to the request's idle status, keeping what it printed."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                msg: dict[str, Any] = self.kc.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                stdout.append(msg["content"]["text"])
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return

    def execute(self, code: str, timeout: float = 120.0) -> CodeResult:
        """Run a notebook cell (tests use it to play the student); fail loudly on error."""
        result = self._run(code, timeout=timeout, store_history=True)
        if not result.ok:
            raise AssertionError(f"kernel code failed: {result.error_name}: "
                                 f"{result.error_value}")
        return result

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)

    def __enter__(self) -> LocalKernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
