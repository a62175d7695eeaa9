"""The kernel's watchdog: a thread that polls what the kernel uses and stops it at a limit.

With a cgroup and a quota tmpfs (root grader) the kernel's limits are enforced by the
Linux kernel itself and the watchdog is the second line: it reports an OOM kill in the
cgroup (cgroup v1 kills one process; the watchdog then stops the rest), keeps the peak
memory figure, and notes when the quota tmpfs ran full (for the student's notice).
Without them it is the limit: it sums what the kernel's processes hold, shared memory
included (``memuse.py``), every ``INTERVAL_S``, and measures the writable folders
(``quota.tree_usage``) and the sandbox's own tmpfs every ``DISK_INTERVAL_S``.
Either way it stops the kernel through ``on_limit`` and never touches the grader.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ...core.config import Limits
from ...core.i18n import Lang, tr
from .cgroup import KernelCgroup
from .memuse import held_kb
from .proctree import descendants, owned_by
from .quota import DiskQuota, Usage, is_full, statvfs_usage, tree_usage

INTERVAL_S = 0.2
DISK_INTERVAL_S = 1.0

StopKind = Literal["memory", "disk", "inodes", "interrupt"]


@dataclass(frozen=True)
class LimitHit:
    """Why the grader stopped a kernel."""

    kind: StopKind
    limit: int = 0       # MB for memory and disk, files for inodes, seconds for interrupt

    def reason(self, lang: Lang | None) -> str:
        """For the student, in the grader's language."""
        n = self.limit
        texts = {
            "memory": (f"メモリ使用量が上限 ({n} MB) を超えたため、カーネルを停止しました。",
                       f"The kernel used more than the {n} MB memory limit and was stopped."),
            "disk": (f"書き込んだデータが上限 ({n} MB) を超えたため、カーネルを停止しました。",
                     f"The kernel wrote more than its {n} MB disk quota and was stopped."),
            "inodes": (f"作ったファイルの数が上限 ({n} 個) を超えたため、カーネルを停止しました。",
                       f"The kernel created more than the {n} files its disk quota allows "
                       "and was stopped."),
            "interrupt": ("制限時間に達しても中断に応じなかったため、カーネルを停止しました。",
                          "The kernel did not stop when interrupted at the time limit and "
                          "was killed."),
        }
        ja, en = texts[self.kind]
        return tr(lang, ja=ja, en=en)


@dataclass(frozen=True)
class Watched:
    """What one watchdog looks after."""

    root: int                              # the kernel's outermost process
    limits: Limits
    private: Path                          # the kernel's private folder
    uid: int | None = None                 # fallback: processes of this uid count too
    cgroup: KernelCgroup | None = None
    quota_mounted: bool = False            # ``private`` is the quota tmpfs
    sandbox_tmpfs: Callable[[], Sequence[str]] = lambda: ()  # bwrap's own /tmp, /dev/shm

    @property
    def quota(self) -> DiskQuota:
        return DiskQuota(self.limits.disk_mb, self.limits.inodes)


class Watchdog(threading.Thread):
    """Polls ``watched`` until stopped; calls ``on_limit`` once, at the first limit hit."""

    def __init__(self, watched: Watched, on_limit: Callable[[LimitHit], None]):
        super().__init__(name=f"ag-watchdog-{watched.root}", daemon=True)
        self.watched, self.on_limit = watched, on_limit
        self.stopped = threading.Event()
        self.peak_kb = 0
        self.disk_full = False
        self._next_disk = 0.0

    def run(self) -> None:
        while not self.stopped.wait(INTERVAL_S):
            hit = self.check()
            if hit is not None and not self.stopped.is_set():
                self.on_limit(hit)
                return

    def check(self) -> LimitHit | None:
        """One round: the limit hit, if any."""
        return self._memory() or self._disk()

    # -- memory ---------------------------------------------------------------

    def _memory(self) -> LimitHit | None:
        w, limit_kb = self.watched, self.watched.limits.memory_mb * 1024
        hit = LimitHit("memory", w.limits.memory_mb)
        if w.cgroup is not None:
            used = w.cgroup.memory_held_kb()
            self.peak_kb = max(self.peak_kb, used)
            return hit if w.cgroup.oom_kills() > 0 or used > limit_kb else None
        pids = set(descendants(w.root))
        if w.uid is not None:
            pids.update(owned_by(w.uid))
        tmpfs = [str(w.private)] if w.quota_mounted else list(w.sandbox_tmpfs())
        used = held_kb(sorted(pids), tmpfs=tmpfs)
        if used > limit_kb:
            used = held_kb(sorted(pids), tmpfs=tmpfs, precise=True)
        self.peak_kb = max(self.peak_kb, used)
        return hit if used > limit_kb else None

    # -- disk -----------------------------------------------------------------

    def note_quota(self) -> bool:
        """Has the quota tmpfs run full (now or at an earlier round)?"""
        w = self.watched
        self.disk_full = self.disk_full or (w.quota_mounted and is_full(w.private))
        return self.disk_full

    def _disk(self) -> LimitHit | None:
        w = self.watched
        if w.quota_mounted:
            self.note_quota()
            return None
        now = time.monotonic()
        if now < self._next_disk:
            return None
        self._next_disk = now + DISK_INTERVAL_S
        used = self.disk_usage()
        if used.bytes > w.quota.bytes:
            return LimitHit("disk", w.limits.disk_mb)
        if used.inodes > w.quota.inodes:
            return LimitHit("inodes", w.limits.inodes)
        return None

    def disk_usage(self) -> Usage:
        """What the kernel wrote: its private folder and the sandbox's own tmpfs."""
        w = self.watched
        if w.quota_mounted:
            return statvfs_usage(w.private)
        used = tree_usage(w.private, stop_after=w.quota)
        for folder in w.sandbox_tmpfs():
            used += statvfs_usage(folder)
        return used


__all__ = ["LimitHit", "StopKind", "Watchdog", "Watched"]
