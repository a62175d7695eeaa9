"""The course's source notebooks keep the contract of docs/course.md.

Fast checks, for every assignment this checkout ships: the source is a valid nbformat-4
notebook with a Python kernel; nbgrader cells have unique ``grade_id``s, schema 3 and
positive points; every code solution cell has its ``### BEGIN/END SOLUTION`` region (and no
other cell has one); the ``parameters`` cell is plain ``NAME = literal`` lines defining the
knobs course.md lists (plus every ``[grading]`` override); the free-text 質問・感想・要望
cell is there, graded by hand; and every contract name is defined at the top level of a
code cell. Slow checks, for the three MNIST/CIFAR training assignments: ``validate`` (the
real sandboxed grading path) gives the source notebook full marks and the fresh release
zero, under CPU budgets (14_h on its offline synthetic data).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import nbformat
import pytest

from autograder.core.config import load_assignment

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENTS = REPO / "assignments"
COURSE = sorted(p.name for p in ASSIGNMENTS.iterdir() if (p / "assignment.toml").is_file()) \
    if ASSIGNMENTS.is_dir() else []

# docs/course.md: the names each submission is graded by ...
CONTRACT: dict[str, frozenset[str]] = {
    "13_n": frozenset({"step", "perceptron", "AND", "OR", "NAND", "XOR", "sigmoid", "relu",
                       "tanh", "softmax", "cross_entropy"}),
    "13_h": frozenset({"init_params", "forward", "loss", "backward", "numerical_gradient",
                       "sgd_step", "train", "xor_params", "mnist_params", "mnist_accuracy"}),
    "03_n": frozenset({"Net", "train_loader", "test_loader", "evaluate", "model"}),
    "03_h": frozenset({"conv_output_size", "feature_shapes", "Net", "model", "evaluate",
                       "kernels_figure"}),
    "14_n": frozenset({"conv2d", "conv2d_multi", "max_pool2d", "avg_pool2d", "output_size",
                       "conv_params", "split_dataset", "model"}),
    "14_h": frozenset({"device", "AlexNet", "train_transform", "test_transform", "history",
                       "model", "confusion"}),
}
# ... and the knobs of its parameters cell (None: course.md lists no parameters cell).
PARAMETERS: dict[str, frozenset[str] | None] = {
    "13_n": None,
    "13_h": None,
    "03_n": frozenset({"EPOCHS", "BATCH_SIZE", "LR", "DATA_ROOT"}),
    "03_h": frozenset({"EPOCHS", "BATCH_SIZE", "LR", "DATA_ROOT", "DEVICE"}),
    "14_n": frozenset({"EPOCHS", "BATCH_SIZE", "LR", "DATA_ROOT"}),
    "14_h": frozenset({"EPOCHS", "BATCH_SIZE", "LR", "DATA_ROOT", "DEVICE"}),
}
# settings a student may leave as they like: everything else the parameters cell defines
# is pinned by [grading] (a student who tried LR = 0.01 and left it, as the notebook
# allows, would be graded on another training than the one the threshold was set for)
UNPINNED: dict[str, frozenset[str]] = {
    "14_h": frozenset({"DEVICE", "TRAIN_SUBSET", "TEST_SUBSET"}),
}
SEEDS = frozenset({"SEED"})
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
FREE_TEXT_HEADING = "質問・感想・要望"


def _notebook(assignment_id: str) -> nbformat.NotebookNode:
    return nbformat.read(ASSIGNMENTS / assignment_id / f"{assignment_id}.ipynb", as_version=4)


def _nbgrader(cell: Any) -> dict[str, Any]:
    return dict(cell.metadata.get("nbgrader") or {})


def _tags(cell: Any) -> list[str]:
    return list(cell.metadata.get("tags") or [])


@pytest.mark.parametrize("assignment_id", COURSE)
def test_source_is_nbformat4_python(assignment_id: str) -> None:
    nb = _notebook(assignment_id)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata.kernelspec.language == "python"
    for cell in nb.cells:
        if cell.cell_type == "code":
            ast.parse(cell.source)  # plain Python: no magics, no shell escapes


@pytest.mark.parametrize("assignment_id", COURSE)
def test_nbgrader_cells_are_well_formed(assignment_id: str) -> None:
    seen: set[str] = set()
    for index, cell in enumerate(_notebook(assignment_id).cells):
        meta = _nbgrader(cell)
        if not meta:
            continue
        where = f"cell {index}"
        assert meta.get("schema_version") == 3, where
        assert all(isinstance(meta.get(k), bool) for k in ("grade", "solution", "locked")), where
        gid = meta.get("grade_id")
        assert isinstance(gid, str) and gid and gid not in seen, f"{where}: grade_id {gid!r}"
        seen.add(gid)
        if meta["grade"]:
            points = meta.get("points")
            assert isinstance(points, (int, float)) and points > 0, f"{where} [{gid}] points"
        if meta["grade"] and not meta["solution"]:
            assert meta["locked"], f"{where} [{gid}]: a test cell must be locked"


def _solution_regions(source: str) -> int:
    """Number of BEGIN/END SOLUTION regions; fails on an unbalanced or nested one."""
    regions, inside = 0, False
    for line in source.split("\n"):
        if BEGIN in line:
            assert not inside, "nested BEGIN SOLUTION"
            inside = True
        elif END in line:
            assert inside, "END SOLUTION without BEGIN"
            inside, regions = False, regions + 1
    assert not inside, "BEGIN SOLUTION without END"
    return regions


@pytest.mark.parametrize("assignment_id", COURSE)
def test_solution_markers(assignment_id: str) -> None:
    solutions = 0
    for index, cell in enumerate(_notebook(assignment_id).cells):
        meta = _nbgrader(cell)
        regions = _solution_regions(cell.source)
        if cell.cell_type == "code" and meta.get("solution"):
            assert regions >= 1, f"cell {index} [{meta.get('grade_id')}] has no solution region"
            solutions += 1
        elif cell.cell_type == "code":
            assert regions == 0, f"cell {index}: solution markers outside a solution cell"
    assert solutions >= 3, "an assignment asks for several answers"


def _parameters_cell(nb: nbformat.NotebookNode) -> Any:
    cells = [c for c in nb.cells if "parameters" in _tags(c)]
    assert len(cells) == 1, f"expected one cell tagged 'parameters', found {len(cells)}"
    return cells[0]


def _literal_assignments(source: str) -> dict[str, Any]:
    """``NAME = literal`` lines of a parameters cell (anything else fails)."""
    values: dict[str, Any] = {}
    for node in ast.parse(source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1 \
            and isinstance(node.targets[0], ast.Name), f"not NAME = literal: {ast.unparse(node)}"
        values[node.targets[0].id] = ast.literal_eval(node.value)
    return values


@pytest.mark.parametrize("assignment_id", COURSE)
def test_parameters_cell(assignment_id: str) -> None:
    wanted = PARAMETERS.get(assignment_id)
    nb = _notebook(assignment_id)
    grading = load_assignment(assignment_id, ASSIGNMENTS).grading
    if wanted is None and not grading and not any("parameters" in _tags(c) for c in nb.cells):
        return  # course.md lists none and the manifest overrides nothing
    values = _literal_assignments(_parameters_cell(nb).source)
    missing = (wanted or frozenset()) - set(values)
    assert not missing, f"the parameters cell lacks {sorted(missing)}"
    assert set(grading) <= set(values), f"[grading] overrides {sorted(set(grading) - set(values))}"
    for name, value in grading.items():  # an override keeps the knob's kind
        default = values[name]
        assert default is None or isinstance(value, type(default)) or (
            isinstance(default, float) and isinstance(value, int)), (name, default, value)


@pytest.mark.parametrize("assignment_id", COURSE)
def test_grading_pins_every_training_setting(assignment_id: str) -> None:
    nb = _notebook(assignment_id)
    if not any("parameters" in _tags(c) for c in nb.cells):
        return
    grading = load_assignment(assignment_id, ASSIGNMENTS).grading
    names = set(_literal_assignments(_parameters_cell(nb).source))
    loose = names - set(grading) - SEEDS - UNPINNED.get(assignment_id, frozenset())
    assert not loose, f"[grading] leaves {sorted(loose)} to the student's notebook"


@pytest.mark.parametrize("assignment_id", COURSE)
def test_free_text_cell(assignment_id: str) -> None:
    cells = _notebook(assignment_id).cells
    free = [i for i, c in enumerate(cells) if c.cell_type == "markdown"
            and _nbgrader(c).get("solution") and _nbgrader(c).get("grade")]
    assert len(free) == 1, "one free-text answer cell (markdown, solution + grade)"
    index = free[0]
    assert _nbgrader(cells[index]).get("points", 0) > 0
    heading = "\n".join(c.source for c in cells[max(0, index - 2):index])
    assert FREE_TEXT_HEADING in heading, "the free-text cell follows its 質問・感想・要望 heading"


def _top_level_names(nb: nbformat.NotebookNode) -> set[str]:
    names: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
    return names


@pytest.mark.parametrize("assignment_id", [a for a in COURSE if a in CONTRACT])
def test_contract_names_are_defined(assignment_id: str) -> None:
    missing = CONTRACT[assignment_id] - _top_level_names(_notebook(assignment_id))
    assert not missing, f"course.md names the notebook does not define: {sorted(missing)}"


# ---------------------------------------------------------------- the real grading path

@pytest.mark.skipif("14_h" not in COURSE, reason="14_h is not in this checkout")
def test_14h_offline_data_is_the_reference_generator() -> None:
    """The grader draws its synthetic test set from
    ``autograder_reference.cifar.make_fake_cifar``; the notebook's ``FakeCIFAR10`` must give
    the very same pixels and labels."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from PIL import Image

    from autograder_reference.cifar import FAKE_TEST_SEED, make_fake_cifar

    cell = next(c for c in _notebook("14_h").cells
                if _nbgrader(c).get("grade_id") == "given_data")
    namespace: dict[str, Any] = {"torch": torch, "F": F, "np": np, "Image": Image}
    exec(cell.source.split("\nif DATASET ==")[0], namespace)  # the class, not the loading
    notebook = namespace["FakeCIFAR10"](10000, seed=FAKE_TEST_SEED)
    reference = make_fake_cifar(40, seed=FAKE_TEST_SEED)
    for i in range(40):
        pixels, label = notebook.pixels(i)
        assert np.array_equal(pixels, reference.data[i]) and label == reference.targets[i], i
    # a Subset may hold numpy or torch integers (``Subset(data, perm[:n])``)
    for index in (np.int64(3), torch.tensor(3)):
        assert np.array_equal(np.asarray(notebook[index][0]), np.asarray(notebook[3][0]))
