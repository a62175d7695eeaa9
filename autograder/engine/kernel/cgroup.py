"""A cgroup per kernel: the memory and process limits the kernel cannot get around.

Memory a process holds is not all "its" memory: pages of a ``memfd``, of a
``MAP_SHARED`` mapping or of a file in a tmpfs (``/tmp``, ``/dev/shm``) belong to no
process, and a watchdog summing per-process figures misses them. The kernel's memory
cgroup does not: every page is charged to the cgroup of the process that first touched
it, shared and tmpfs pages included, so ``memory_mb`` then bounds everything the kernel
holds. The kernel's whole process tree enters the cgroup with its very first
instruction (``enter_prefix``: a visible ``sh`` prefix of the kernel command that writes
its own pid into ``cgroup.procs`` and then execs bubblewrap), so nothing it starts
is ever outside.

Two layouts are handled:

- cgroup v2 (unified), where the grader's cgroup offers the ``memory`` controller:
  ``memory.max``, ``memory.swap.max = 0``, ``memory.oom.group = 1`` (an OOM kill takes
  the whole kernel), ``pids.max``. The cgroup is made below the grader's own cgroup, or
  next to it where the grader's cgroup holds processes and so cannot hand controllers
  down ("no internal processes").
- cgroup v1 (and hybrid machines whose unified hierarchy has no memory controller):
  ``memory.limit_in_bytes`` (and ``memory.memsw.limit_in_bytes``, no swap) in the memory
  hierarchy, ``pids.max`` in the pids hierarchy, each below the grader's own cgroup
  there. v1 kills one process on OOM; the watchdog sees ``oom_kill`` in
  ``memory.oom_control`` and stops the rest.

Making cgroups needs root (or a delegated subtree); ``create`` returns None where it
cannot, and the caller falls back to the watchdog (``memuse.py``). Each cgroup is named
after the kernel's private folder (``agk-*``), which records its paths so that the
sweep after a grader killed with -9 can remove it (``destroy``).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

CGROUP_FS = Path("/sys/fs/cgroup")
PREFIX = "agk-"
PIDS_SLACK = 8          # the wrappers (sh, two bwrap processes) on top of the kernel's own
_REMOVE_WAIT_S = 3.0    # killed tasks leave their cgroup when they are reaped


@dataclass(frozen=True)
class Mount:
    """One mounted cgroup hierarchy: where it is and which cgroup it shows as its root."""

    version: int           # 1 or 2
    path: Path             # mount point
    root: str              # the cgroup path shown at the mount point (``/`` usually)
    controllers: frozenset[str]  # v1: the hierarchy's controllers; v2: empty


@dataclass(frozen=True)
class Layout:
    """Where this grader makes its kernels' cgroups."""

    version: int
    memory: Path           # parent folder (v2: of the one cgroup; v1: in the memory tree)
    pids: Path | None      # v1 only: parent folder in the pids tree (None: no pids limit)
    pids_v2: bool = False  # v2: the pids controller is available too


class KernelCgroup:
    """The cgroup(s) of one kernel: made before it starts, destroyed when it is closed."""

    def __init__(self, layout: Layout, dirs: tuple[Path, ...]):
        self.layout, self.dirs = layout, dirs

    @property
    def memory_dir(self) -> Path:
        return self.dirs[0]

    @property
    def procs_files(self) -> tuple[Path, ...]:
        """The ``cgroup.procs`` files the kernel's first process writes its pid into."""
        return tuple(d / "cgroup.procs" for d in self.dirs)

    def oom_kills(self) -> int:
        """How many processes the kernel lost to its memory limit so far."""
        name = "memory.events" if self.layout.version == 2 else "memory.oom_control"
        return _stat_field(self.memory_dir / name, "oom_kill")

    def memory_held_kb(self) -> int:
        """Anonymous and shared (shmem, tmpfs, memfd) memory charged to the kernel."""
        stat = self.memory_dir / "memory.stat"
        if self.layout.version == 2:
            used = _stat_field(stat, "anon") + _stat_field(stat, "shmem")
        else:
            used = _stat_field(stat, "total_rss") + _stat_field(stat, "total_shmem")
        return used // 1024

    def pids(self) -> list[int]:
        return _pids(self.memory_dir)

    def destroy(self) -> bool:
        """Kill whatever is left in the cgroup and remove it; False if it stayed."""
        return destroy(self.dirs)


