"""Variants of assignment 13_n: see tests/variant_grading.py."""

from __future__ import annotations

import pytest
from variant_grading import (
    cases,
    check_committed_variants_match_the_generator,
    check_variant,
    graded_fixture,
)

graded_13_n = graded_fixture("13_n")


@pytest.mark.slow
@pytest.mark.parametrize(("assignment_id", "variant", "lost"), cases("13_n"))
def test_variant_loses_exactly_its_checks(request: pytest.FixtureRequest, assignment_id: str,
                                          variant: str, lost: frozenset[str]) -> None:
    check_variant(request, assignment_id, variant, lost)


def test_committed_variants_match_the_generator() -> None:
    check_committed_variants_match_the_generator()
