"""A grading worker's kernel template ("zygote"): one sandboxed interpreter that has
imported ipykernel, numpy, torch and the assignment's modules once, and forks one kernel
per submission (``forked.py`` turns a fork into a kernel; the template's own program is
``sandbox_files/ag_zygote.py``; the argument for its safety is in docs/security.md,
"Forked kernels").

The template runs under bubblewrap like a spawned kernel (own pid, network, IPC, UTS and
cgroup namespaces; the system, Python and the sandbox files read-only; no project folder,
no gradebook, no other submission), but as root with exactly five capabilities
(SYS_ADMIN, SETUID, SETGID, SETPCAP, NET_ADMIN): what it takes to give each child its own
namespaces, mounts and uid. It never runs student code and holds nothing of a
submission: a kernel's folders, cgroups, log and bridge channel reach it only as file
descriptors in the fork request, which it closes as soon as the child has them. The
grader talks to it over a SOCK_SEQPACKET socket pair (JSON and ``SCM_RIGHTS``).

Forking needs root and bubblewrap (``available``); GPU kernels and anything the template
was not made for take the spawn path (``kernel.launch_kernel``).
"""

from __future__ import annotations

import ast
import contextlib
import importlib.machinery
import importlib.util
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...core.errors import SandboxError
from ...core.i18n import Lang, tr
from .private_dirs import PrivateDir
from .proctree import children_of, comm, kill_kernel_processes
from .quota import DiskQuota
from .sandbox import (
    CONTENT,
    EXCHANGE,
    HOME,
    OPT,
    RUNTIME,
    SANDBOX_FILES,
    SandboxSpec,
    _matplotlib_font_cache,
    _mkdirs,
    _namespace_args,
    _python_binds,
    _system_binds,
    bwrap_available,
    kernel_env,
)

STAGING = "/run/ag-data"            # the datasets, read-only, where children find them
TEMPLATE_CAPS = ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP", "CAP_NET_ADMIN")
BASE_PRELOAD = ("numpy", "torch")
READY_TIMEOUT_S = 300.0             # importing torch on a loaded machine
REQUEST_TIMEOUT_S = 30.0
# Forks after which the template moves its memory into huge pages ("compact"): that costs
# it about 0.6 s of CPU once and saves each later kernel (two forks and exits) about 30 ms,
# so a worker that grades a handful of submissions never pays it, and a long batch or a
# service does.
COMPACT_AFTER = 8
_MAX_MESSAGE = 1 << 16
_TEMPLATE_QUOTA = DiskQuota(64, 4096)


@dataclass(frozen=True)
class TemplateSpec:
    """What one template is made for: the modules it imports, the datasets it stages."""

    preload: tuple[str, ...] = BASE_PRELOAD
    datasets: tuple[tuple[str, Path], ...] = ()

    def serves(self, spec: SandboxSpec) -> bool:
        """Can a child of this template be the kernel ``spec`` asks for?"""
        return spec.gpu is None and spec.runtime is not None \
            and set(spec.datasets) <= set(self.datasets)


class ZygoteError(SandboxError):
    """The template could not start or answer; the caller spawns kernels instead."""


def available() -> bool:
    """Can this grader fork kernels at all (root, working bubblewrap, Python outside the
    kernels' scratch folders, not switched off with ``AUTOGRADER_FORK=0``)?"""
    return not unavailable_reason()


def switched_off() -> bool:
    """Has a person turned forking off (``AUTOGRADER_FORK=0``, ``AUTOGRADER_SANDBOX=none``)?"""
    return _fork_setting() in ("0", "no", "off") or os.environ.get("AUTOGRADER_SANDBOX") == "none"


def _fork_setting() -> str:
    wanted = os.environ.get("AUTOGRADER_FORK", "auto").strip().lower() or "auto"
    if wanted not in ("auto", "0", "1", "no", "yes", "off", "on"):
        raise SandboxError(f"AUTOGRADER_FORK={wanted!r} is not understood",
                           where="environment", hint="use auto, 0 or 1")
    return wanted


def unavailable_reason(lang: Lang = "en") -> str:
    """Why this grader cannot fork kernels ('' where it can): it then spawns them."""
    wanted = _fork_setting()
    if wanted in ("0", "no", "off"):
        return tr(lang, ja=f"AUTOGRADER_FORK={wanted} で無効",
                  en=f"switched off (AUTOGRADER_FORK={wanted})")
    if os.environ.get("AUTOGRADER_SANDBOX") == "none":
        return tr(lang, ja="サンドボックスなし (AUTOGRADER_SANDBOX=none)",
                  en="no sandbox (AUTOGRADER_SANDBOX=none)")
    if os.geteuid() != 0 or sys.platform != "linux":
        return tr(lang, ja="採点プロセスが Linux の root ではありません",
                  en="the grader is not root on Linux")
    if not bwrap_available():
        return tr(lang, ja="bubblewrap がないか、ここでは名前空間を作れません",
                  en="bubblewrap is missing or cannot make namespaces here")
    if _python_in_scratch():
        return tr(lang, ja=f"Python が /tmp か /dev/shm の下にあります ({sys.prefix})。"
                           "fork したカーネルではそこが専用の作業フォルダに置き換わります",
                  en=f"Python is under /tmp or /dev/shm ({sys.prefix}), which a forked"
                     " kernel replaces with its own scratch folders")
    return ""


