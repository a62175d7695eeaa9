"""A grading worker's share of the cores for the grader's own tensors (``pool._share_cores``),
and its garbage collector through its start (``pool._settle_collector``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = ("from autograder.engine.pool import _share_cores; _share_cores({jobs}); "
         "import torch; print(torch.get_num_threads())")


def threads_in_worker(jobs: int, **env: str) -> int:
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS",
                                                                 "MKL_NUM_THREADS")}
    done = subprocess.run([sys.executable, "-c", PROBE.format(jobs=jobs)], check=True,
                          capture_output=True, text=True, env={**clean, **env}, timeout=120)
    return int(done.stdout.strip())


@pytest.mark.parametrize("jobs", [1, 2, 64])
def test_each_worker_gets_its_share_of_the_cores(jobs: int) -> None:
    assert threads_in_worker(jobs) == max(1, (os.cpu_count() or 1) // jobs)


def test_what_the_user_set_is_kept() -> None:
    assert threads_in_worker(1, OMP_NUM_THREADS="1") == 1


GC_PROBE = """
import gc, json, multiprocessing as mp
from autograder.engine import pool
slots = mp.get_context("spawn").Queue(); slots.put(0)
pool._init_worker(slots, None, False, None)
seen = [gc.isenabled()]
pool._settle_collector()          # the end of the first task
seen += [gc.isenabled(), gc.get_freeze_count() > 0]
frozen = gc.get_freeze_count()
pool._settle_collector()          # later tasks change nothing
seen += [gc.isenabled(), gc.get_freeze_count() == frozen]
print(json.dumps(seen))
"""


def test_a_worker_collects_from_its_first_task_on() -> None:
    # the collector waits through a worker's start (imports), then runs as usual
    done = subprocess.run([sys.executable, "-c", GC_PROBE], check=True, capture_output=True,
                          text=True, timeout=120)
    assert done.stdout.strip() == "[false, true, true, true, true]"
