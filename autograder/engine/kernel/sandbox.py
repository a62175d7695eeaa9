"""bubblewrap command lines and resource limits for one student kernel.

``wrap_command(argv, spec)`` turns a kernel command into one that runs it confined::

    [sh -c <join the kernel's cgroups>] bwrap <namespaces, read-only binds, private /content> --
        prlimit <rlimits> -- [setpriv <drop to the kernel's uid>] -- python -m ipykernel ...

What the kernel sees (``--unshare-*``: own pid, ipc, uts, cgroup and network namespaces,
so no network at all, only its own loopback):

====================  ===========================================================
``/content``          the private working directory (``spec.workdir``), writable
``/content/<name>``,  each dataset entry, read-only, where notebooks look for it
``/content/data/...``
``/exchange``         the bridge's exchange directory (``$AG_EXCHANGE``), writable
``/home/student``     ``$HOME`` (``spec.home``), writable; IPython's dir lives here
``/run/agk``          the kernel's connection file and IPC sockets (``spec.runtime``)
``/opt/autograder``   ``autograder/engine/kernel/sandbox_files`` read-only, on ``PYTHONPATH``
``/usr``, ``/etc``..  the system, read-only; ``/etc`` only the entries in ``ETC_ENTRIES``
Python                ``sys.base_prefix`` and ``sys.prefix`` (the venv) read-only, at
                      their own paths; never the project folder, so hidden tests, the
                      gradebook and other submissions do not exist in there
``/tmp``, ``/dev/shm`` ``spec.tmp`` and ``spec.shm`` where given (folders of the
                      kernel's quota tmpfs), else fresh tmpfs of ``disk_mb``
====================  ===========================================================

Why the order *bwrap → prlimit → setpriv* (and not rlimits/uid drop before bwrap):

- The Python installation may live under a directory the kernel's uid cannot traverse
  (here ``/root/.pyenv``, mode 0700). bwrap resolves bind sources with the caller's
  rights, so when the grader is root, bwrap runs as root (privileged, no user namespace:
  with one, the kernel would still be host uid 0) and the uid drop happens inside, after
  the mounts, with ``setpriv``. bwrap keeps only CAP_SETUID/SETGID/SETPCAP for that step;
  ``setpriv`` clears groups, the bounding set and sets ``no_new_privs``.
- RLIMIT_NPROC is counted per user (and, inside a user namespace, against the limit in
  force when the namespace was made). Applying it right before the kernel, with a
  dedicated uid per concurrent kernel (``KERNEL_UID_BASE + slot``), makes it count this
  kernel's processes and threads only. Root ignores RLIMIT_NPROC, hence the uid drop.
- The whole confinement is visible in the command line (no ``preexec_fn``, which is not
  safe in a multi-threaded grader).

Memory: RLIMIT_AS is set on CPU-only kernels with generous headroom (``AS_HEADROOM_MB``)
because ``import torch`` alone reserves ~3.5 GB of address space; the real memory limit is
the kernel's cgroup (``cgroup.py``; ``spec.cgroup_procs``), which the first process of the
command joins before it execs bubblewrap, so the whole tree is in it from its first
instruction. Where no cgroup can be made, the watchdog (``watchdog.py``) is the limit.
Disk: the writable folders are one size- and inode-limited tmpfs with a root grader
(``quota.py``); otherwise ``/tmp`` and ``/dev/shm`` are bubblewrap's ``--size`` tmpfs and the
watchdog measures the rest (``warn_soft_limits`` says so, loudly, once).

Fallback (``AUTOGRADER_SANDBOX=none`` or no working bwrap): the same prlimit/setpriv/env
prefix without bwrap, after a loud one-time warning. Nothing is hidden then; datasets are
seeded as symlinks. If the kernel's uid cannot reach the Python installation, it gets the
ambient CAP_DAC_READ_SEARCH (read anything, write nothing it does not own).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ...core.config import Limits
from ...core.errors import SandboxError

# Mode detection and its warnings live in _sandbox_mode.py; this module stays their public
# face (``X as X``: re-exported, as are _WARNED and _namespace_args, which callers use).
from ._sandbox_mode import _WARNED as _WARNED
from ._sandbox_mode import KERNEL_UID_BASE as KERNEL_UID_BASE
from ._sandbox_mode import Mode as Mode
from ._sandbox_mode import _namespace_args as _namespace_args
from ._sandbox_mode import _python_prefixes, _reachable
from ._sandbox_mode import bwrap_available as bwrap_available
from ._sandbox_mode import sandbox_mode as sandbox_mode
from ._sandbox_mode import warn_no_sandbox as warn_no_sandbox
from ._sandbox_mode import warn_soft_limits as warn_soft_limits
from .cgroup import enter_prefix
from .gpu_env import kernel_gpu_env, mps_pipe
from .proctree import uid_in_use

AS_HEADROOM_MB = 6144
NOFILE = 4096
SANDBOX_FILES = Path(__file__).resolve().parent / "sandbox_files"

CONTENT = "/content"
EXCHANGE = "/exchange"
HOME = "/home/student"
RUNTIME = "/run/agk"
OPT = "/opt/autograder"

# /etc is not bound whole: only what Python, glibc, fontconfig and TLS need.
ETC_ENTRIES = ("alternatives", "ca-certificates", "ca-certificates.conf", "debian_version",
               "fonts", "gai.conf", "group", "host.conf", "hosts", "ld.so.cache", "ld.so.conf",
               "ld.so.conf.d", "localtime", "mime.types", "nsswitch.conf", "os-release",
               "passwd", "protocols", "services", "ssl", "timezone")
_SYSTEM_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_NVIDIA_CONTROL = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")


def slot_uid(slot: int) -> int:
    """The dedicated uid (and gid) of the kernel in worker slot ``slot``."""
    if slot < 0:
        raise ValueError(f"slot must be >= 0, got {slot}")
    return KERNEL_UID_BASE + slot


# One lock folder per machine, whatever TMPDIR says: every grader of the machine must see
# every other's leases. A grader whose TMPDIR is elsewhere (bench/gpu_check.sh under
# tests/test_gpu_check.py) used to lease the very uids another grader's kernels held, and
# closing a kernel kills every process of its uid: each grader killed the other's kernels
# ("The kernel crashed (signal SIGKILL)"). /tmp because every grader with the default
# TMPDIR has always leased there; another user who squats the folder only makes the
# grader refuse to start (see ``lease_uid``), never share a uid.
UID_LOCK_DIR = Path("/tmp/autograder-uids")


class UidLease:
    """This machine's exclusive claim on one kernel uid (an flock), until ``release``.

    Two graders on one machine, or a slot handed out twice, must not share a uid: the
    kernels would share RLIMIT_NPROC and the sweep that ends one (every process of its
    uid is killed when a kernel closes) would kill the other.
    """

    def __init__(self, uid: int, fd: int):
        self.uid, self._fd = uid, fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def lease_uid(preferred: int, *, lock_dir: Path | None = None) -> UidLease:
    """Claim ``preferred``, or else the first free uid above the slot range.

    A uid is free when nobody holds its lock and no process runs as it: the second
    condition also keeps apart graders that lock elsewhere (an older version, another
    lock folder), since killing by uid is how a kernel's escaped processes are ended.
    """
    folder = lock_dir or _lock_folder()
    spare = range(KERNEL_UID_BASE + 1000, KERNEL_UID_BASE + 5000)
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
    for uid in (preferred, *spare):
        fd = os.open(folder / f"{uid}.lock", flags, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        if uid_in_use(uid):  # real uids: non-dumpable processes count too
            os.close(fd)
            continue
        return UidLease(uid, fd)
    raise SandboxError("no free kernel uid", where=str(folder),
                       hint="too many kernels at once; lower the number of worker slots")


def _lock_folder() -> Path:
    """The machine's uid lock folder (made on first use), owned by this user."""
    folder = UID_LOCK_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise SandboxError("the uid lock folder is not a directory of this user",
                           where=str(folder), hint="remove it; the grader recreates it")
    return folder


