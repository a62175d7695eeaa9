"""A kernel's processes, found through /proc: its tree, its uid's processes, killing them.

Under bubblewrap every process of a kernel stays below its outermost process (its own
pid namespace); in the fallback without bubblewrap a process may double-fork away, so
the kernel's dedicated uid is searched too. With a cgroup (``cgroup.py``) the cgroup's
member list is the last word; these helpers are what works everywhere.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class _Proc:
    pid: int
    ppid: int
    uid: int


def _scan_processes() -> list[_Proc]:
    """Every process with its parent and real uid (one pass over /proc)."""
    found: list[_Proc] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status", "rb") as fh:
                text = fh.read()
            if _zombie(text):
                continue  # already dead, only not reaped yet: nothing to kill
            found.append(_Proc(pid=int(entry.name), ppid=_field(text, b"\nPPid:"),
                               uid=_field(text, b"\nUid:")))
        except (OSError, ValueError):
            continue
    return found


def _alive(pid: int) -> bool:
    """Is ``pid`` a process not yet dead (neither gone nor a zombie)?"""
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            return not _zombie(fh.read(512))
    except OSError:
        return False


def _zombie(status: bytes) -> bool:
    start = status.find(b"\nState:")
    return start >= 0 and status[start + 7:start + 10].strip()[:1] in (b"Z", b"X")


def _field(status: bytes, key: bytes) -> int:
    """The first number after ``key`` in a /proc status file."""
    start = status.index(key) + len(key)
    return int(status[start:status.index(b"\n", start)].split()[0])


def _kernel_processes(procs: Sequence[_Proc], root: int, uid: int | None) -> list[_Proc]:
    """Descendants of ``root`` (and ``root``) plus, when given, everything owned by ``uid``."""
    children: dict[int, list[int]] = {}
    for p in procs:
        children.setdefault(p.ppid, []).append(p.pid)
    tree, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in tree:
                tree.add(child)
                todo.append(child)
    return [p for p in procs if p.pid in tree or (uid is not None and p.uid == uid)]


def kill_kernel_processes(root: int, uid: int | None, *, rounds: int = 20) -> int:
    """SIGKILL the kernel's whole tree (and ``uid``'s processes) until none is left.

    Without ``uid`` only the tree is walked (its ``children`` lists), not all of /proc:
    the cost follows the kernel's processes, not the machine's."""
    killed = 0
    for _ in range(rounds):
        victims = [p.pid for p in _kernel_processes(_scan_processes(), root, uid)] \
            if uid is not None else [p for p in descendants(root) if _alive(p)]
        if not victims:
            break
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
        _await_deaths(victims, _ROUND_S)
    return killed


_ROUND_S = 0.02  # at most this long between two rounds of kill_kernel_processes


def _await_deaths(pids: Sequence[int], timeout: float) -> None:
    """Return once every one of ``pids`` is dead, or after ``timeout`` s. A killed kernel
    ends in a few ms (its exit unmaps its memory); a fixed pause of the whole round made
    every submission wait 20 ms for its kernel's end, on a core with nothing else to do."""
    deadline = time.monotonic() + timeout
    pause = 0.0005
    while any(_alive(pid) for pid in pids):
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(pause, left))
        pause = min(2 * pause, 0.004)


def uid_in_use(uid: int) -> bool:
    """Is any live process's real uid ``uid``?"""
    return any(p.uid == uid for p in _scan_processes())


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (from every thread's /proc/.../children list)."""
    kids: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return kids
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as fh:
                kids += [int(k) for k in fh.read().split()]
        except (OSError, ValueError):
            continue
    return kids


def descendants(root: int, *, limit: int = 100_000) -> list[int]:
    """``root`` and its descendants; the cost grows with the kernel's own processes and
    threads, not with the whole machine."""
    found: list[int] = []
    seen, todo = {root}, [root]
    while todo and len(found) < limit:
        pid = todo.pop()
        found.append(pid)
        kids = [k for k in children_of(pid) if k not in seen]
        seen.update(kids)
        todo += kids
    return found


def owned_by(uid: int) -> list[int]:
    """Processes whose /proc entry belongs to ``uid`` (cheap; misses non-dumpable ones)."""
    pids = []
    for entry in os.scandir("/proc"):
        try:
            if entry.name.isdigit() and entry.stat(follow_symlinks=False).st_uid == uid:
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def comm(pid: int) -> str:
    """The process's command name ('' once it is gone)."""
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return ""


__all__ = ["children_of", "comm", "descendants", "kill_kernel_processes", "owned_by",
           "uid_in_use"]
