"""The course's source notebooks against their contract (docs/course.md) and the decks.

Cheap static checks (no kernel): every contract name is defined, the parameters cell has
the knobs grading overrides, the decks' worked examples are in the text, and 14_n's
offline data generator is the reference's, image for image.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from autograder.authoring.source_check import parameter_names, parse_code

ASSIGNMENTS = Path(__file__).resolve().parent.parent / "assignments"

CONTRACT = {
    "13_n": {"step", "perceptron", "AND", "OR", "NAND", "XOR", "sigmoid", "relu", "tanh",
             "softmax", "cross_entropy"},
    "13_h": {"init_params", "forward", "loss", "backward", "numerical_gradient", "sgd_step",
             "train", "xor_params", "mnist_params", "mnist_accuracy"},
    "14_n": {"conv2d", "conv2d_multi", "max_pool2d", "avg_pool2d", "output_size",
             "conv_params", "split_dataset", "model"},
}
PARAMETERS = {
    "13_n": None,
    "13_h": {"EPOCHS", "BATCH_SIZE", "LR", "DATA_ROOT", "TRAIN_SUBSET"},
    "14_n": {"EPOCHS", "BATCH_SIZE", "LR", "DATA_ROOT", "DATASET", "TRAIN_SUBSET"},
}
DECK_EXAMPLES = {
    "13_n": ["w_a = 5,\\ w_b = 5,\\ \\text{threshold} = 9", "-5,\\ w_b = -5", "H(3x_a + 7x_b - 5)",
             "[3.0, -1.5, 0.2, 2.3, 3.5, 2.0, -2.2, 2.1, 1.0, 2.5]", "0.2110, 0.0023",
             "0.357", "h₁ (NAND)"],
    "13_h": ["0.357", "(A)", "(B)"],
    "14_n": ["= 411", "411 456 501", "861 906 951", "7 6      3.75 3", "40,000",
             "8 \\times (5 \\times 9 + 1) = 368"],
}


def _notebook(assignment_id: str) -> nbformat.NotebookNode:
    return nbformat.read(ASSIGNMENTS / assignment_id / f"{assignment_id}.ipynb", as_version=4)


def _defined(nb: nbformat.NotebookNode) -> set[str]:
    names: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for node in parse_code(cell.source).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    elts = target.elts if isinstance(target, ast.Tuple) else [target]
                    names.update(t.id for t in elts if isinstance(t, ast.Name))
    return names


@pytest.mark.parametrize("assignment_id", sorted(CONTRACT))
def test_contract_names_are_defined(assignment_id: str) -> None:
    missing = CONTRACT[assignment_id] - _defined(_notebook(assignment_id))
    assert not missing, f"{assignment_id} does not define {sorted(missing)}"


@pytest.mark.parametrize("assignment_id", sorted(PARAMETERS))
def test_parameters_cell(assignment_id: str) -> None:
    nb = _notebook(assignment_id)
    names = parameter_names(nb, ASSIGNMENTS / assignment_id)
    want = PARAMETERS[assignment_id]
    assert names == want if want is None else want <= (names or set())


@pytest.mark.parametrize("assignment_id", sorted(DECK_EXAMPLES))
def test_deck_examples_are_in_the_text(assignment_id: str) -> None:
    text = "\n".join(c.source for c in _notebook(assignment_id).cells
                     if c.cell_type == "markdown")
    missing = [e for e in DECK_EXAMPLES[assignment_id] if e not in text]
    assert not missing, f"{assignment_id} lacks the deck's {missing}"


def test_every_assignment_has_the_free_text_cell() -> None:
    for assignment_id in CONTRACT:
        cells = [c for c in _notebook(assignment_id).cells
                 if c.metadata.get("nbgrader", {}).get("grade_id") == "comments"]
        assert len(cells) == 1 and cells[0].cell_type == "markdown", assignment_id
        meta = cells[0].metadata.nbgrader
        assert meta.solution and meta.grade and meta.points > 0


@pytest.mark.slow  # imports torch, torchvision and PIL: > 10 s on a loaded CI machine
def test_14_n_offline_generator_is_the_reference_one() -> None:
    import torch
    import torch.nn.functional as F

    from autograder_reference import cifar

    cell = next(c for c in _notebook("14_n").cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == "load_cifar")
    classes = [n for n in parse_code(cell.source).body
               if isinstance(n, (ast.ClassDef, ast.Import))]
    namespace = {"torch": torch, "F": F}
    exec(compile(ast.Module(body=classes, type_ignores=[]), "14_n", "exec"), namespace)
    for seed in (cifar.FAKE_TRAIN_SEED, cifar.FAKE_TEST_SEED, 1414):
        dataset = namespace["FakeCIFAR10"](50, seed=seed)
        images, labels = cifar.fake_cifar_tensors(50, seed=seed)
        for i in (0, 7, 49):
            image, label = dataset[i]
            assert label == int(labels[i]) and torch.equal(image, images[i])
        with pytest.raises(IndexError):
            dataset[50]
    # a split's Subset may hold numpy or torch integers (``Subset(data, perm[:n])``)
    import numpy as np

    dataset = namespace["FakeCIFAR10"](50, seed=cifar.FAKE_TRAIN_SEED)
    for index in (np.int64(7), torch.tensor(7)):
        assert torch.equal(dataset[index][0], dataset[7][0])
