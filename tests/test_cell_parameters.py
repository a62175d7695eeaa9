"""Test cells read the grading run's parameters from the grader (the source's
``parameters`` cell with the manifest's ``[grading]`` on top), never the kernel's globals
(engine/parameters.py ``parameter_values``; red-team pass 4: 03_n's TRAIN_SUBSET)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from autograder.engine.parameters import parameter_values

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("params", "expected"), [
    ({}, {"TRAIN_SUBSET": None, "EPOCHS": 3, "DATA_ROOT": "./data"}),
    ({"EPOCHS": 1, "TRAIN_SUBSET": 2048}, {"TRAIN_SUBSET": 2048, "EPOCHS": 1}),
])
def test_test_cells_read_the_grading_runs_parameters(params: dict[str, object],
                                                     expected: dict[str, object]) -> None:
    source = nbformat.read(REPO / "assignments" / "03_n" / "03_n.ipynb", as_version=4)
    values = parameter_values(source, params)   # type: ignore[arg-type]
    assert {k: values[k] for k in expected} == expected


def test_only_plain_literals_of_the_parameters_cell_count() -> None:
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("A = 1\nB = f()\nC, D = 1, 2\nE = [1, 2]\nA += 1",
                                  metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("F = 3"),
    ])
    assert parameter_values(nb, {"G": "x"}) == {"A": 1, "E": [1, 2], "G": "x"}