@dataclass(frozen=True)
class SandboxSpec:
    """Everything that decides how one kernel is confined (host paths are absolute)."""

    workdir: Path                              # → /content
    exchange: Path                             # → /exchange ($AG_EXCHANGE)
    home: Path                                 # → /home/student ($HOME)
    runtime: Path | None = None                # → /run/agk (connection file, IPC sockets)
    datasets: tuple[tuple[str, Path], ...] = ()  # (entry name, host path), read-only
    limits: Limits = field(default_factory=Limits)
    gpu: int | None = None                     # host GPU index (nvidia-smi order)
    cpu_threads: int = 1
    uid: int = KERNEL_UID_BASE                 # used when the grader runs as root
    tmp: Path | None = None                    # → /tmp (else a --size tmpfs)
    shm: Path | None = None                    # → /dev/shm (else a --size tmpfs)
    cgroup_procs: tuple[Path, ...] = ()        # cgroup.procs files the kernel joins first
    bridge_fd: int | None = None               # the bridge channel it inherits (AG_BRIDGE_FD)

    def view(self, mode: Mode) -> KernelView:
        """The spec's directories as the kernel sees them under ``mode``."""
        if mode == "bwrap":
            return KernelView(workdir=CONTENT, exchange=EXCHANGE, home=HOME,
                              runtime=RUNTIME, sandbox_files=OPT)
        return KernelView(workdir=str(self.workdir), exchange=str(self.exchange),
                          home=str(self.home),
                          runtime=str(self.runtime) if self.runtime else "",
                          sandbox_files=str(SANDBOX_FILES))

    @property
    def drops_uid(self) -> bool:
        return os.geteuid() == 0


