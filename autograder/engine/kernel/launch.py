"""Launching a sandboxed kernel: the command line confined by the sandbox, the client
connected over IPC with capped messages, and the ways to drop a kernel.

``launch_kernel`` is the default ``Launcher`` of ``SandboxedKernel`` (``sandboxed.py``);
``forked.py`` launches from a template process instead and returns the same
``LaunchedKernel``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import zmq
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager

from ...core.errors import SandboxError
from .channel import BridgeChannel
from .sandbox import (
    Mode,
    SandboxSpec,
    wrap_command,
)


class KernelProcess(Protocol):
    """The kernel's outermost process as the grader holds it (``subprocess.Popen`` for a
    spawned kernel, ``forked.ForkedProcess`` for a forked one)."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


@dataclass
class LaunchedKernel:
    """A started kernel: a connected client, its process and its bridge channel."""

    spec: SandboxSpec              # what it actually runs with (directories included)
    manager: KernelManager | None  # None: no jupyter_client manager (a forked kernel)
    client: BlockingKernelClient
    process: KernelProcess
    context: zmq.Context[Any]
    monitor: zmq.Socket[Any] | None = None
    channel: BridgeChannel | None = None
    kernel_pid: int | None = None  # the ipykernel process, when the launcher knows it


class Launcher(Protocol):
    def __call__(self, spec: SandboxSpec, *, mode: Mode, log_path: Path,
                 startup_timeout: float, max_message_bytes: int) -> LaunchedKernel: ...


# ----------------------------------------------------------------------------- launching


class SandboxKernelManager(KernelManager):
    """jupyter_client's manager, with the kernel command confined by ``wrap_command``."""

    def __init__(self, *, spec: SandboxSpec, mode: Mode, **kwargs: Any):
        super().__init__(**kwargs)
        self.sandbox_spec = spec
        self.sandbox_mode = mode

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        conn = self._write_kernel_connection_file()
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", conn,
                "--IPKernelApp.extensions=ag_startup",
                # IPython's history database: a sqlite insert and its saving thread's
                # wake-up after every cell (1.4 ms of a cell's 2.2 in the kernel), for a
                # history that dies with the kernel; In/Out and %history work without it
                "--HistoryManager.enabled=False",
                # ipykernel pauses 0.5 ms before each reply for clients that stop at the
                # reply; the execution loop waits for the idle status after it
                "--IPythonKernel._execute_sleep=0"]
        return wrap_command(argv, self.sandbox_spec, mode=self.sandbox_mode)

    def _write_kernel_connection_file(self) -> str:
        """The connection file as the kernel sees it (socket paths inside the sandbox)."""
        spec = self.sandbox_spec
        assert spec.runtime is not None
        view = spec.view(self.sandbox_mode)
        info = dict(self.get_connection_info())
        info["ip"] = f"{view.runtime}/k"
        info["key"] = self.session.key.decode("ascii")
        info.pop("curve_secretkey", None)
        info.pop("curve_publickey", None)
        host = spec.runtime / "kernel-sandbox.json"
        fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(info, fh)
        if spec.drops_uid:
            os.chown(host, spec.uid, spec.uid)
        return f"{view.runtime}/kernel-sandbox.json"


def launch_kernel(spec: SandboxSpec, *, mode: Mode, log_path: Path, startup_timeout: float,
                  max_message_bytes: int) -> LaunchedKernel:
    """Start a kernel for ``spec`` and wait until it answers (raises ``SandboxError``)."""
    runtime = spec.runtime
    assert runtime is not None
    channel, theirs = BridgeChannel.pair()
    spec = replace(spec, bridge_fd=theirs.fileno())
    km = SandboxKernelManager(spec=spec, mode=mode, transport="ipc", ip=str(runtime / "k"),
                              connection_file=str(runtime / "kernel.json"))
    try:
        with open(log_path, "ab") as log:
            km.start_kernel(env={"PATH": "/usr/local/bin:/usr/bin:/bin"}, stdout=log,
                            stderr=log, cwd=str(spec.workdir), pass_fds=(theirs.fileno(),))
    except BaseException:
        channel.close()
        raise
    finally:
        theirs.close()
    process = km.provisioner.process  # type: ignore[union-attr]
    ctx = client_context(max_message_bytes)
    client = km.client(context=ctx)
    launched = LaunchedKernel(spec=spec, manager=km, client=client, process=process,
                              context=ctx, channel=channel)
    connect(launched, startup_timeout=startup_timeout, log_path=log_path)
    return launched


