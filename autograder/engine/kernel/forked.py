"""Kernels forked from a worker's template (``zygote.py``): the ``kernel.Launcher`` for it.

``ForkLauncher`` turns a ``SandboxSpec`` (made by ``SandboxedKernel`` exactly as for a
spawned kernel: private folder, quota tmpfs, cgroups, uid lease) into a fork request:

- the kernel's folders (``/content``, the exchange folder, its home, its runtime folder,
  ``/tmp`` and ``/dev/shm`` where they are quota folders) as *detached mounts* made here
  with ``open_tree(OPEN_TREE_CLONE)``: the child attaches them in its own mount
  namespace; the template never has a path to them;
- the ``cgroup.procs`` files of its cgroups, opened here for writing (the child writes
  itself in before it does anything else);
- its log file, the kernel's end of the bridge channel, its rlimits, its uid, its
  environment (``sandbox.kernel_env``), the connection file written here (the session
  key never passes through the template).

The answer is a pidfd of the child (pid 1 of the kernel's pid namespace), wrapped in
``ForkedProcess`` so that ``SandboxedKernel`` treats it like the ``Popen`` of a spawned
kernel: ``pid``, ``poll()``, ``wait()``; the return code comes from the template, which
reaps the child. Anything the template cannot serve (a GPU, other datasets, no
bubblewrap) is started by ``kernel.launch_kernel`` instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import json
import logging
import os
import secrets
import select
import signal
import time
from pathlib import Path
from typing import Any

from jupyter_client.blocking.client import BlockingKernelClient

from ...core.errors import SandboxError
from .channel import BridgeChannel
from .launch import LaunchedKernel, client_context, connect, launch_kernel
from .proctree import children_of, kill_kernel_processes
from .sandbox import (
    CONTENT,
    EXCHANGE,
    HOME,
    RUNTIME,
    Mode,
    SandboxSpec,
    kernel_env,
    rlimits,
    scratch_bytes,
)
from .zygote import Template, ZygoteError

log = logging.getLogger(__name__)

_SYS_OPEN_TREE = 428                  # the same number on every architecture
_OPEN_TREE_CLONE = 1
_AT_RECURSIVE = 0x8000
_PORTS = {"shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 5}


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def detached_mount(path: Path) -> int:
    """A descriptor of a new, detached bind mount of ``path`` (``open_tree``)."""
    flags = _OPEN_TREE_CLONE | os.O_CLOEXEC | _AT_RECURSIVE
    fd = _libc().syscall(ctypes.c_long(_SYS_OPEN_TREE), ctypes.c_int(-100),
                         os.fsencode(path), ctypes.c_uint(flags))
    if fd < 0:
        code = ctypes.get_errno()
        raise SandboxError(f"cannot clone the mount of {path}: {os.strerror(code)}",
                           where=str(path), hint="forked kernels need Linux 5.2 or later")
    return int(fd)


class ForkedProcess:
    """A forked kernel's outermost process, held by a pidfd (``kernel.KernelProcess``)."""

    def __init__(self, template: Template, ident: int, pidfd: int):
        self._template, self._ident, self._pidfd = template, ident, pidfd
        self.pid = _pid_of(pidfd)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and self._ended(0.0):
            self.returncode = self._status()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            left = 1.0 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"process {self.pid} did not end in time")
            self._ended(min(left, 1.0))
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, number: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(self._pidfd, number)

    def close(self) -> None:
        if self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = -1

    def _ended(self, timeout: float) -> bool:
        if self._pidfd < 0:
            return True
        return bool(select.select([self._pidfd], [], [], timeout)[0])

    def _status(self) -> int:
        for _ in range(50):  # the template reaps it within its next loop (0.5 s at most)
            code = self._template.status(self._ident)
            if code is not None:
                return code
            if not self._template.alive:
                break
            time.sleep(0.02)
        return -signal.SIGKILL


