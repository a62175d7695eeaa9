"""Byte and inode limits for everything a kernel can write.

Every writable place a kernel sees (``/content``, ``/tmp``, ``/dev/shm``, its home, the
exchange folder) lives in its private folder on the host (``private_dirs.py``). With a
root grader that folder *is* a tmpfs mounted with ``size=`` and ``nr_inodes=``
(``mount_tmpfs``): a student who fills it gets ``OSError: [Errno 28] No space left on
device`` in their own cell, the host disk never sees a byte of it, and the grader still
reads the exchange folder at its usual host path. tmpfs pages are memory, charged to
the kernel's memory cgroup like any other page it writes, so the disk quota sits inside
the memory budget.

Without root nothing can be mounted: the grader then measures the folder
(``tree_usage``, a walk that stops as soon as the limits are passed) and the sandbox's
own tmpfs ``/tmp`` and ``/dev/shm`` (``statvfs_usage``), and the watchdog stops a kernel
that goes over (``watchdog.py``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import logging
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

MS_NOSUID, MS_NODEV = 0x2, 0x4
MNT_DETACH = 0x2
# room for what the grader itself puts there (folders, sockets, the connection file,
# matplotlib's font cache, the kernel's log) on top of the student's quota
SLACK_BYTES = 4 << 20
SLACK_INODES = 64


@dataclass(frozen=True)
class DiskQuota:
    """The most a kernel may write: bytes and files (inodes), all places together."""

    megabytes: int
    inodes: int

    @property
    def bytes(self) -> int:
        return self.megabytes << 20


@dataclass(frozen=True)
class Usage:
    bytes: int = 0
    inodes: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.bytes + other.bytes, self.inodes + other.inodes)

    def exceeds(self, quota: DiskQuota) -> bool:
        return self.bytes > quota.bytes or self.inodes > quota.inodes


# ---------------------------------------------------------------- tmpfs (root)


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def mount_tmpfs(target: Path, quota: DiskQuota, *, mode: int = 0o711) -> bool:
    """Mount a tmpfs of ``quota``'s size and inode count on ``target``; False where this
    process may not mount (not root, no CAP_SYS_ADMIN), the reason logged."""
    options = (f"size={quota.bytes + SLACK_BYTES},nr_inodes={quota.inodes + SLACK_INODES},"
               f"mode={mode:o},uid={os.geteuid()},gid={os.getegid()}")
    done = _libc().mount(b"tmpfs", os.fsencode(target), b"tmpfs", MS_NOSUID | MS_NODEV,
                         options.encode("ascii"))
    if done != 0:
        code = ctypes.get_errno()
        log.info("cannot mount a tmpfs on %s: %s", target, os.strerror(code))
        return False
    return True


def unmount(target: Path) -> bool:
    """Detach the tmpfs on ``target`` (lazily: it goes once nothing uses it any more);
    True if something was unmounted."""
    if not is_mount(target):
        return False
    if _libc().umount2(os.fsencode(target), MNT_DETACH) != 0:
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOENT):
            log.warning("cannot unmount %s: %s", target, os.strerror(code))
        return False
    return True


def is_mount(path: Path) -> bool:
    """Is ``path`` (a real folder, not a link) the root of a mount?"""
    try:
        here = os.lstat(path)
        above = os.lstat(path.parent)
    except OSError:
        return False
    return stat.S_ISDIR(here.st_mode) and (here.st_dev != above.st_dev
                                           or here.st_ino == above.st_ino)


# ---------------------------------------------------------------- measuring


def statvfs_usage(path: Path | str) -> Usage:
    """What a file system (a tmpfs) holds, from ``statvfs``: cheap, and exact for a
    file system the kernel has to itself."""
    try:
        fs = os.statvfs(path)
    except OSError:
        return Usage()
    return Usage(bytes=(fs.f_blocks - fs.f_bfree) * fs.f_frsize,
                 inodes=max(0, fs.f_files - fs.f_ffree))


def is_full(path: Path | str) -> bool:
    """Has the file system at ``path`` run out of room or inodes?"""
    try:
        fs = os.statvfs(path)
    except OSError:
        return False
    return fs.f_bavail * fs.f_frsize < (64 << 10) or fs.f_favail == 0


def tree_usage(root: Path, stop_after: DiskQuota | None = None) -> Usage:
    """Bytes (allocated blocks) and entries below ``root``, read through directory file
    descriptors (no path grows with the depth of the tree). Stops early once
    ``stop_after`` is passed: the caller only needs to know that much. A tree nested
    deeper than ``MAX_DEPTH`` counts as over ``stop_after`` (it is not walked further)."""
    used = [0, 0]
    stack: list[tuple[int, Iterator[os.DirEntry[str]]]] = []
    try:
        _descend(stack, os.open(root, _DIR_FLAGS))
        while stack:
            if stop_after is not None and Usage(*used).exceeds(stop_after):
                break
            child = _next_dir(stack, used)
            if child is None:
                continue
            if len(stack) >= MAX_DEPTH:
                return Usage(used[0], max(used[1], stop_after.inodes + 1)
                             if stop_after else used[1])
            _descend(stack, child)
    except OSError:
        pass
    finally:
        for fd, entries in stack:
            entries.close()  # type: ignore[attr-defined]
            os.close(fd)
    return Usage(*used)


MAX_DEPTH = 128
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _descend(stack: list[tuple[int, Iterator[os.DirEntry[str]]]], fd: int) -> None:
    try:
        stack.append((fd, os.scandir(fd)))
    except OSError:
        os.close(fd)


def _next_dir(stack: list[tuple[int, Iterator[os.DirEntry[str]]]], used: list[int]
              ) -> int | None:
    """Count the next entry of the deepest folder; its fd if it is a folder to walk."""
    fd, entries = stack[-1]
    entry = next(entries, None)
    if entry is None:
        stack.pop()
        entries.close()  # type: ignore[attr-defined]
        os.close(fd)
        return None
    try:
        info = entry.stat(follow_symlinks=False)
        used[0] += info.st_blocks * 512
        used[1] += 1
        if stat.S_ISDIR(info.st_mode):
            return os.open(entry.name, _DIR_FLAGS, dir_fd=fd)
    except OSError:
        pass
    return None


__all__ = ["DiskQuota", "Usage", "is_full", "is_mount", "mount_tmpfs", "statvfs_usage",
           "tree_usage", "unmount"]