@dataclass(frozen=True)
class KernelView:
    """Paths inside the kernel."""

    workdir: str
    exchange: str
    home: str
    runtime: str
    sandbox_files: str


# ----------------------------------------------------------------------------- commands


def wrap_command(argv: Sequence[str], spec: SandboxSpec, *, mode: Mode | None = None
                 ) -> list[str]:
    """``argv`` confined as described in the module docstring (``mode``: default
    ``sandbox_mode()``)."""
    if not argv:
        raise ValueError("argv must not be empty")
    mode = mode or sandbox_mode()
    inner = [*limit_prefix(spec), *_user_prefix(spec, mode)]
    outer = enter_prefix(spec.cgroup_procs)
    if mode == "none":
        env = [f"{k}={v}" for k, v in kernel_env(spec, mode).items()]
        return [*outer, *inner, "env", "-i", "-C", str(spec.workdir), *env, *argv]
    return [*outer, "bwrap", *_bwrap_args(spec), "--", *inner, *argv]


def rlimits(spec: SandboxSpec) -> dict[str, int]:
    """The kernel's rlimits (name without ``RLIMIT_`` → soft and hard value)."""
    lim = spec.limits
    found = {"NPROC": lim.processes, "FSIZE": lim.file_size_mb << 20, "CORE": 0,
             "NOFILE": NOFILE}
    if spec.gpu is None:
        found["AS"] = (lim.memory_mb + AS_HEADROOM_MB) << 20
    return found


def limit_prefix(spec: SandboxSpec) -> list[str]:
    """``prlimit`` with the rlimits of ``spec.limits``."""
    return ["prlimit", *(f"--{name.lower()}={value}" for name, value in rlimits(spec).items()),
            "--"]


def scratch_bytes(limits: Limits) -> int:
    """Size of a kernel's own ``/tmp`` and ``/dev/shm`` where they are not quota folders."""
    return min(limits.memory_mb, limits.disk_mb) << 20


def _user_prefix(spec: SandboxSpec, mode: Mode) -> list[str]:
    if not spec.drops_uid:
        return []
    ids = [f"--reuid={spec.uid}", f"--regid={spec.uid}", "--clear-groups"]
    if mode == "none" and not _reachable(spec.uid, _python_prefixes()):
        caps = ["--inh-caps=-all,+dac_read_search", "--ambient-caps=+dac_read_search",
                "--bounding-set=-all,+dac_read_search"]
    else:
        caps = ["--inh-caps=-all", "--bounding-set=-all"]
    return ["setpriv", *ids, *caps, "--no-new-privs", "--"]


def kernel_env(spec: SandboxSpec, mode: Mode) -> dict[str, str]:
    """The kernel's whole environment (everything else is cleared)."""
    view = spec.view(mode)
    threads = str(max(1, spec.cpu_threads))
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": view.home, "USER": "student", "LOGNAME": "student",
        "PYTHONPATH": view.sandbox_files, "AG_EXCHANGE": view.exchange,
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "IPYTHONDIR": f"{view.home}/.ipython", "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "CUDA_VISIBLE_DEVICES": "" if spec.gpu is None else _cuda_index(spec, mode),
        "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1", "PYTHONDONTWRITEBYTECODE": "1",
    }
    if spec.gpu is not None:
        env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
        env.update(kernel_gpu_env(spec.limits.gpu_memory_mb))  # memory cap, MPS (gpu_env.py)
    if spec.bridge_fd is not None:
        env["AG_BRIDGE_FD"] = str(spec.bridge_fd)
    return env