def _python_in_scratch() -> bool:
    """Python (or the venv) under ``/tmp`` or ``/dev/shm``: a forked kernel replaces
    those with its own scratch folders and would lose every module not yet imported, so
    such a grader spawns its kernels (bubblewrap binds the prefix back after ``/tmp``)."""
    scratch = (Path("/tmp"), Path("/dev/shm"))
    for raw in (sys.base_prefix, sys.prefix):
        path = Path(raw).resolve()
        if any(path == s or s in path.parents for s in scratch):
            return True
    return False


def preload_for(notebook: Any) -> tuple[str, ...]:
    """The modules a template imports for an assignment: numpy, torch, and the top-level
    imports of its source notebook (the instructor's; installed ones only)."""
    found: list[str] = list(BASE_PRELOAD)
    for cell in getattr(notebook, "cells", []):
        if cell.get("cell_type") != "code":
            continue
        try:
            tree = ast.parse(str(cell.get("source", "")))
        except SyntaxError:
            continue
        for name in _imported(tree):
            if name not in found and _installed(name):
                found.append(name)
    return tuple(found)


def _imported(tree: ast.Module) -> Iterable[str]:
    for node in tree.body:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module != "__future__":
            yield node.module


def _installed(name: str) -> bool:
    """Whether ``name`` is there to import, found without importing it or its packages
    (``find_spec`` of ``matplotlib.pyplot`` imports matplotlib: 0.2 s of the grader's
    start). A package that builds its ``__path__`` as it imports may hide a submodule
    here: the kernel then imports that one itself."""
    if name in sys.modules:
        return True
    parts = name.split(".")
    try:
        spec = importlib.util.find_spec(parts[0])
        for depth in range(2, len(parts) + 1):
            if spec is None or spec.submodule_search_locations is None:
                return False
            spec = importlib.machinery.PathFinder.find_spec(
                ".".join(parts[:depth]), list(spec.submodule_search_locations))
    except (ImportError, ValueError):
        return False
    return spec is not None


# ---------------------------------------------------------------- the template process


class Template:
    """One template process; ``fork`` is safe to call from several threads."""

    def __init__(self, spec: TemplateSpec, *, temp_root: Path | None = None):
        self.spec = spec
        self._temp_root = temp_root
        self._lock = threading.Lock()
        self._private: PrivateDir | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._ready = False
        self._failure: ZygoteError | None = None
        self._next_id = 0
        self.loaded: list[str] = []
        self.skipped: list[str] = []

    # -- life ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the template (returns at once; ``wait_ready`` waits for its imports)."""
        root = os.geteuid() == 0
        self._private = PrivateDir(self._temp_root, quota=_TEMPLATE_QUOTA if root else None)
        folder = self._private.path
        for name in ("home", "tmp"):
            (folder / name).mkdir(mode=0o700)
        _seed_home(folder / "home")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        command = template_command(self.spec, folder, fd=theirs.fileno())
        try:
            with open(folder / "template.log", "ab") as log:
                self._proc = subprocess.Popen(command, pass_fds=(theirs.fileno(),),
                                              stdin=subprocess.DEVNULL, stdout=log,
                                              stderr=log, env={"PATH": "/usr/bin:/bin"})
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._sock = ours

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Wait until the template has imported everything; ``ZygoteError`` if it fails
        (then at once on every later call)."""
        with self._lock:  # a warm-kernel thread may be waiting here too
            if self._failure is not None:
                raise self._failure
            if self._ready:
                return
            try:
                answer, _ = self._receive(timeout, "start")
                if not answer.get("ok"):
                    raise self._error("the kernel template did not start: "
                                      f"{answer.get('error')}")
            except ZygoteError as exc:
                self._failure = exc
                raise
            self.loaded = [str(x) for x in answer.get("loaded", [])]
            self.skipped = [str(x) for x in answer.get("skipped", [])]
            self._ready = True

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def host_pid(self) -> int | None:
        """The template's Python process (below bubblewrap's two), as the host sees it."""
        pid: int | None = self._proc.pid if self._proc is not None else None
        while pid is not None and comm(pid) == "bwrap":
            kids = children_of(pid)
            pid = kids[0] if len(kids) == 1 else None
        return pid

    def close(self) -> None:
        """Stop the template and every child it still has; remove its folder."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._proc is not None:
            kill_kernel_processes(self._proc.pid, None)
            self._proc.wait()
            self._proc = None
        if self._private is not None:
            self._private.remove()
            self._private = None

    # -- requests -----------------------------------------------------------------------

    def fork(self, request: dict[str, Any], fds: Sequence[int]) -> tuple[int, int]:
        """Fork a child for ``request`` (``fds`` go along); (its id, a pidfd of it)."""
        with self._lock:
            ident = self._next_id = self._next_id + 1
            self._send({**request, "op": "fork", "id": ident}, fds)
            answer, got = self._receive(REQUEST_TIMEOUT_S, "fork")
        if not answer.get("ok") or len(got) != 1:
            for fd in got:
                os.close(fd)
            raise self._error(f"the kernel template could not fork: {answer.get('error')}")
        if ident == COMPACT_AFTER:
            with contextlib.suppress(ZygoteError):  # only ever a speed-up
                self.compact()
        return ident, got[0]

    def compact(self) -> int:
        """Have the template move its memory into huge pages while it is idle (see
        ``ag_zygote.Compaction``); how many of its steps are left (0: done)."""
        with self._lock:
            self._send({"op": "compact"}, ())
            answer, _ = self._receive(REQUEST_TIMEOUT_S, "compact")
        return _int(answer.get("left")) or 0

    def status(self, ident: int) -> int | None:
        """How child ``ident`` ended (``Popen.returncode``); None while unknown."""
        with self._lock:
            try:
                self._send({"op": "status", "id": ident}, ())
                answer, _ = self._receive(REQUEST_TIMEOUT_S, "status")
            except ZygoteError:
                return None
        return _int(answer.get("status"))

    def _send(self, message: dict[str, Any], fds: Sequence[int]) -> None:
        if self._sock is None or not self.alive:
            raise self._error("the kernel template is not running")
        data = json.dumps(message).encode("utf-8")
        try:
            socket.send_fds(self._sock, [data], list(fds))
        except OSError as exc:
            raise self._error(f"the kernel template is gone ({exc.strerror})") from None

    def _receive(self, timeout: float, what: str) -> tuple[dict[str, Any], list[int]]:
        sock = self._sock
        deadline = time.monotonic() + timeout
        while sock is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if not select.select([sock], [], [], min(left, 0.2))[0]:
                if not self.alive:
                    break
                continue
            data, fds, _flags, _addr = socket.recv_fds(sock, _MAX_MESSAGE, 4)
            if not data:
                break
            return _decode(data), list(fds)
        raise self._error(f"no answer from the kernel template ({what})")

    def _error(self, message: str) -> ZygoteError:
        log = self._private.path / "template.log" if self._private else None
        tail = log.read_bytes()[-2000:].decode("utf-8", "replace") if log and log.exists() \
            else ""
        return ZygoteError(message, where="kernel template", hint=f"template log: {tail!r}")