def client_context(max_message_bytes: int) -> zmq.Context[Any]:
    """A ZMQ context whose defaults reach every client socket: oversized frames are
    refused, queues bounded."""
    ctx: zmq.Context[Any] = zmq.Context()
    ctx.setsockopt(zmq.MAXMSGSIZE, max_message_bytes)
    ctx.setsockopt(zmq.RCVHWM, 64)
    # retry a connection to a kernel still binding its sockets after 5 ms, not libzmq's
    # 100: a forked kernel binds them ~40 ms after it was asked for
    ctx.setsockopt(zmq.RECONNECT_IVL, 5)
    return ctx


def connect(launched: LaunchedKernel, *, startup_timeout: float, log_path: Path) -> None:
    """Start the client's channels and wait until the kernel answers (``SandboxError``
    and everything discarded if it does not)."""
    client = launched.client
    client.start_channels(shell=True, iopub=True, stdin=False, hb=False, control=False)
    try:
        await_kernel(client, launched.process, time.monotonic() + startup_timeout)
    except RuntimeError as exc:
        discard(launched)
        raise SandboxError(f"the kernel did not start ({exc})",
                           where=str(launched.spec.workdir),
                           hint=f"kernel log: {_tail(log_path)!r}") from None
    launched.monitor = _monitor(client.iopub_channel.socket)


ASK_AGAIN_S = 0.2  # a kernel without IOPub welcome: its answer's status went unheard


def await_kernel(client: BlockingKernelClient, process: KernelProcess,
                 deadline: float) -> None:
    """Return once the kernel answered ``kernel_info`` and its IOPub reaches us.

    jupyter_client's ``wait_for_ready`` does the same with fixed waits: up to 0.2 s on
    IOPub after the reply and 0.2 s more of "flushing" it, 0.3-0.4 s of every kernel
    start while a forked kernel is up in 30 ms. Here both channels are polled together
    and the wait ends at the first IOPub message: ipykernel's XPUB sends
    ``iopub_welcome`` when our subscription arrives (older kernels: the status messages
    of a ``kernel_info`` asked again). Later IOPub traffic needs no flush: the
    execution loop only takes messages whose parent is its own request."""
    shell, iopub = client.shell_channel, client.iopub_channel
    poller = zmq.Poller()
    poller.register(shell.socket, zmq.POLLIN)
    poller.register(iopub.socket, zmq.POLLIN)
    reply: dict[str, Any] | None = None
    heard, asked = False, _ask(client)
    while reply is None or not heard:
        now = time.monotonic()
        if now >= deadline:
            raise RuntimeError("the kernel did not answer in time")
        if process.poll() is not None:  # died while starting: said at once
            raise RuntimeError("the kernel ended before it answered")
        if reply is not None and now - asked > ASK_AGAIN_S:
            asked = _ask(client)
        ready = dict(poller.poll(int(1000 * min(0.05, deadline - now)) + 1))
        if iopub.socket in ready:  # any message, even a malformed one, got through
            heard = sum(1 for _ in _received(iopub)) > 0 or heard
        if shell.socket in ready:
            for msg in _received(shell):
                if msg is not None and msg.get("msg_type") == "kernel_info_reply":
                    reply = msg
    client._handle_kernel_info_reply(reply)


def _ask(client: BlockingKernelClient) -> float:
    client.kernel_info()
    return time.monotonic()


def _received(channel: Any) -> Iterator[dict[str, Any] | None]:
    """Every message waiting on ``channel``; None for one that could not be read."""
    while channel.msg_ready():
        try:
            yield channel.get_msg(timeout=0)
        except Exception:  # malformed: said as None, never kept
            yield None


def _monitor(socket: zmq.Socket[Any]) -> zmq.Socket[Any]:
    return socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)


def reconnect_iopub(launched: LaunchedKernel) -> None:
    """Replace the iopub socket. libzmq drops a connection that sent an oversized frame
    for good (a protocol error is not retried), so the client reconnects by itself."""
    channel = launched.client.iopub_channel
    old = channel.socket
    if launched.monitor is not None:
        launched.monitor.close(linger=0)
    if old is not None:
        old.disable_monitor()
        old.close(linger=0)
    channel.socket = launched.client.connect_iopub()
    launched.monitor = _monitor(channel.socket)


def discard(launched: LaunchedKernel) -> None:
    """Close the grader's side of a kernel (channels, context); kill what jupyter_client
    started (the caller kills the rest of the tree)."""
    launched.client.stop_channels()
    if launched.monitor is not None:
        launched.monitor.close(linger=0)
    if launched.channel is not None:
        launched.channel.close()
    if launched.manager is not None:
        with contextlib.suppress(Exception):  # best effort on the way out; the sweep follows
            launched.manager.shutdown_kernel(now=True)
    launched.context.destroy(linger=0)


def _tail(path: Path, size: int = 2000) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, path.stat().st_size - size))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


# ----------------------------------------------------------------------------- records
