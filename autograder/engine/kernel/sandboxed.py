"""One sandboxed Jupyter kernel: start it, execute a notebook, run snippets, clean up.

``SandboxedKernel`` (a context manager, implements ``api.KernelLike``) starts a fresh
ipykernel through jupyter_client inside the sandbox of ``sandbox.py``. The kernel has its
own network namespace, so it talks over the IPC transport (unix sockets in a private
runtime dir bind-mounted into the sandbox; unix sockets work across network namespaces).

Everything that comes out of the kernel is untrusted:

- the execution record of a cell comes from its reply (the bridge channel's reply frame
  or an ``execute_reply``; not from the outputs, which student code can suppress or
  fake) and its text is length-capped; it is a record for the feedback, never points;
- outputs are capped per notebook (``Limits.output_kb``) while streaming, display
  updates included (``outputs.py``). Each ZMQ message is capped too
  (``MAXMSGSIZE``: libzmq refuses a bigger frame before allocating it), so printing
  100 MB cannot balloon the grader's memory;
- with a root grader the kernel runs in its own cgroup (``cgroup.py``: memory, shared
  and tmpfs pages included, and processes) and writes into a size- and inode-limited
  tmpfs (``quota.py``, ``private_dirs.py``); the watchdog (``watchdog.py``) reports an
  OOM kill and keeps the peak figure, and where neither can be made it is the limit
  itself. A kernel at a limit is killed, never the grader;
- a kernel that ignores the interrupt at a time limit is killed after
  ``INTERRUPT_GRACE_S``; later requests then fail at once (``kernel_died``).

``AUTOGRADER_KERNEL_LIMITS=watchdog`` makes a root grader do without cgroup and quota
tmpfs, as a grader without root must (tests use it to check the fallback).

Grading workers hide start-up by starting whole kernels ahead (``prestarted.py``).
Start-up itself goes through ``launcher`` (default ``launch.launch_kernel``): the seam for a pool
that would share more than that (e.g. forked, pre-imported interpreters). Such a launcher
gets the requested ``SandboxSpec`` and may return a ``LaunchedKernel`` it started ahead of
time with the same limits, datasets, GPU and uid; ``LaunchedKernel.spec`` says which
directories that kernel really uses, and ``SandboxedKernel`` follows it from then on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from ...core.config import Limits
from ...core.errors import SandboxError
from ...core.i18n import Lang, tr
from . import cgroup
from .api import CodeResult
from .channel import ChannelBroken, RequestTooLarge
from .execution import (
    INTERRUPT_GRACE_S,
    ExecutionReport,
    NotebookExecution,
)
from .launch import (
    LaunchedKernel,
    Launcher,
    SandboxKernelManager,
    _tail,
    discard,
    launch_kernel,
)
from .outputs import Stdout, truncation_marker
from .private_dirs import PrivateDir
from .proctree import children_of, comm, kill_kernel_processes
from .quota import DiskQuota
from .sandbox import (
    Mode,
    SandboxSpec,
    UidLease,
    lease_uid,
    prepare_dirs,
    sandbox_mode,
    slot_uid,
    warn_soft_limits,
)
from .watchdog import LimitHit, Watchdog, Watched

STARTUP_TIMEOUT_S = 120.0
_MSG_SLACK = 64 << 10



# ----------------------------------------------------------------------------- the kernel


class SandboxedKernel(NotebookExecution):
    """A fresh, sandboxed ipykernel for one submission (use as a context manager)."""

    forkable = True  # it starts through a ``Launcher``: a worker's template may fork it

    def __init__(self, *, limits: Limits | None = None,
                 datasets: Sequence[tuple[str, Path | str]] = (), gpu: int | None = None,
                 cpu_threads: int = 1, slot: int = 0, lang: Lang | None = None,
                 workdir: Path | None = None, temp_root: Path | None = None,
                 startup_timeout: float = STARTUP_TIMEOUT_S, launcher: Launcher | None = None):
        self.limits = limits or Limits()
        self.lang: Lang | None = lang
        self._datasets = tuple((str(n), Path(p).resolve()) for n, p in datasets)
        self._gpu, self._cpu_threads, self._uid = gpu, cpu_threads, slot_uid(slot)
        self._own_workdir = workdir is None
        self._given_workdir = workdir
        self._temp_root = temp_root
        self._startup_timeout = startup_timeout
        self._launcher: Launcher = launcher or launch_kernel
        self._private: PrivateDir | None = None
        self._spec: SandboxSpec | None = None
        self._launched: LaunchedKernel | None = None
        self._watchdog: Watchdog | None = None
        self._cgroup: cgroup.KernelCgroup | None = None
        self._stop: LimitHit | None = None
        self._kernel_pid: int | None = None
        self._lease: UidLease | None = None
        self.mode: Mode | None = None

    # -- lifecycle --------------------------------------------------------------------

    def __enter__(self) -> SandboxedKernel:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def start(self) -> None:
        """Create the private directories and start the kernel."""
        if self._launched is not None:
            return
        self.mode = sandbox_mode(lang=self.lang)
        hard = hard_limits()
        if os.geteuid() == 0:
            self._lease = lease_uid(self._uid)
            self._uid = self._lease.uid
        quota = DiskQuota(self.limits.disk_mb, self.limits.inodes)
        self._private = PrivateDir(self._temp_root, quota=quota if hard else None)
        try:
            self._cgroup = self._make_cgroup(self._private) if hard else None
            warn_soft_limits(cgroup=self._cgroup is not None, quota=self._private.mounted,
                             lang=self.lang)
            self._spec = self._make_spec(self._private)
            prepare_dirs(self._spec, mode=self.mode)
            self._launched = self._launcher(
                self._spec, mode=self.mode, log_path=self._private.path / "kernel.log",
                startup_timeout=self._startup_timeout,
                max_message_bytes=max(self.limits.output_kb << 10, 1 << 20) + _MSG_SLACK)
            self._spec = self._launched.spec
        except BaseException:
            self.close()
            raise
        self._watchdog = Watchdog(self._watched(self._launched, self._private),
                                  on_limit=self._kill_at_limit)
        self._watchdog.start()

    def _make_cgroup(self, private: PrivateDir) -> cgroup.KernelCgroup | None:
        made = cgroup.create(private.path.name, memory_mb=self.limits.memory_mb,
                             processes=self.limits.processes)
        if made is not None:
            private.record_cgroups(made.dirs)
        return made

    def _escapee_uid(self) -> int | None:
        """The uid whose every process is this kernel's, where its processes can leave
        its tree (no pid namespace: ``--sandbox none``); None under bubblewrap, where
        the tree is the kernel's pid namespace (its pid 1 takes all with it). Killing
        by uid where it is not needed would make any uid mix-up kill another kernel."""
        escapable = self._spec is not None and self._spec.drops_uid and self.mode == "none"
        return self._uid if escapable else None

    def _watched(self, launched: LaunchedKernel, private: PrivateDir) -> Watched:
        assert self._spec is not None
        return Watched(root=launched.process.pid, limits=self.limits, private=private.path,
                       uid=self._escapee_uid(), cgroup=self._cgroup,
                       quota_mounted=private.mounted, sandbox_tmpfs=self._sandbox_tmpfs)

    def _sandbox_tmpfs(self) -> list[str]:
        """bubblewrap's own /tmp and /dev/shm (when they are not quota folders), seen
        through the kernel's root."""
        if self.mode != "bwrap" or self._spec is None or self._spec.tmp is not None:
            return []
        pid = self._find_kernel_pid()
        return [] if pid is None else [f"/proc/{pid}/root/tmp", f"/proc/{pid}/root/dev/shm"]

    def _make_spec(self, private: PrivateDir) -> SandboxSpec:
        folder = private.path
        runtime = folder / "run"
        if len(str(runtime)) > 90:  # unix socket paths are limited to ~107 bytes
            raise SandboxError("the temporary directory path is too long for unix sockets",
                               where=str(folder), hint="pass a shorter temp_root")
        # /tmp and /dev/shm from the quota tmpfs: one budget for every writable place
        scratch = private.mounted and self.mode == "bwrap"
        return SandboxSpec(
            workdir=(self._given_workdir or folder / "content").resolve(),
            exchange=folder / "exchange", home=folder / "home", runtime=runtime,
            datasets=self._datasets, limits=self.limits, gpu=self._gpu,
            cpu_threads=self._cpu_threads, uid=self._uid,
            tmp=folder / "tmp" if scratch else None, shm=folder / "shm" if scratch else None,
            cgroup_procs=self._cgroup.procs_files if self._cgroup is not None else ())

    def close(self) -> None:
        """Kill every process of the kernel and remove its private directories."""
        if self._watchdog is not None:
            self._watchdog.stopped.set()
            if self._watchdog is not threading.current_thread():
                self._watchdog.join()
        launched, self._launched = self._launched, None
        if launched is not None:
            discard(launched)
            uid = self._escapee_uid()
            kill_kernel_processes(launched.process.pid, uid)
            launched.process.wait()
            release = getattr(launched.process, "close", None)  # a forked kernel's pidfd
            if release is not None:
                release()
        if self._private is not None:
            self._private.remove()  # destroys the cgroup and unmounts the quota, too
            self._private = None
        self._cgroup = None
        if self._lease is not None:
            self._lease.release()
            self._lease = None

    # -- KernelLike ---------------------------------------------------------------------

    @property
    def workdir(self) -> Path:
        return self._require_spec().workdir

    @property
    def exchange_dir(self) -> Path:
        return self._require_spec().exchange

    @property
    def kernel_exchange_dir(self) -> str:
        assert self.mode is not None
        return self._require_spec().view(self.mode).exchange

    @property
    def kernel_workdir(self) -> str:
        assert self.mode is not None
        return self._require_spec().view(self.mode).workdir

    @property
    def alive(self) -> bool:
        return self._launched is not None and self._launched.process.poll() is None

    @property
    def peak_memory_mb(self) -> float:
        """Largest memory (anonymous and shared) the kernel held, seen by the watchdog."""
        return self._watchdog.peak_kb / 1024 if self._watchdog is not None else 0.0

    @property
    def disk_full(self) -> bool:
        """Did the kernel's writable space (its quota tmpfs) run full at some point?"""
        return self._watchdog is not None and self._watchdog.note_quota()

    def log_tail(self, size: int = 4000) -> str:
        """The end of the kernel's stderr/stdout (untrusted text)."""
        return _tail(self._private.path / "kernel.log", size) if self._private else ""

    def _require_spec(self) -> SandboxSpec:
        if self._spec is None:
            raise SandboxError("the kernel is not started", where="SandboxedKernel",
                               hint="use `with SandboxedKernel(...) as kernel:`")
        return self._spec

    def _require(self) -> LaunchedKernel:
        if self._launched is None:
            raise SandboxError("the kernel is not running", where="SandboxedKernel",
                               hint="use `with SandboxedKernel(...) as kernel:`")
        return self._launched

    # -- running code -------------------------------------------------------------------

    def run_code(self, code: str, *, timeout: float = 60.0) -> CodeResult:
        """Execute ``code`` in the user namespace; stdout comes back (capped)."""
        if not self.alive:
            return CodeResult(ok=False, kernel_died=True)
        out = Stdout()
        reply = self._execute(code, timeout=timeout, sink=out, store_history=False)
        if reply.status == "timeout":
            return CodeResult(ok=False, stdout=out.text, timed_out=True)
        if reply.status == "killed":
            return CodeResult(ok=False, stdout=out.text, kernel_died=True)
        return CodeResult(ok=reply.status == "ok", stdout=out.text, error_name=reply.ename,
                          error_value=reply.evalue)

    def serve_bridge(self, request: dict[str, Any], *, timeout: float = 60.0
                     ) -> CodeResult | None:
        """Run one bridge request over the kernel's bridge channel (``bridge_channel``);
        None when this kernel has none, or the request is larger than its end reads
        (the bridge then sends the request as code).
        Time limits work as for ``run_code``: interrupt at ``timeout``, kill after
        ``INTERRUPT_GRACE_S`` if the kernel ignores it."""
        launched = self._require()
        channel = launched.channel
        if channel is None:
            return None
        if not self.alive or channel.broken:
            return CodeResult(ok=False, kernel_died=True)
        rid = str(request.get("rid", ""))
        try:
            channel.send(request, time.monotonic() + timeout)
            reply = channel.reply(rid, time.monotonic() + timeout, lambda: self.alive)
            if reply is None and self.alive:
                self.interrupt()
                late = channel.reply(rid, time.monotonic() + INTERRUPT_GRACE_S,
                                     lambda: self.alive)
                if late is None:
                    self._stop = self._stop or LimitHit("interrupt", int(INTERRUPT_GRACE_S))
                    self.kill()
                return CodeResult(ok=False, timed_out=True)
        except RequestTooLarge:
            return None   # more than the kernel's end reads: as code in a cell
        except TimeoutError:
            return CodeResult(ok=False, timed_out=True)
        except ChannelBroken:
            return CodeResult(ok=False, kernel_died=True)
        if reply is None:
            return CodeResult(ok=False, kernel_died=True)
        return CodeResult(ok=reply.ok, answer=reply.answer)

    def interrupt(self) -> None:
        """SIGINT to the kernel process (like Jupyter's interrupt button)."""
        pid = self._find_kernel_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGINT)

    def _find_kernel_pid(self) -> int | None:
        """The ipykernel process: the first process below the bwrap wrappers."""
        if self._kernel_pid is not None or self._launched is None:
            return self._kernel_pid
        if self._launched.kernel_pid is not None:
            self._kernel_pid = self._launched.kernel_pid
            return self._kernel_pid
        pid: int | None = self._launched.process.pid
        while pid is not None and comm(pid) == "bwrap":
            kids = children_of(pid)
            pid = kids[0] if len(kids) == 1 else None
        self._kernel_pid = pid
        return pid

    def kill(self) -> None:
        """Kill the kernel now (it stays dead; later snippets report ``kernel_died``)."""
        launched = self._launched  # the watchdog thread may call this during close()
        if launched is None:
            return
        uid = self._escapee_uid()
        kill_kernel_processes(launched.process.pid, uid)
        launched.process.wait()

    def _kill_at_limit(self, hit: LimitHit) -> None:
        self._stop = self._stop or hit
        self.kill()

    # -- reasons ------------------------------------------------------------------------

    def death_reason(self) -> str:
        """Why the kernel died, for the student (grader's language)."""
        stop = self.stopped_by
        if stop is not None:
            return stop.reason(self.lang)
        code = self._launched.process.poll() if self._launched else None
        if code is None:
            return tr(self.lang, ja="カーネルが応答しなくなりました。",
                      en="The kernel stopped responding.")
        sig = -code if code < 0 else code - 128 if code > 128 and self.mode == "bwrap" else 0
        if sig > 0:
            name = _signal_name(sig)
            return tr(self.lang, ja=f"カーネルが異常終了しました (シグナル {name})。",
                      en=f"The kernel crashed (signal {name}).")
        return tr(self.lang, ja=f"カーネルが終了しました (終了コード {code})。",
                  en=f"The kernel exited (exit status {code}).")

    @property
    def stopped_by(self) -> LimitHit | None:
        """The limit the kernel was stopped at, if it was (an OOM kill in its cgroup
        counts even before the watchdog has seen it)."""
        if self._stop is None and self._cgroup is not None and self._cgroup.oom_kills() > 0:
            self._stop = LimitHit("memory", self.limits.memory_mb)
        return self._stop

    def _timeout_reason(self, number: int, by_notebook: bool) -> str:
        if by_notebook:
            limit = self.limits.notebook_timeout_s
            return tr(self.lang, ja=f"ノートブック全体の制限時間 ({limit:g} 秒) を超えました。",
                      en=f"The notebook exceeded its total time limit of {limit:g} s.")
        limit = self.limits.cell_timeout_s
        return tr(self.lang, ja=f"コードセル {number} が制限時間 ({limit:g} 秒) を超えました。",
                  en=f"Code cell {number} exceeded its time limit of {limit:g} s.")


# ----------------------------------------------------------------------------- helpers


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def hard_limits() -> bool:
    """Make a cgroup and a quota tmpfs per kernel (root only)? ``AUTOGRADER_KERNEL_LIMITS``:
    ``auto`` (default) or ``watchdog`` (do without, as a grader without root must)."""
    wanted = os.environ.get("AUTOGRADER_KERNEL_LIMITS", "auto").strip().lower() or "auto"
    if wanted not in ("auto", "watchdog"):
        raise SandboxError(f"AUTOGRADER_KERNEL_LIMITS={wanted!r} is not understood",
                           where="environment", hint="use auto or watchdog")
    return wanted == "auto" and os.geteuid() == 0


__all__ = ["ExecutionReport", "LaunchedKernel", "Launcher", "SandboxKernelManager",
           "SandboxedKernel", "kill_kernel_processes", "launch_kernel", "truncation_marker"]