def _int(value: Any) -> int | None:
    """``value`` where the template's answer holds a real int there (not a bool)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _decode(data: bytes) -> dict[str, Any]:
    try:
        message = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        message = None
    return message if isinstance(message, dict) else {"ok": False, "error": "unreadable"}


def _seed_home(home: Path) -> None:
    """matplotlib's font cache where the template (and every child) finds it at import."""
    cache = _matplotlib_font_cache()
    if cache is None:
        return
    target = home / ".cache" / "matplotlib"
    target.mkdir(parents=True)
    with contextlib.suppress(OSError):
        (target / cache.name).write_bytes(cache.read_bytes())


# ---------------------------------------------------------------- its command line


def template_command(spec: TemplateSpec, folder: Path, *, fd: int) -> list[str]:
    """bubblewrap around the template program (see the module docstring)."""
    args = [*_namespace_args(True), "--die-with-parent", "--new-session",
            "--hostname", "sandbox", "--cap-drop", "ALL"]
    for cap in TEMPLATE_CAPS:
        args += ["--cap-add", cap]
    args += _system_binds()
    args += ["--proc", "/proc", "--dev", "/dev", "--bind", str(folder / "tmp"), "/tmp"]
    args += _python_binds()
    args += ["--dir", CONTENT, "--dir", EXCHANGE, *_mkdirs(HOME),
             "--bind", str(folder / "home"), HOME, *_mkdirs(OPT),
             "--ro-bind", str(SANDBOX_FILES), OPT, *_mkdirs(RUNTIME), "--dir", RUNTIME]
    for name, host in spec.datasets:
        args += [*_mkdirs(f"{STAGING}/{name}"), "--ro-bind", str(host), f"{STAGING}/{name}"]
    args += ["--clearenv"]
    for key, value in template_env(spec, fd).items():
        args += ["--setenv", key, value]
    program = [sys.executable, "-c", "import ag_zygote; ag_zygote.main()"]
    return ["bwrap", *args, "--chdir", "/", "--", *program]


def template_env(spec: TemplateSpec, fd: int) -> dict[str, str]:
    """A kernel's environment (one thread for every library: a template that forks must
    have no thread), plus what the template reads at start."""
    placeholder = SandboxSpec(workdir=Path(CONTENT), exchange=Path(EXCHANGE), home=Path(HOME))
    env = kernel_env(placeholder, "bwrap")
    env["AG_ZYGOTE_FD"] = str(fd)
    env["AG_ZYGOTE_PRELOAD"] = json.dumps(list(spec.preload))
    return env


__all__ = ["BASE_PRELOAD", "Template", "TemplateSpec", "ZygoteError", "available",
           "preload_for", "template_command"]