def _cuda_index(spec: SandboxSpec, mode: Mode) -> str:
    # Under bwrap only the one GPU's device node exists, so CUDA numbers it 0.
    return "0" if mode == "bwrap" else str(spec.gpu)




def _bwrap_args(spec: SandboxSpec) -> list[str]:
    view = spec.view("bwrap")
    args = [*_namespace_args(spec.drops_uid), "--die-with-parent", "--new-session",
            "--hostname", "sandbox", "--cap-drop", "ALL"]
    if spec.drops_uid:
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
                 "--cap-add", "CAP_SETPCAP"]
    args += _system_binds()
    args += ["--proc", "/proc", "--dev", "/dev", *_gpu_binds(spec)]
    args += _scratch_args(spec)
    args += _mps_binds(spec)  # after /tmp: MPS's default pipe folder lives there
    # After the fresh /tmp: a checkout (and its venv) may itself live under /tmp.
    args += _python_binds()
    args += ["--bind", str(spec.workdir), CONTENT, "--bind", str(spec.exchange), EXCHANGE,
             *_mkdirs(HOME), "--bind", str(spec.home), HOME,
             *_mkdirs(OPT), "--ro-bind", str(SANDBOX_FILES), OPT]
    if spec.runtime is not None:
        args += [*_mkdirs(RUNTIME), "--bind", str(spec.runtime), RUNTIME]
    args += [*_dataset_binds(spec), "--clearenv"]
    for key, value in kernel_env(spec, "bwrap").items():
        args += ["--setenv", key, value]
    return [*args, "--chdir", view.workdir]


def _scratch_args(spec: SandboxSpec) -> list[str]:
    """/tmp and /dev/shm: folders of the quota tmpfs, or tmpfs of their own."""
    scratch = str(scratch_bytes(spec.limits))
    args: list[str] = []
    for host, dest in ((spec.tmp, "/tmp"), (spec.shm, "/dev/shm")):
        if host is not None:
            args += ["--bind", str(host), dest]
        else:
            args += ["--perms", "1777", "--size", scratch, "--tmpfs", dest]
    return args


def _mkdirs(dest: str) -> list[str]:
    """World-traversable parents for ``dest`` (privileged bwrap makes them 0700)."""
    out: list[str] = []
    parents = list(Path(dest).parents)[::-1][1:]  # without "/"
    for parent in parents:
        out += ["--perms", "0755", "--dir", str(parent)]
    return out


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for top in _SYSTEM_DIRS:
        path = Path(top)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), top]
        elif path.is_dir():
            args += ["--ro-bind", top, top]
    args += ["--perms", "0755", "--dir", "/etc"]
    for name in ETC_ENTRIES:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return args




def _python_binds() -> list[str]:
    args: list[str] = []
    for prefix in _python_prefixes():
        args += [*_mkdirs(str(prefix)), "--ro-bind", str(prefix), str(prefix)]
    return args


def _dataset_binds(spec: SandboxSpec) -> list[str]:
    args: list[str] = []
    for name, host in spec.datasets:
        _check_entry(name, host)
        for dest in (f"{CONTENT}/{name}", f"{CONTENT}/data/{name}"):
            args += ["--ro-bind", str(host), dest]
    return args


def _check_entry(name: str, host: Path) -> None:
    if not name or name in (".", "..", "data") or "/" in name or "\0" in name:
        raise SandboxError(f"invalid dataset entry name {name!r}", where="SandboxSpec.datasets",
                           hint="use a plain folder name such as 'MNIST'")
    if not host.exists():
        raise SandboxError(f"dataset entry {name!r} does not exist", where=str(host),
                           hint="run `autograder data list` to see what the cache holds")


# ----------------------------------------------------------------------------- GPU


def _gpu_binds(spec: SandboxSpec) -> list[str]:
    if spec.gpu is None:
        return []
    node = f"/dev/nvidia{nvidia_minor(spec.gpu)}"
    if not Path(node).exists():
        raise SandboxError(f"GPU {spec.gpu} has no device node {node}",
                           where=f"gpu={spec.gpu}", hint="check `nvidia-smi -L`")
    args = ["--dev-bind", node, node]
    for name in _NVIDIA_CONTROL:
        args += ["--dev-bind-try", f"/dev/{name}", f"/dev/{name}"]
    return [*args, "--ro-bind-try", "/sys", "/sys"]


