"""A grading worker's next kernel, started while the current submission is graded.

Starting a sandboxed kernel costs about a second (bubblewrap, the interpreter, ipykernel),
paid once per submission because every submission gets a fresh kernel. ``WarmKernels``
hides it: when a worker takes a kernel for submission *n*, it starts the one for *n + 1*
in the background with the same arguments. Isolation is unchanged: each kernel is still
used for one submission only, and the warm one has its own private directories and its
own uid (``lease_uid`` never hands one uid to two live kernels), so nothing the current
submission does can reach it. A warm kernel whose arguments do not match the next
request, or that died while waiting, is closed and a fresh one started instead.

The starter is one long-lived thread, never a thread per start: bubblewrap's
``--die-with-parent`` follows the *thread* that spawned it (``PR_SET_PDEATHSIG``), so a
kernel started from a thread that then ends would be killed at once.

A used kernel is closed on another long-lived thread (``close_later``): killing its
processes, waiting for them, unmounting and removing its folders takes 50-130 ms that
the next submission need not wait for. Its result is already computed by then, and it
shares nothing with the next kernel (own folders, cgroups, uid lease); a worker ends
only after every close it handed over is done.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

Factory = Callable[..., Any]

# Set in grading workers only (``enable_in_worker``); elsewhere every kernel starts on demand.
_WORKER: WarmKernels | None = None


class WarmKernels:
    """At most one kernel started ahead, for the next ``take`` with the same arguments."""

    def __init__(self) -> None:
        self._starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ag-warm-kernel")
        self._closer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ag-close-kernel")
        self._next: tuple[str, Future[Any]] | None = None
        self.hits = 0  # kernels handed out already started (for benchmarks and tests)

    def take(self, factory: Factory, kwargs: Mapping[str, Any]) -> Any:
        """A kernel for ``factory(**kwargs)`` (started if a warm one matched); the caller
        uses it as a context manager as usual. The next one starts in the background."""
        key = _key(factory, kwargs)
        kernel = self._claim(key)
        if kernel is None:
            kernel = factory(**kwargs)
        else:
            self.hits += 1
        self._next = (key, self._starter.submit(_started, factory, dict(kwargs)))
        return kernel

    def _claim(self, key: str) -> Any:
        ready, self._next = self._next, None
        if ready is None:
            return None
        ready_key, future = ready
        try:
            kernel = future.result()
        except Exception:  # the fresh start in the caller reports the cause
            return None
        if ready_key == key and getattr(kernel, "alive", True):
            return kernel
        _close(kernel)
        return None

    def close_later(self, kernel: Any) -> None:
        """Close a used kernel in the background (``close`` waits for it)."""
        self._closer.submit(_close, kernel)

    def close(self) -> None:
        """Close the kernel waiting for a submission that will not come, and wait for
        the used kernels still being closed."""
        ready, self._next = self._next, None
        if ready is not None:
            with contextlib.suppress(Exception):
                _close(ready[1].result())
        self._starter.shutdown(wait=True)
        self._closer.shutdown(wait=True)


class _Used:
    """``with kernel_for(...) as kernel``: the kernel is started on entry, as always,
    and handed to the worker's closer on exit."""

    def __init__(self, kernel: Any, warm: WarmKernels):
        self._kernel, self._warm = kernel, warm

    def __enter__(self) -> Any:
        return self._kernel.__enter__()

    def __exit__(self, *exc: object) -> None:
        self._warm.close_later(self._kernel)


def _started(factory: Factory, kwargs: dict[str, Any]) -> Any:
    kernel = factory(**kwargs)
    kernel.start()
    return kernel


def _close(kernel: Any) -> None:
    with contextlib.suppress(Exception):
        kernel.close()


def _key(factory: Factory, kwargs: Mapping[str, Any]) -> str:
    # every argument is plain, trusted data (limits, dataset paths, slot, GPU, language)
    name = f"{getattr(factory, '__module__', '')}.{getattr(factory, '__qualname__', factory)}"
    return repr((name, sorted(kwargs.items())))


def enable_in_worker() -> WarmKernels:
    """Start kernels ahead in this (worker) process; the last one is closed at exit."""
    global _WORKER
    from multiprocessing.util import Finalize

    if _WORKER is None:
        _WORKER = WarmKernels()
        # multiprocessing children leave through os._exit: atexit would never run
        Finalize(_WORKER, _WORKER.close, exitpriority=10)
    return _WORKER


def kernel_for(factory: Factory, kwargs: Mapping[str, Any]) -> Any:
    """The kernel for one submission: a warm one in a worker, otherwise a new one;
    forked from this process's template where it has one (``worker_template``)."""
    from .template import with_launcher

    kwargs = with_launcher(factory, kwargs)
    if _WORKER is None or not callable(getattr(factory, "start", None)):
        return factory(**kwargs)
    return _Used(_WORKER.take(factory, kwargs), _WORKER)
