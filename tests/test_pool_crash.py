"""The local pool when a grading process dies (``pool.run_pool``).

A worker's death breaks a ``ProcessPoolExecutor``: every task queued there fails with
it. Before, a single dying worker turned a whole batch into ``error`` rows that
``results.csv`` did not list. Now the tasks left run in a new pool, the one running
when the worker died runs again alone, and one that kills its process alone too is
recorded ``crashed`` (every item at zero), as on a Dask cluster (``test_cluster.py``).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from test_cluster import _expected, _folder, _grade, _results

from autograder.core.results import Status
from autograder.engine.kernel.sandbox import bwrap_available
from autograder.store.gradebook import Gradebook

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap")]


def test_a_submission_that_ends_its_grading_process_is_crashed_and_the_rest_graded(
        tmp_path: Path) -> None:
    subs = _folder(tmp_path, {"exiter": "AG_TEST_EXIT_GRADER"})
    gb = tmp_path / "gb.sqlite"
    summary = _grade(subs, gb, cluster=None, jobs=2,
                     kernel_factory="cluster_kernels:WorkerKillingKernel")
    results = _results(gb)
    status, score, reason, checks, notices = results.pop("exiter")
    assert (status, score) == (Status.CRASHED, 0.0)
    assert "died twice" in str(reason) and checks
    assert [n["code"] for n in notices] == ["crashed"]  # type: ignore[index]
    assert {p: (r[0], r[1]) for p, r in results.items()} == {
        p: (Status.GRADED, _expected(p)) for p in results}
    assert [o.status for o in summary.graded_now].count(Status.CRASHED) == 1
    assert any(m.code == "pool_crashed" for m in summary.messages)
    with Gradebook(gb) as book:  # one result per submission, none twice
        assert all(book.result(stored.id) is not None
                   for stored in book.latest_submissions("02_n"))
    rows = list(csv.DictReader((tmp_path / "out" / "results.csv").open(encoding="utf-8")))
    assert sorted(r["participant"] for r in rows) == sorted([*results, "exiter"])
    assert {r["participant"]: r["status"] for r in rows}["exiter"] == "crashed"
