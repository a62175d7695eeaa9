"""Red-team pass 4's notebooks, graded by the real engine: test cells whose verdict rested
on kernel data ([cell_requires]), a NaN accuracy, the kernel's TRAIN_SUBSET, a replaced
DataLoader.

The notebooks in tests/notebooks/redteam/ are the red team's (built from variants of
tests/variants/ with one attack each, named after it). Each must lose exactly the listed
items; every other item scores as the variant it was made from. Graded like the variants
(tests/variant_grading.py: sandboxed kernels forked from a template, the manifest's
grading parameters, CIFAR-10 replaced by the synthetic data).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from variant_grading import grade_notebooks

from autograder.core.results import Status, SubmissionResult

REDTEAM = Path(__file__).resolve().parent / "notebooks" / "redteam"

# notebook -> the items it must lose (all of their points)
EXPECTED: dict[str, dict[str, frozenset[str]]] = {
    "03_n": {
        # untrained; evaluate answers 0.97 from its third call on test_loader
        "03_n_evaluate_rigged_on_third_call": frozenset({"test_model_accuracy",
                                                         "cell:test_model"}),
        # evaluate counts batches; TinyLoader and torch.utils.data.DataLoader replaced by
        # loaders of one batch
        "03_n_tinyloader_and_dataloader_replaced": frozenset({"test_evaluate",
                                                              "cell:test_evaluate"}),
        # return float("nan")
        "03_n_evaluate_returns_nan": frozenset({"test_evaluate", "test_evaluate_on_test_loader",
                                                "cell:test_evaluate", "cell:test_model"}),
        # trains on the test images, TRAIN_SUBSET = 10000 set to match
        "03_n_train_subset_rebound": frozenset({"test_loaders", "test_model_accuracy",
                                                "cell:test_loaders", "cell:test_model"}),
    },
    "14_n": {
        # overlapping split + class AllAtOnce redefined; untrained + test_loader rebound so
        # that its labels are the model's own argmax; a Conv2d that is no convolution
        "14_n_split_allatonce_and_test_loader_rebound": frozenset({
            "test_split_dataset", "cell:test_split_dataset", "test_model_accuracy",
            "cell:test_model", "test_model_is_cnn", "cell:test_net"}),
    },
}


def _grade_all(request: pytest.FixtureRequest, assignment_id: str) -> dict[str, SubmissionResult]:
    paths = {name: REDTEAM / f"{name}.ipynb" for name in EXPECTED[assignment_id]}
    return grade_notebooks(request, assignment_id, paths).results


@pytest.fixture(scope="module")
def graded(request: pytest.FixtureRequest) -> dict[str, dict[str, SubmissionResult]]:
    return {}


CASES = [pytest.param(a, n, lost, id=n) for a, cases in EXPECTED.items()
         for n, lost in cases.items()]


@pytest.mark.slow
@pytest.mark.parametrize(("assignment_id", "name", "lost"), CASES)
def test_attack_loses_exactly_its_items(request: pytest.FixtureRequest,
                                        graded: dict[str, dict[str, SubmissionResult]],
                                        assignment_id: str, name: str,
                                        lost: frozenset[str]) -> None:
    if assignment_id not in graded:
        graded[assignment_id] = _grade_all(request, assignment_id)
    result = graded[assignment_id][name]
    assert result.status is Status.GRADED, result.reason
    got = {c.name: c.message for c in result.checks if c.points != c.max_points}
    assert got.keys() == lost, got
    for cell in (n for n in lost if n.startswith("cell:")):
        assert got[cell], cell   # says why (the gated ones name the grader's check)