def _mps_binds(spec: SandboxSpec) -> list[str]:
    """The NVIDIA MPS daemon's pipe folder, read-only, for a GPU kernel (gpu_env.py)."""
    pipe = mps_pipe() if spec.gpu is not None else None
    return [*_mkdirs(pipe), "--ro-bind", pipe, pipe] if pipe else []


def nvidia_minor(index: int, *, proc: Path = Path("/proc/driver/nvidia/gpus")) -> int:
    """Device minor (``/dev/nvidiaN``) of the GPU that is ``index`` in PCI-bus order."""
    gpus: list[tuple[str, int]] = []
    for info in sorted(proc.glob("*/information")) if proc.is_dir() else []:
        for line in info.read_text(errors="replace").splitlines():
            if line.startswith("Device Minor:"):
                gpus.append((info.parent.name.lower(), int(line.split(":", 1)[1])))
    gpus.sort()
    if not gpus:
        return index
    if not 0 <= index < len(gpus):
        raise SandboxError(f"no GPU with index {index}", where=f"gpu={index}",
                           hint=f"this machine has {len(gpus)} GPU(s)")
    return gpus[index][1]


# ----------------------------------------------------------------------------- host dirs


def prepare_dirs(spec: SandboxSpec, *, mode: Mode) -> None:
    """Create the writable dirs, hand them to the kernel's uid, seed datasets (fallback)."""
    dirs = [spec.workdir, spec.workdir / "data", spec.exchange, spec.home,
            spec.home / ".ipython"]
    dirs += [p for p in (spec.runtime, spec.tmp, spec.shm) if p is not None]
    for path in dirs:
        path.mkdir(parents=True, exist_ok=True)
        if spec.drops_uid:  # never through a link a student left in a reused workdir
            os.chown(path, spec.uid, spec.uid, follow_symlinks=False)
    _seed_matplotlib_cache(spec)
    if mode == "none":
        for name, host in spec.datasets:
            _check_entry(name, host)
            for link in (spec.workdir / name, spec.workdir / "data" / name):
                if not link.is_symlink() and not link.exists():
                    link.symlink_to(host)


def _seed_matplotlib_cache(spec: SandboxSpec) -> None:
    """Copy the grader's matplotlib font cache into the kernel's home.

    Same Python, same fonts at the same paths: without it every kernel that imports
    matplotlib rebuilds the font list (about 2 s).
    """
    cache = _matplotlib_font_cache()
    if cache is None:
        return
    target = spec.home / ".cache" / "matplotlib"
    for folder in (target.parent, target):
        folder.mkdir(exist_ok=True)
        if spec.drops_uid:
            os.chown(folder, spec.uid, spec.uid, follow_symlinks=False)
    copy = target / cache.name
    shutil.copyfile(cache, copy)
    if spec.drops_uid:
        os.chown(copy, spec.uid, spec.uid, follow_symlinks=False)


def _matplotlib_font_cache() -> Path | None:
    """The grader's ``fontlist-*.json`` (built once per machine; None if matplotlib is absent).

    Looked up where matplotlib keeps it before matplotlib is imported (0.3 s of a worker's
    start, before its kernel template can start): only a machine without the cache yet
    imports it to build one."""
    found = _font_caches(_default_mpl_cachedir())
    if found:
        return found[-1]
    try:
        import matplotlib
        from matplotlib import font_manager
    except ImportError:
        return None
    found = _font_caches(Path(matplotlib.get_cachedir()))
    if not found:
        font_manager.findfont("DejaVu Sans")  # builds and saves the cache
        found = _font_caches(Path(matplotlib.get_cachedir()))
    return found[-1] if found else None


def _default_mpl_cachedir() -> Path:
    """``matplotlib.get_cachedir()`` where it is writable (as it is for the grader)."""
    configured = os.environ.get("MPLCONFIGDIR")
    if configured:
        return Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "matplotlib"


def _font_caches(folder: Path) -> list[Path]:
    """The font caches in ``folder``, the one written last (by the matplotlib installed
    now, where an older one left its own) last."""
    if not folder.is_dir():
        return []
    return sorted(folder.glob("fontlist-*.json"), key=lambda p: (p.stat().st_mtime, p.name))


