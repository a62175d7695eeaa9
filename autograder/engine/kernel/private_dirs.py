"""Each kernel's private directory on the host (``agk-*`` in the temp dir): made, removed,
and swept up after a grader that was killed.

A kernel's private directory holds the student's working copy (``content/``), its home,
the exchange folder and the kernel's sockets. ``SandboxedKernel.close`` removes it; a
grader killed with SIGKILL cannot, and the student's files would stay in ``/tmp``. So
the process that owns a directory holds an ``flock`` on ``.owner`` inside it for the
kernel's whole life: the kernel never sees that file (only subfolders are mounted into
the sandbox), and the lock goes away with the owning process, however it ends.
``sweep_stale`` removes the directories whose lock nobody holds any more.

With a root grader the directory is also the kernel's disk quota: a size- and
inode-limited tmpfs is mounted on it (``quota.mount_tmpfs``) before anything is put
there, and the owner lock is taken again on the ``.owner`` inside it, since that is the
one the sweep sees. It also records the kernel's cgroups (``.cgroups``). The sweep
destroys those cgroups and detaches the mount before it removes the folder.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any

from . import cgroup
from .quota import DiskQuota, mount_tmpfs, unmount

PREFIX = "agk-"
OWNER = ".owner"
CGROUPS = ".cgroups"


class PrivateDir:
    """A fresh private directory, locked by this process until ``remove``; a tmpfs of
    ``quota``'s size where this process may mount one (``mounted``)."""

    def __init__(self, temp_root: Path | None = None, *, quota: DiskQuota | None = None
                 ) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=PREFIX, dir=temp_root))
        self.path.chmod(0o711)
        self._fds = [_lock(self.path)]
        self._cgroups: list[Path] = []
        self.mounted = False
        try:
            self.mounted = quota is not None and mount_tmpfs(self.path, quota)
            if self.mounted:  # the sweep opens the .owner it sees: the one in the tmpfs
                self._fds.append(_lock(self.path))
        except BaseException:
            self.remove()
            raise

    def record_cgroups(self, dirs: tuple[Path, ...]) -> None:
        """Note the kernel's cgroups, for ``remove`` and for a sweep after a crash."""
        self._cgroups = list(dirs)  # first: ``remove`` destroys them even if writing fails
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        with os.fdopen(os.open(self.path / CGROUPS, flags, 0o600), "w") as fh:
            fh.write("".join(f"{d}\n" for d in dirs))

    def remove(self) -> None:
        cgroup.destroy(self._cgroups)
        unmount(self.path)
        remove_tree(self.path)
        for fd in self._fds:
            os.close(fd)
        self._fds = []


def _lock(folder: Path) -> int:
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(folder / OWNER, flags, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def sweep_stale(temp_root: Path | None = None) -> int:
    """Remove the private directories of kernels whose grader died; how many went."""
    folder = temp_root or Path(tempfile.gettempdir())
    removed = 0
    for path in folder.glob(f"{PREFIX}*"):
        if _abandoned(path):
            _release(path)
            remove_tree(path)
            removed += 1
    return removed


def _release(path: Path) -> None:
    """What outlives a killed grader besides files: its kernel's cgroups and mount."""
    try:
        text = (path / CGROUPS).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        text = ""
    cgroup.destroy(cgroup.recorded_dirs(text, path.name))
    for _ in range(8):  # mounts stacked on each other: take them all
        if not unmount(path):
            break


def _abandoned(path: Path) -> bool:
    """Ours, and its owner lock is free (a directory still being made has none yet)."""
    try:
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            return False
        fd = os.open(path / OWNER, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # also drops the lock just taken: removal follows at once
    return True


def remove_tree(path: Path) -> None:
    """Remove a kernel's private tree, even where student code removed permissions
    (only a non-root grader can be stopped by those; root never chmods student paths)."""
    def fix(func: Any, target: str, _exc: Any) -> None:
        if os.geteuid() == 0 or os.path.islink(target):
            return
        try:
            os.chmod(os.path.dirname(target), 0o700)
            os.chmod(target, 0o700)
            func(target)
        except OSError:
            pass

    shutil.rmtree(path, onerror=fix)
