"""Warm kernels: a worker's next kernel is started while the current submission is graded.

Fast tests drive ``WarmKernels`` with a fake kernel class; the real ones use sandboxed
kernels, in this process and in a spawned worker process like the batch's.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest
from slots import worker_slot

from autograder.engine.kernel import prestarted as kernel_pool
from autograder.engine.kernel.prestarted import WarmKernels, kernel_for
from autograder.engine.kernel.sandbox import bwrap_available
from autograder.engine.kernel.sandboxed import SandboxedKernel


class FakeKernel:
    """Records its life; ``fail_start`` makes start() raise like a broken sandbox."""

    made: ClassVar[list[FakeKernel]] = []
    fail_start = False

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.started = self.closed = False
        self.alive = True
        FakeKernel.made.append(self)

    def start(self) -> None:
        if FakeKernel.fail_start:
            raise RuntimeError("no sandbox")
        self.started = True

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> FakeKernel:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture(autouse=True)
def fresh_fakes() -> None:
    FakeKernel.made, FakeKernel.fail_start = [], False


def test_the_next_kernel_is_started_ahead_with_the_same_arguments() -> None:
    warm = WarmKernels()
    first = warm.take(FakeKernel, {"slot": 1})
    assert not first.started, "the first one starts on demand, as without a pool"
    second = warm.take(FakeKernel, {"slot": 1})
    assert second.started and second is not first and warm.hits == 1
    assert second.kwargs == {"slot": 1}
    warm.close()
    assert FakeKernel.made[-1].started and FakeKernel.made[-1].closed, \
        "the kernel started for a submission that never came is closed"


@pytest.mark.parametrize(("case", "second_args"), [
    ("other arguments", {"slot": 2}),
    ("warm one died", {"slot": 1}),
])
def test_a_warm_kernel_that_does_not_fit_is_closed(case: str, second_args: dict[str, Any]
                                                   ) -> None:
    warm = WarmKernels()
    warm.take(FakeKernel, {"slot": 1})
    ahead = _wait_started(FakeKernel.made[-1])
    if case == "warm one died":
        ahead.alive = False
    got = warm.take(FakeKernel, second_args)
    assert ahead.closed and got is not ahead and not got.started and warm.hits == 0
    warm.close()


def test_a_failed_start_ahead_falls_back_to_a_fresh_kernel() -> None:
    warm = WarmKernels()
    FakeKernel.fail_start = True
    warm.take(FakeKernel, {"slot": 1})
    got = warm.take(FakeKernel, {"slot": 1})
    assert not got.started and warm.hits == 0, "the caller's start reports the real error"
    warm.close()


def test_outside_a_worker_every_kernel_is_new(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernel_pool, "_WORKER", None)
    kernels = [kernel_for(FakeKernel, {"slot": 1}) for _ in range(2)]
    assert [k.started for k in kernels] == [False, False] and len(FakeKernel.made) == 2


def test_a_used_kernel_is_closed_in_the_background_and_waited_for(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker's used kernel is closed on the closer thread (the next submission does
    not wait for it); closing the worker waits until every such close is done."""
    import threading

    release = threading.Event()
    closed_on: dict[int, str] = {}

    class SlowClose(FakeKernel):
        def close(self) -> None:
            release.wait(10)
            closed_on[id(self)] = threading.current_thread().name
            super().close()

    warm = WarmKernels()
    monkeypatch.setattr(kernel_pool, "_WORKER", warm)
    with kernel_for(SlowClose, {"slot": 1}) as used:
        assert used.started
    assert not used.closed, "the exit returned before the close finished"
    release.set()
    warm.close()
    assert used.closed and closed_on[id(used)].startswith("ag-close-kernel")


def _wait_started(kernel: FakeKernel) -> FakeKernel:
    deadline = time.monotonic() + 10
    while not kernel.started and time.monotonic() < deadline:
        time.sleep(0.01)
    return kernel


# ----------------------------------------------------------------------------- real kernels

needs_bwrap = pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap")


def _kwargs(tmp: Path, n: int) -> dict[str, Any]:
    return {"slot": worker_slot(300, n), "lang": "en", "temp_root": tmp}


# uid, and whether the first submission's files exist (a checkout under /tmp shows its
# venv's mount point in /tmp, so only these names tell)
IDENTITY = ("import os; print(os.getuid(), os.path.exists('/tmp/mine'), "
            "os.path.exists('/content/work.txt'))")


@needs_bwrap
def test_warm_sandboxed_kernels_are_separate_and_survive_idling(tmp_path: Path) -> None:
    warm = WarmKernels()
    try:
        with warm.take(SandboxedKernel, _kwargs(tmp_path, 0)) as first:
            first.run_code("open('/tmp/mine', 'w').write('x'); open('work.txt', 'w').write('x')")
            seen_first = first.run_code(IDENTITY).stdout.split()
        # the kernel started ahead (from the starter thread) must outlive that idle time:
        # bubblewrap --die-with-parent would have killed it with a short-lived thread
        time.sleep(1.5)
        with warm.take(SandboxedKernel, _kwargs(tmp_path, 0)) as second:
            assert warm.hits == 1 and second.alive
            seen_second = second.run_code(IDENTITY).stdout.split()
        assert seen_first[1:] == ["True", "True"]
        assert seen_second[1:] == ["False", "False"], "nothing of the last submission is seen"
        if os.geteuid() == 0:
            assert seen_first[0] != seen_second[0], "two live kernels never share a uid"
    finally:
        warm.close()
    assert not list(tmp_path.glob("agk-*")), "every kernel's private folder is removed"


def _worker_grades_twice(tmp: str) -> int:
    warm = kernel_pool.enable_in_worker()
    for _ in range(2):
        with kernel_for(SandboxedKernel, _kwargs(Path(tmp), 1)) as kernel:
            assert kernel.run_code("1 + 1").ok
    return warm.hits


@needs_bwrap
def test_a_worker_process_closes_its_warm_kernel_when_it_exits(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        assert pool.apply(_worker_grades_twice, (str(tmp_path),)) == 1
        # the used kernels are closed in the background: wait until only the third is left
        deadline = time.monotonic() + 30
        while len(list(tmp_path.glob("agk-*"))) != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(list(tmp_path.glob("agk-*"))) == 1, "the third kernel waits, started"
        pool.close()
        pool.join()
    assert not list(tmp_path.glob("agk-*")), "the worker closed it on its way out"
