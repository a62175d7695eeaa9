"""Hidden check of 05_n: secret inputs and a check expression that must never show."""

from __future__ import annotations

import pytest

from autograder import checks


@pytest.mark.points(2)
@pytest.mark.time_limit(6)
def test_add_secret(submission):  # type: ignore[no-untyped-def]
    add = submission.function("add")
    if add(7919, 104729) != 112648:
        checks.fail(ja="add が 2 つの数の和を返していません",
                    en="add does not return the sum of its two arguments")
    if submission.evaluate("add(31337, 27182) - 58519") != 0:
        checks.fail(ja="add が 2 つの数の和を返していません",
                    en="add does not return the sum of its two arguments")
