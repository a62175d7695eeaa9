"""A result that says the grader failed (``error``: its sandbox or kernel, not the
student) is no grade: the next run of the same command grades it again, and only it,
as it does a submission left without a result (``batch._todo``, ``Gradebook.failed``).
Export leaves such rows blank (``test_export_ungraded.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cluster import _expected, _folder, _grade, _results

from autograder.core.results import Status
from autograder.engine.kernel.sandbox import bwrap_available

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap")]


def test_a_grading_error_is_graded_again_by_the_next_run(tmp_path: Path) -> None:
    subs = _folder(tmp_path, {"unlucky": "AG_TEST_SANDBOX_FAILS"})
    gb = tmp_path / "gb.sqlite"
    first = _grade(subs, gb, cluster=None, jobs=2,
                   kernel_factory="cluster_kernels:SandboxFailingKernel")
    assert len(first.graded_now) == 9
    status, score, reason, *_ = _results(gb)["unlucky"]
    assert (status, score) == (Status.ERROR, 0.0) and "sandbox could not start" in str(reason)

    second = _grade(subs, gb, cluster=None, jobs=2)   # the sandbox works again
    assert [o.status for o in second.graded_now] == [Status.GRADED]
    results = _results(gb)
    assert results.pop("unlucky")[:2] == (Status.GRADED, 4.0)   # add_correct, full marks
    assert {p: r[:2] for p, r in results.items()} == {
        p: (Status.GRADED, _expected(p)) for p in results}

    third = _grade(subs, gb, cluster=None, jobs=2)    # nothing left to grade
    assert third.graded_now == []
