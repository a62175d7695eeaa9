"""Hidden checks of ps1 (grader side)."""

from __future__ import annotations

import pytest

from autograder import checks


@pytest.mark.points(2)
def test_cube(submission):  # type: ignore[no-untyped-def]
    cube = submission.function("cube")
    if [cube(x) for x in (-2, 0, 5)] != [-8, 0, 125]:
        checks.fail(ja="cube が 3 乗を返していません", en="cube does not return the cube")
