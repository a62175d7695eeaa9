"""A local batch starts its grading workers before it reads the submissions
(``batch._started_early``): their imports and templates overlap the intake. Where the
batch then has nothing for them they are stopped where they are; otherwise they end
with the batch as before. A grading service's kept workers and a cluster are left alone."""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from autograder.core.config import load_assignment
from autograder.core.errors import SandboxError
from autograder.engine import pool as pool_module
from autograder.engine.pool import PoolOptions, WarmPool
from autograder.grading.batch import EARLY_WORKERS, _LocalPool, _started_early

ASSIGNMENTS = Path(__file__).resolve().parent / "assignments"
Children = Callable[[], list[object]]


def _local(warm: WarmPool | None = None, jobs: int = 2) -> _LocalPool:
    return _LocalPool(load_assignment("02_n", ASSIGNMENTS), jobs, (), None, False, warm)


@pytest.fixture
def children(monkeypatch: pytest.MonkeyPatch) -> Children:
    """The worker processes of the pools this test made that are still running. Not
    ``mp.active_children()``: that is the whole test process's, where a pool an earlier
    test file shut down without waiting may still be on its way out and another file's
    pool (a cluster worker's slot) may start a process while this test runs (CI runs
    files one after another in one process; once such a process was counted here). Each
    pool's process table is kept from its start: the executor forgets it at shutdown,
    while its manager thread, the only one that could still start a worker, keeps it."""
    tables: list[Mapping[int, mp.process.BaseProcess]] = []
    made = pool_module._new_pool

    def recorded(options: PoolOptions) -> Any:
        pool = made(options)
        tables.append(pool.executor._processes)
        return pool

    monkeypatch.setattr(pool_module, "_new_pool", recorded)
    return lambda: [p for table in tables for p in list(table.values()) if p.is_alive()]


def _alive(pids: list[int]) -> list[int]:
    return [pid for pid in pids if os.path.exists(f"/proc/{pid}")
            and "Z" not in open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1][:3]]


def test_the_workers_are_running_before_any_task_and_stop_when_none_comes(
        children: Children) -> None:
    with _started_early(_local(), None) as local:
        assert isinstance(local.warm, WarmPool) and local.options == PoolOptions(jobs=2)
        pids = local.warm.worker_pids()
        assert len(pids) == 2 and _alive(pids) == pids
    assert _alive(pids) == [] and children() == []


def test_workers_that_graded_end_with_the_batch(children: Children) -> None:
    with _started_early(_local(), None) as local:
        assert local.warm is not None
        with local.warm.lend(local.pool_options()) as pool:   # what run_pool does
            pids = local.warm.worker_pids()
            assert pool.executor.submit(abs, -3).result(timeout=120) == 3
        assert local.warm.worker_pids() == pids, "the same workers, started early"
    assert _alive(pids) == [] and children() == []


def test_only_the_first_workers_start_early_and_a_small_batch_starts_no_more(
        children: Children) -> None:
    # --jobs 8 for one late submission: two workers before the intake, and the task goes
    # to one of them (it waits for their start) instead of starting a third
    with _started_early(_local(jobs=8), None) as local:
        assert local.warm is not None
        assert len(local.warm.worker_pids()) == EARLY_WORKERS == 2
        with local.warm.lend(local.pool_options()) as pool:
            assert pool.executor.submit(abs, -1).result(timeout=120) == 1
            assert len(local.warm.worker_pids()) == 2
        with local.warm.lend(local.pool_options()) as pool:   # a big batch: up to jobs
            assert sorted(pool.executor.map(abs, range(-40, 0))) == list(range(1, 41))
            assert 2 <= len(local.warm.worker_pids()) <= 8
    assert children() == []


def test_a_services_workers_and_a_cluster_are_left_alone(children: Children) -> None:
    service = WarmPool()
    with _started_early(_local(service), None) as local:
        assert local.warm is service and service.worker_pids() == []
    with _started_early(_local(), object()) as local:  # type: ignore[arg-type]
        assert local.warm is None and local.options is None
    assert children() == []


def test_settings_that_fail_leave_their_error_to_the_batchs_run(
        monkeypatch: pytest.MonkeyPatch, children: Children) -> None:
    # a misspelt AUTOGRADER_FORK is reported where it always was (when tasks run), not
    # before the intake: a batch with nothing to grade never meets it
    monkeypatch.setenv("AUTOGRADER_FORK", "perhaps")
    local = replace(_local(), fork=None)
    with _started_early(local, None) as early:
        assert early is local and children() == []
    with pytest.raises(SandboxError, match="AUTOGRADER_FORK"):
        local.pool_options()
