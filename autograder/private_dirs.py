"""Each kernel's private directory on the host (``agk-*`` in the temp dir): made, removed,
and swept up after a grader that was killed.

A kernel's private directory holds the student's working copy (``content/``), its home,
the exchange folder and the kernel's sockets. ``SandboxedKernel.close`` removes it; a
grader killed with SIGKILL cannot, and the student's files would stay in ``/tmp``. So
the process that owns a directory holds an ``flock`` on ``.owner`` inside it for the
kernel's whole life: the kernel never sees that file (only subfolders are mounted into
the sandbox), and the lock goes away with the owning process, however it ends.
``sweep_stale`` removes the directories whose lock nobody holds any more.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any

PREFIX = "agk-"
OWNER = ".owner"


class PrivateDir:
    """A fresh private directory, locked by this process until ``remove``."""

    def __init__(self, temp_root: Path | None = None) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=PREFIX, dir=temp_root))
        self.path.chmod(0o711)
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        self._fd: int | None = os.open(self.path / OWNER, flags, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def remove(self) -> None:
        remove_tree(self.path)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def sweep_stale(temp_root: Path | None = None) -> int:
    """Remove the private directories of kernels whose grader died; how many went."""
    folder = temp_root or Path(tempfile.gettempdir())
    removed = 0
    for path in folder.glob(f"{PREFIX}*"):
        if _abandoned(path):
            remove_tree(path)
            removed += 1
    return removed


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
