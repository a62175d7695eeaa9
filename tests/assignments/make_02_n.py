"""Generate the tiny engine-test assignment 02_n (run: python tests/assignments/make_02_n.py).

02_n asks for ``add(a, b)`` and ``double(x)`` (a tensor function); it has a parameters
cell, one solution cell, one graded in-notebook test cell and a hidden pytest check file.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent / "02_n"


def _nbg(cell, **meta):  # type: ignore[no-untyped-def]
    cell.metadata["nbgrader"] = {"schema_version": 3, "task": False, **meta}
    return cell


def build() -> nbformat.NotebookNode:
    params = new_code_cell("FACTOR = 2")
    params.metadata["tags"] = ["parameters"]
    cells = [
        _nbg(new_markdown_cell("# 02_n 足し算 (エンジンのテスト用)"), grade=False,
             solution=False, locked=True, grade_id="intro"),
        params,
        _nbg(new_code_cell(
            "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION\n\n"
            "def double(x):\n    ### BEGIN SOLUTION\n    return x * FACTOR\n"
            "    ### END SOLUTION"), grade=False, solution=True, locked=False,
             grade_id="answer"),
        _nbg(new_code_cell("assert add(1, 2) == 3, 'add(1, 2) は 3 になるはずです'"),
             grade=True, solution=False, locked=True, grade_id="test_add_cell", points=1),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


if __name__ == "__main__":
    nbformat.write(build(), HERE / "02_n.ipynb")
