"""``[cell_requires]``: a test cell whose verdict rests on kernel data earns its points only
when the grader's own checks of the same thing pass (engine/cells/requires.py).

Pure tables here (results in, results out); the red-team notebooks that motivated it are
graded by the real engine in tests/test_redteam_cells.py.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import MappingProxyType

import nbformat
import pytest

from autograder import checks
from autograder.core.config import Assignment, Wording, load_assignment
from autograder.core.errors import ConfigError
from autograder.core.results import CheckResult
from autograder.engine.cells.requires import apply_cell_requires
from autograder.engine.labels import check_named_cells

REPO = Path(__file__).resolve().parent.parent


def _assignment(requires: dict[str, tuple[str, ...]]) -> Assignment:
    return Assignment(id="x", root=Path("."), title_ja="t", title_en="t",
                      cell_requires=MappingProxyType(requires),
                      labels=MappingProxyType({"test_acc": Wording("正解率", "accuracy")}))


def _check(name: str, passed: bool, message: str = "") -> CheckResult:
    return CheckResult(name, 2.0 if passed else 0.0, 2.0, passed, message)


def _cell(name: str, passed: bool) -> CheckResult:
    return CheckResult(name, 1.0 if passed else 0.0, 1.0, passed, "cell says", kind="cell")


REQUIRES = {"cell:test_model": ("test_acc",), "cell:test_split": ("test_split", "test_seed")}

# (case, results, names that must end with zero points, cells left as they were)
CASES = [
    ("required check passed: the cell keeps its points",
     [_check("test_acc", True), _cell("cell:test_model", True)], set(), {"cell:test_model"}),
    ("required check failed: the cell earns nothing",
     [_check("test_acc", False, "0.10 < 0.75"), _cell("cell:test_model", True)],
     {"test_acc", "cell:test_model"}, set()),
    ("one of two required checks failed",
     [_check("test_split", True), _check("test_seed", False), _cell("cell:test_split", True)],
     {"test_seed", "cell:test_split"}, set()),
    ("required check missing (did not run): not passed",
     [_cell("cell:test_model", True)], {"cell:test_model"}, set()),
    ("a failing cell stays as it failed",
     [_check("test_acc", False), _cell("cell:test_model", False)],
     {"test_acc", "cell:test_model"}, {"cell:test_model"}),
    ("a cell with no requirement is untouched",
     [_check("test_acc", False), _cell("cell:test_net", True)], {"test_acc"}, {"cell:test_net"}),
    ("a pytest check of a cell's name is never gated",
     [_check("cell:test_model", True)], set(), {"cell:test_model"}),
]


@pytest.mark.parametrize(("case", "results", "zero", "kept"), CASES, ids=[c[0] for c in CASES])
def test_cell_points_need_the_required_checks(case: str, results: list[CheckResult],
                                               zero: set[str], kept: set[str]) -> None:
    out = apply_cell_requires(results, _assignment(REQUIRES), lang="en")
    assert [r.name for r in out] == [r.name for r in results], case
    assert {r.name for r in out if r.points == 0} == zero, case
    before = {r.name: r for r in results}
    assert all(r == before[r.name] for r in out if r.name in kept), case
    assert all(r.max_points == before[r.name].max_points for r in out)


@pytest.mark.parametrize(("lang", "words"), [
    ("en", ["test cell test_model", "grader's check", "“accuracy”: 0.10 < 0.75"]),
    ("ja", ["テストセル test_model", "採点側", "「正解率」: 0.10 < 0.75"]),
])
def test_the_message_names_what_the_grader_found(lang: str, words: list[str]) -> None:
    results = [_check("test_acc", False, "0.10 < 0.75"), _cell("cell:test_model", True)]
    gated = apply_cell_requires(results, _assignment(REQUIRES), lang=lang)[1]  # type: ignore[arg-type]
    assert not gated.passed and gated.kind == "cell"
    assert all(w in gated.message for w in words), gated.message


def test_a_required_check_that_did_not_run_is_named() -> None:
    gated = apply_cell_requires([_cell("cell:test_split", True)], _assignment(REQUIRES),
                                lang="en")[0]
    assert "“test_split”: did not run" in gated.message
    assert "“test_seed”: did not run" in gated.message


# every course cell whose verdict rests on names the student can rebind in the kernel
# (docs/security.md, "In-notebook test cells")
COURSE_REQUIRES = {
    "03_n": {"cell:test_loaders", "cell:test_evaluate", "cell:test_model"},
    "03_h": {"cell:test_evaluate", "cell:test_model"},
    "13_n": set(),
    "13_h": {"cell:test_xor_trained", "cell:test_mnist", "cell:test_gradient_check",
             "cell:test_train"},
    "14_n": {"cell:test_split_dataset", "cell:test_model", "cell:test_net"},
    "14_h": {"cell:test_transforms", "cell:test_history", "cell:test_model",
             "cell:test_confusion", "cell:test_alexnet"},
}


@pytest.mark.parametrize("assignment_id", sorted(COURSE_REQUIRES))
def test_the_course_gates_its_kernel_data_cells(assignment_id: str) -> None:
    a = load_assignment(assignment_id, REPO / "assignments")
    assert set(a.cell_requires) == COURSE_REQUIRES[assignment_id]
    check_named_cells(a, nbformat.read(a.source_notebook, as_version=4))
    checks.collect_checks(assignment=a)   # every required name is a collected check


@pytest.mark.parametrize(("requires", "error"), [
    ({"cell:test_modle": ("test_model_accuracy",)}, "cell:test_modle"),
    ({"cell:test_model": ("test_model_acuracy",)}, "test_model_acuracy"),
])
def test_a_name_in_cell_requires_must_exist(requires: dict[str, tuple[str, ...]],
                                            error: str) -> None:
    base = load_assignment("14_n", REPO / "assignments")
    typo = dataclasses.replace(base, cell_requires=MappingProxyType(requires))
    source = nbformat.read(base.source_notebook, as_version=4)
    with pytest.raises(ConfigError, match=error):
        check_named_cells(typo, source)
        checks.collect_checks(assignment=typo)
