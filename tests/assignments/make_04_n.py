"""Generate 04_n and its submissions, modelled on nbgrader's own test fixtures
(run: PYTHONPATH=. python tests/assignments/make_04_n.py).

04_n has the shape of nbgrader's ``submitted-*.ipynb`` test notebooks, written anew: an
answer cell ``set_a``, two test cells (``foo`` always passes, ``bar`` needs ``a == 1``),
a markdown answer ``baz`` (2 points) and a code answer ``quux`` (3 points), both graded
by hand, and two read-only cells. 7 points in all, no pytest checks. The submissions in
``tests/notebooks/nbgrader_cases/`` are its released version with one change each:

    unchanged            nothing done                 nbgrader: 1/7, nothing to grade by hand
    changed              every answer given           nbgrader: 2/7, needs manual grading
    cheat_showtraceback  showtraceback patched away   nbgrader: 1/7, needs manual grading
    locked_cell_changed  both read-only cells edited  restored; 1/7
    test_cell_changed    ``bar`` commented out        restored; 1/7
    cell_type_changed    ``set_a`` made markdown      type restored; 1/7
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
FOLDER = HERE / "04_n"
CASES = HERE.parent / "notebooks" / "nbgrader_cases"


def _nbg(cell, **meta):  # type: ignore[no-untyped-def]
    cell.metadata["nbgrader"] = {"schema_version": 3, "task": False, "locked": False, **meta}
    return cell


def source() -> nbformat.NotebookNode:
    cells = [
        _nbg(new_code_cell("### BEGIN SOLUTION\na = 1\n### END SOLUTION"), grade=False,
             solution=True, grade_id="set_a"),
        _nbg(new_code_cell('print("Success!")'), grade=True, solution=False, grade_id="foo",
             points=1),
        _nbg(new_code_cell("assert a == 1"), grade=True, solution=False, grade_id="bar",
             points=1),
        _nbg(new_markdown_cell("採点基準: a を 1 にした理由を自分の言葉で説明していれば 2 点、"
                               "説明が不十分なら 1 点。"), grade=True, solution=True,
             grade_id="baz", points=2),
        _nbg(new_code_cell("### BEGIN SOLUTION\n# 採点基準: b に 2 を入れ、a との関係を"
                           "図かコメントで示していれば 3 点\nb = 2 * a\n### END SOLUTION"),
             grade=True, solution=True, grade_id="quux", points=3),
        _nbg(new_code_cell('print("Don\'t change this cell!")'), grade=False, solution=False,
             locked=True, grade_id="ro1"),
        _nbg(new_markdown_cell("This cell shouldn't be changed."), grade=False,
             solution=False, locked=True, grade_id="ro2"),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def released() -> nbformat.NotebookNode:
    from autograder.authoring.release import student_version
    from autograder.core.config import load_assignment

    return student_version(source(), assignment=load_assignment("04_n", HERE))


def _cell(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells
                if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)


def _answered(nb: nbformat.NotebookNode, set_a: str) -> nbformat.NotebookNode:
    _cell(nb, "set_a").source = set_a
    _cell(nb, "baz").source = "回答です! a は 1 です。"
    _cell(nb, "quux").source = "# YOUR CODE HERE\nb = 2"
    return nb


def cases() -> dict[str, nbformat.NotebookNode]:
    base = released()
    out = {name: copy.deepcopy(base) for name in (
        "unchanged", "changed", "cheat_showtraceback", "locked_cell_changed",
        "test_cell_changed", "cell_type_changed")}
    _answered(out["changed"], "# YOUR CODE HERE\na = 1")
    _answered(out["cheat_showtraceback"],
              "# YOUR CODE HERE\nimport IPython.core.interactiveshell\n"
              "IPython.core.interactiveshell.InteractiveShell.showtraceback = "
              "lambda *args, **kwargs: None")
    _cell(out["locked_cell_changed"], "ro1").source = '#print("Don\'t change this cell!")'
    _cell(out["locked_cell_changed"], "ro2").source = "This cell shouldn't \nbe changed."
    _cell(out["test_cell_changed"], "bar").source = "#assert a == 1"
    nb = out["cell_type_changed"]
    old = _cell(nb, "set_a")
    new = new_markdown_cell(old.source, metadata=copy.deepcopy(old.metadata))
    new["id"] = old["id"]
    nb.cells[nb.cells.index(old)] = new
    return out


if __name__ == "__main__":
    FOLDER.mkdir(exist_ok=True)
    nbformat.write(source(), FOLDER / "04_n.ipynb")
    CASES.mkdir(exist_ok=True)
    for name, nb in cases().items():
        nbformat.write(nb, CASES / f"{name}.ipynb")
