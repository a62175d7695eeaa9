"""The benchmark assignment's one hidden check.

Deliberately trivial: one call through the ``submission`` fixture, so the time it takes is
the cost of the check machinery (pytest in the grader, one round trip to the kernel).
"""

from __future__ import annotations

import pytest

from autograder.engine.bridge.submission import Submission


@pytest.mark.points(1)
def test_add_hidden(submission: Submission) -> None:
    add = submission.function("add")
    assert add(20, 22) == 42, "add(20, 22) は 42 になるはずです"
