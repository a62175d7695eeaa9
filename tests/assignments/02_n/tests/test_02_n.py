"""Hidden checks of 02_n: run in the grader's process through the submission fixture."""

from __future__ import annotations

import random

import pytest
import torch

from autograder import checks


@pytest.mark.points(2)
def test_add(submission):  # type: ignore[no-untyped-def]
    add = submission.function("add")
    rng = random.Random(1234)
    for _ in range(5):
        a, b = rng.randint(-1000, 1000), rng.randint(-1000, 1000)
        got = add(a, b)
        if got != a + b:
            # never the grader's inputs in the message: they are the hidden test
            checks.fail(ja="add が 2 つの数の和を返していません",
                        en="add does not return the sum of its two arguments")


@pytest.mark.points(1)
def test_double(submission):  # type: ignore[no-untyped-def]
    double = submission.function("double")
    x = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    factor = submission.params["FACTOR"]
    got = double(x)
    if not isinstance(got, torch.Tensor) or not torch.allclose(got, x * factor):
        checks.fail(ja=f"double(x) は x * FACTOR (FACTOR = {factor}) を返すはずです",
                    en=f"double(x) must return x * FACTOR (FACTOR = {factor})")