def _pid_of(pidfd: int) -> int:
    """The host pid a pidfd refers to (``/proc/self/fdinfo``: in our pid namespace)."""
    with open(f"/proc/self/fdinfo/{pidfd}", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("Pid:"):
                return int(line.split()[1])
    raise SandboxError("a pidfd without a pid", where="forked kernel",
                       hint="forked kernels need Linux 5.3 or later")


# ---------------------------------------------------------------- the launcher


class ForkLauncher:
    """``kernel.Launcher``: a kernel forked from ``template`` where it can serve the spec,
    else a spawned one."""

    def __init__(self, template: Template):
        self.template = template
        self.failed: ZygoteError | None = None   # once set, every kernel is spawned

    def __repr__(self) -> str:  # part of kernel_pool's key: one per template
        return f"ForkLauncher({self.template.spec!r})"

    def __call__(self, spec: SandboxSpec, *, mode: Mode, log_path: Path,
                 startup_timeout: float, max_message_bytes: int) -> LaunchedKernel:
        spawn = functools.partial(launch_kernel, spec, mode=mode, log_path=log_path,
                                  startup_timeout=startup_timeout,
                                  max_message_bytes=max_message_bytes)
        if self.failed is not None or mode != "bwrap" or not spec.drops_uid \
                or not self.template.spec.serves(spec):
            return spawn()
        channel, theirs = BridgeChannel.pair()
        try:
            self.template.wait_ready()
            process, kernel_side = self._fork(spec, log_path, theirs.fileno())
        except ZygoteError as exc:
            channel.close()
            self._give_up(exc)
            return spawn()
        except BaseException:
            channel.close()
            raise
        finally:
            theirs.close()
        client = BlockingKernelClient(context=client_context(max_message_bytes))
        client.load_connection_info(kernel_side)  # type: ignore[arg-type]
        launched = LaunchedKernel(spec=spec, manager=None, client=client, process=process,
                                  context=client.context, channel=channel)
        try:
            connect(launched, startup_timeout=startup_timeout, log_path=log_path)
        except BaseException:
            _end(process)
            raise
        kids = children_of(process.pid)
        launched.kernel_pid = kids[0] if len(kids) == 1 else None
        return launched

    def _give_up(self, exc: ZygoteError) -> None:
        if self.failed is None:
            log.warning("the kernel template failed (%s); kernels are started one by one "
                        "from now on", exc.render())
        self.failed = exc

    def _fork(self, spec: SandboxSpec, log_path: Path, bridge: int
              ) -> tuple[ForkedProcess, dict[str, Any]]:
        info = write_connection_file(spec)
        fds: list[int] = []
        try:
            request = fork_request(spec, info, fds, log_path=log_path, bridge=bridge)
            ident, pidfd = self.template.fork(request, fds)
        finally:
            for fd in fds:
                if fd != bridge:
                    os.close(fd)
        return ForkedProcess(self.template, ident, pidfd), {
            **info, "ip": str(spec.runtime / "k") if spec.runtime else ""}


def fork_request(spec: SandboxSpec, info: dict[str, Any], fds: list[int], *,
                 log_path: Path, bridge: int) -> dict[str, Any]:
    """The template's request for ``spec``; the descriptors it names are appended to
    ``fds`` (the caller closes them)."""
    def add(fd: int) -> int:
        fds.append(fd)
        return len(fds) - 1

    assert spec.runtime is not None
    for name, _ in spec.datasets:  # where the child binds them (bubblewrap makes its own)
        for point in (spec.workdir / name, spec.workdir / "data" / name):
            point.mkdir(mode=0o755, exist_ok=True)
    places = [(spec.workdir, CONTENT), (spec.exchange, EXCHANGE), (spec.home, HOME),
              (spec.runtime, RUNTIME), (spec.tmp, "/tmp"), (spec.shm, "/dev/shm")]
    folders = [[add(detached_mount(host)), target] for host, target in places if host]
    cgroups = [add(os.open(p, os.O_WRONLY | os.O_CLOEXEC)) for p in spec.cgroup_procs]
    log = add(os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600))
    return {"uid": spec.uid, "rlimits": rlimits(spec), "folders": folders,
            "cgroups": cgroups, "log": log, "bridge": add(bridge),
            "datasets": [name for name, _ in spec.datasets],
            "scratch_bytes": scratch_bytes(spec.limits), "env": kernel_env(spec, "bwrap"),
            "threads": spec.cpu_threads, "connection_file": f"{RUNTIME}/{info['file']}"}


def write_connection_file(spec: SandboxSpec) -> dict[str, Any]:
    """The kernel's connection file (a fresh session key), owned by its uid; the client's
    view of it (``ip`` still the kernel's path)."""
    assert spec.runtime is not None
    info: dict[str, Any] = {**_PORTS, "ip": f"{RUNTIME}/k", "transport": "ipc",
                            "key": secrets.token_hex(32), "signature_scheme": "hmac-sha256",
                            "kernel_name": ""}
    host = spec.runtime / "kernel-sandbox.json"
    fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(info, fh)
    os.chown(host, spec.uid, spec.uid)
    return {**info, "file": host.name}


def _end(process: ForkedProcess) -> None:
    kill_kernel_processes(process.pid, None)  # its pid namespace holds all it started
    with contextlib.suppress(TimeoutError):
        process.wait(timeout=10)
    process.close()


def launcher_for(template: Template | None) -> Any:
    """The launcher for a worker: forking when it has a template, spawning otherwise."""
    return ForkLauncher(template) if template is not None else launch_kernel


__all__ = ["ForkLauncher", "ForkedProcess", "ZygoteError", "detached_mount", "fork_request",
           "launcher_for", "write_connection_file"]