# ---------------------------------------------------------------- making one


def create(name: str, *, memory_mb: int, processes: int,
           layout: Layout | None = None) -> KernelCgroup | None:
    """A fresh cgroup named ``name`` with the kernel's limits, or None where this grader
    cannot make one (the reason is logged)."""
    if not name.startswith(PREFIX) or "/" in name:
        raise ValueError(f"cgroup names start with {PREFIX!r} and are plain: {name!r}")
    layout = layout or find_layout()
    if layout is None:
        return None
    made: list[Path] = []
    try:
        made.append(_mkdir(layout.memory / name))
        if layout.version == 2:
            _limit_v2(made[0], memory_mb=memory_mb, processes=processes, pids=layout.pids_v2)
        else:
            _limit_v1_memory(made[0], memory_mb)
            if layout.pids is not None:
                made.append(_mkdir(layout.pids / name))
                _write(made[1] / "pids.max", str(processes + PIDS_SLACK))
    except OSError as exc:
        log.warning("cannot make the kernel's cgroup under %s: %s", layout.memory, exc)
        destroy(made)
        return None
    return KernelCgroup(layout, tuple(made))


def _limit_v2(folder: Path, *, memory_mb: int, processes: int, pids: bool) -> None:
    _write(folder / "memory.max", str(memory_mb << 20))
    with contextlib.suppress(FileNotFoundError):  # kernels without swap accounting
        _write(folder / "memory.swap.max", "0")
    with contextlib.suppress(FileNotFoundError):  # before 4.19 the watchdog does it
        _write(folder / "memory.oom.group", "1")
    if pids:
        _write(folder / "pids.max", str(processes + PIDS_SLACK))


def _limit_v1_memory(folder: Path, memory_mb: int) -> None:
    _write(folder / "memory.limit_in_bytes", str(memory_mb << 20))
    # memory+swap at the same figure: no swap (it must be >= the memory limit, set first)
    with contextlib.suppress(FileNotFoundError):
        _write(folder / "memory.memsw.limit_in_bytes", str(memory_mb << 20))


def _mkdir(path: Path) -> Path:
    path.mkdir(mode=0o755)
    return path


def _write(path: Path, text: str) -> None:
    # one write(2): cgroup files take a value per write, never buffered pieces
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode("ascii"))
    finally:
        os.close(fd)


def enter_prefix(procs_files: Sequence[Path]) -> list[str]:
    """A command prefix that moves itself into the cgroup(s), then execs the rest:
    the kernel's first process, and so everything it ever starts, is inside."""
    if not procs_files:
        return []
    script = ('while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; '
              'shift; exec "$@"')
    return ["/bin/sh", "-c", script, "ag-cgroup-enter", *map(str, procs_files), "--"]


# ---------------------------------------------------------------- removing


def destroy(dirs: Sequence[Path]) -> bool:
    """SIGKILL every task in each cgroup of ``dirs`` and remove them (children first)."""
    for folder in dirs:
        with contextlib.suppress(OSError):  # v2: the kernel kills the whole group
            _write(folder / "cgroup.kill", "1")
    deadline = time.monotonic() + _REMOVE_WAIT_S
    gone = True
    for folder in dirs:
        gone = _remove(folder, deadline) and gone
    return gone


def _remove(folder: Path, deadline: float) -> bool:
    while True:
        for pid in _pids(folder):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        try:
            folder.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                log.warning("cannot remove the kernel's cgroup %s: %s", folder, exc)
                return False
        time.sleep(0.02)


def recorded_dirs(text: str, name: str) -> list[Path]:
    """The cgroup folders a private folder recorded, if they are what they claim: an
    absolute path in a cgroup file system named exactly ``name``."""
    found = []
    for line in text.splitlines():
        path = Path(line.strip())
        if (path.is_absolute() and path.name == name and name.startswith(PREFIX)
                and ".." not in path.parts and _in_cgroup_fs(path)):
            found.append(path)
    return found


