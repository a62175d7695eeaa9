"""Variants of assignment 14_n: see tests/variant_grading.py."""

from __future__ import annotations

import pytest
from variant_grading import cases, check_variant, graded_fixture

graded_14_n = graded_fixture("14_n")


@pytest.mark.slow
@pytest.mark.parametrize(("assignment_id", "variant", "lost"), cases("14_n"))
def test_variant_loses_exactly_its_checks(request: pytest.FixtureRequest, assignment_id: str,
                                          variant: str, lost: frozenset[str]) -> None:
    check_variant(request, assignment_id, variant, lost)
