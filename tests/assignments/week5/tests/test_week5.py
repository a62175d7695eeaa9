"""Hidden checks of week5 (grader side)."""

from __future__ import annotations

import pytest

from autograder import checks


@pytest.mark.points(1)
def test_shift(submission):  # type: ignore[no-untyped-def]
    shift = submission.function("shift")
    if shift(41) != 42:
        checks.fail(ja="shift(x) は x + 1 です", en="shift(x) is x + 1")
