"""Building blocks for the hostile corpus: 13_n submissions written as a student would.

``student(...)`` starts from the released 13_n (what students download), fills answer
cells with the honest solution or with attack code, inserts extra cells, and puts the
``expect:`` header (README.md) on top. Every path or port an attack aims at comes from
the grading parameters the corpus test injects (``AG_PORT``, ``AG_CANARY``, ...), read
with ``globals().get`` so that the notebook also runs without them.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
ASSIGNMENT = "13_n"
FULL_SCORE = 28
ANSWERS = ("sol_step", "sol_perceptron", "sol_gates", "sol_xor", "sol_activations",
           "sol_softmax", "sol_cross_entropy")
COMMENT = "XOR を NAND・OR・AND の 2 層で作れるのが面白かったです。"


def _source() -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "assignments" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)


def _released() -> nbformat.NotebookNode:
    from autograder.core.config import load_assignment
    from autograder.authoring.release import student_version

    assignment = load_assignment(ASSIGNMENT, ROOT / "assignments")
    return student_version(_source(), assignment=assignment)


def _grade_id(cell: nbformat.NotebookNode) -> str | None:
    gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return gid if isinstance(gid, str) else None


def solution(grade_id: str) -> str:
    """The honest answer: the source's solution cell without nbgrader's markers."""
    cell = next(c for c in _source().cells if _grade_id(c) == grade_id)
    return "\n".join(line for line in cell.source.splitlines()
                     if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line)


def honest(*grade_ids: str) -> dict[str, str]:
    return {gid: solution(gid) for gid in grade_ids}


def student(*, category: str, what: str, expect: dict[str, object],
            answers: dict[str, str] | None = None, before: tuple[str, ...] = (),
            after: tuple[str, ...] = (), comment: str | None = None
            ) -> nbformat.NotebookNode:
    """The released 13_n with ``answers`` (by grade_id), ``before`` cells right after
    the imports, ``after`` cells at the end, and the comment cell answered if given."""
    nb = _released()
    for cell in nb.cells:
        gid = _grade_id(cell)
        if answers and gid in answers:
            cell.source = answers[gid]
        if gid == "comments" and comment is not None:
            cell.source = comment
    at = 2  # after the intro and the import cell
    nb.cells[at:at] = [new_code_cell(code) for code in before]
    nb.cells += [new_code_cell(code) for code in after]
    header = (f"**hostile** · {category} · {what}\n\n"
              f"expect: {json.dumps(expect, ensure_ascii=False)}")
    nb.cells.insert(0, new_markdown_cell(header))
    return nb


def write_all(notebooks: dict[str, nbformat.NotebookNode]) -> None:
    for name, nb in notebooks.items():
        nbformat.write(nb, HERE / f"{name}.ipynb")


def expectation(path: Path) -> dict[str, object]:
    """The ``expect:`` header of a corpus notebook."""
    nb = nbformat.read(path, 4)
    for line in nb.cells[0].source.splitlines():
        if line.startswith("expect:"):
            found = json.loads(line.removeprefix("expect:"))
            if isinstance(found, dict):
                return found
    raise ValueError(f"{path.name}: no expect: line in its first cell")
