"""Generate the test assignment 05_n (run: python tests/assignments/make_05_n.py).

05_n asks for ``AND``, ``XOR`` and ``add``. Its in-notebook test cell for XOR has a
``### BEGIN HIDDEN TESTS`` region, and its hidden pytest check calls ``add`` on
distinctive grader inputs and evaluates an expression in the kernel: the tests make sure
none of that text reaches anything returned to a student.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent / "05_n"

HIDDEN_XOR = ("assert XOR(0, 1) == 1, 'XOR(0, 1) は 1 になるはずです'\n"
              "### BEGIN HIDDEN TESTS\n"
              "for a in (0, 1):\n"
              "    for b in (0, 1):\n"
              "        assert XOR(a, b) == (a ^ b), f'secret-xor-check {a} {b}'\n"
              "### END HIDDEN TESTS")


def _nbg(cell, **meta):  # type: ignore[no-untyped-def]
    cell.metadata["nbgrader"] = {"schema_version": 3, "task": False, **meta}
    return cell


def build() -> nbformat.NotebookNode:
    cells = [
        _nbg(new_markdown_cell("# 05_n 論理ゲートと足し算 (隠しテストのテスト用)"), grade=False,
             solution=False, locked=True, grade_id="intro"),
        _nbg(new_code_cell(
            "def AND(a, b):\n    ### BEGIN SOLUTION\n    return int(a + b > 1)\n"
            "    ### END SOLUTION\n\n"
            "def XOR(a, b):\n    ### BEGIN SOLUTION\n    return int(a + b == 1)\n"
            "    ### END SOLUTION\n\n"
            "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION"),
             grade=False, solution=True, locked=False, grade_id="answer"),
        _nbg(new_code_cell("assert AND(1, 1) == 1 and AND(0, 1) == 0, 'AND の真理値表'"),
             grade=True, solution=False, locked=True, grade_id="test_and", points=1),
        _nbg(new_code_cell(HIDDEN_XOR), grade=True, solution=False, locked=True,
             grade_id="test_xor", points=2),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


if __name__ == "__main__":
    nbformat.write(build(), HERE / "05_n.ipynb")