def _in_cgroup_fs(path: Path) -> bool:
    return any(m.path in path.parents for m in mounts())


# ---------------------------------------------------------------- where


def find_layout(*, cgroup_file: Path = Path("/proc/self/cgroup")) -> Layout | None:
    """v2 where the grader's unified cgroup offers memory, else v1, else None."""
    try:
        own = _own_paths(cgroup_file.read_text())
    except OSError:
        return None
    found = mounts()
    return _layout_v2(found, own) or _layout_v1(found, own)


def _layout_v2(found: Sequence[Mount], own: dict[str, str]) -> Layout | None:
    mount = next((m for m in found if m.version == 2), None)
    here = _folder(mount, own.get("")) if mount is not None else None
    if mount is None or here is None:
        return None
    wanted = {"memory", "pids"} & _words(here / "cgroup.controllers")
    if "memory" not in wanted:
        return None
    for parent in (here, here.parent):
        if parent != here and mount.path not in [parent, *parent.parents]:
            break
        if _delegated(parent, wanted):
            return Layout(2, memory=parent, pids=None, pids_v2="pids" in wanted)
    return None


def _delegated(parent: Path, wanted: set[str]) -> bool:
    """Do children of ``parent`` get ``wanted`` (enabling it there if need be)?"""
    missing = wanted - _words(parent / "cgroup.subtree_control")
    if not missing:
        return True
    try:
        _write(parent / "cgroup.subtree_control", " ".join(f"+{c}" for c in sorted(missing)))
    except OSError:  # EBUSY: the cgroup holds processes; EACCES: not ours
        return False
    return True


def _layout_v1(found: Sequence[Mount], own: dict[str, str]) -> Layout | None:
    def parent(controller: str) -> Path | None:
        mount = next((m for m in found if m.version == 1 and controller in m.controllers),
                     None)
        folder = _folder(mount, own.get(controller)) if mount is not None else None
        return folder if folder is not None and os.access(folder, os.W_OK) else None

    memory = parent("memory")
    return Layout(1, memory=memory, pids=parent("pids")) if memory is not None else None


def _folder(mount: Mount, own: str | None) -> Path | None:
    """The grader's own cgroup folder in ``mount`` (None if the mount does not show it)."""
    if own is None:
        return None
    root = mount.root.rstrip("/")
    if own != root and not own.startswith(root + "/"):
        return None
    folder = mount.path / own[len(root):].lstrip("/")
    return folder if folder.is_dir() else None


def _own_paths(text: str) -> dict[str, str]:
    """/proc/self/cgroup as {controller: path}; the unified hierarchy under ``""``."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(",") if parts[1] else [""]:
            paths[controller] = parts[2]
    return paths


def mounts(*, mountinfo: Path = Path("/proc/self/mountinfo")) -> list[Mount]:
    """The cgroup hierarchies mounted in this mount namespace."""
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        head, sep, tail = line.partition(" - ")
        fields, rest = head.split(), tail.split()
        if not sep or len(fields) < 5 or len(rest) < 3 or rest[0] not in ("cgroup", "cgroup2"):
            continue
        options = frozenset(rest[2].split(",")) if rest[0] == "cgroup" else frozenset()
        found.append(Mount(version=1 if rest[0] == "cgroup" else 2,
                           path=Path(_unescape(fields[4])), root=_unescape(fields[3]),
                           controllers=options))
    return found


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal escapes
    for code in ("\\040", "\\011", "\\012", "\\134"):
        field = field.replace(code, chr(int(code[1:], 8)))
    return field


def _words(path: Path) -> set[str]:
    try:
        return set(path.read_text().split())
    except OSError:
        return set()


def _stat_field(path: Path, key: str) -> int:
    """The number after ``key`` in a flat-keyed cgroup file (0 if absent)."""
    try:
        text = path.read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            with contextlib.suppress(ValueError):
                return int(value.split()[0])
    return 0


def _pids(folder: Path) -> list[int]:
    try:
        return [int(p) for p in (folder / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


__all__ = ["KernelCgroup", "Layout", "create", "destroy", "enter_prefix", "find_layout",
           "mounts", "recorded_dirs"]
