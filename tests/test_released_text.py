"""``released_texts`` gives every cell the text nbgrader's own ClearSolutions and
ClearHiddenTests give it (the grader compares students' locked cells with it, and
``autograder release`` runs nbgrader's preprocessors): on every source notebook of the
repository, on a table of edge cases, and on generated cells (seeded), errors included."""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat import NotebookNode

from autograder.core.released_text import CODE_STUBS, released_texts

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted({*ROOT.glob("assignments/*/*.ipynb"), *ROOT.glob("bench/assignments/*/*.ipynb"),
                  *ROOT.glob("tests/assignments/*/*.ipynb"),
                  *ROOT.glob("templates/new_assignment/*.ipynb")})


def nbgrader_texts(source: NotebookNode) -> list[str] | type[Exception]:
    """What nbgrader's preprocessors make of ``source`` (or the error type they raise)."""
    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

    nb = copy.deepcopy(source)
    try:
        nb, resources = ClearSolutions().preprocess(nb, {})
        nb, _ = ClearHiddenTests().preprocess(nb, resources)
    except (RuntimeError, ValueError) as exc:
        return type(exc)
    return [cell.source for cell in nb.cells]


def ours(source: NotebookNode) -> list[str] | type[Exception]:
    try:
        return released_texts(source)
    except (RuntimeError, ValueError) as exc:
        return type(exc)


def notebook(cells: list[tuple[str, str, dict[str, Any] | None]],
             language: str | None = "python") -> NotebookNode:
    nb = nbformat.v4.new_notebook()
    if language is not None:
        nb.metadata["kernelspec"] = {"name": "x", "display_name": "x", "language": language}
    for kind, text, flags in cells:
        make = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell,
                "raw": nbformat.v4.new_raw_cell}[kind]
        cell = make(text)
        if flags is not None:
            cell.metadata["nbgrader"] = {"grade_id": f"c{len(nb.cells)}", "points": 1,
                                         **flags}
        nb.cells.append(cell)
    return nb


def test_the_repository_has_sources() -> None:
    assert len(SOURCES) >= 10


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_source_notebook_as_nbgrader_releases_it(path: Path) -> None:
    source = nbformat.read(path, as_version=4)
    expected = nbgrader_texts(source)
    assert isinstance(expected, list)
    assert ours(source) == expected


SOLUTION = {"solution": True, "grade": False}
ANSWER_GRADED = {"solution": True, "grade": True}
TEST = {"solution": False, "grade": True}
LOCKED = {"solution": False, "grade": False, "locked": True}
BODY = "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n"
S, E = "### BEGIN SOLUTION", "### END SOLUTION"
HS, HE = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
# name: (cell type, text, nbgrader flags or None, kernel language or None)
CASES: dict[str, tuple[str, str, dict[str, Any] | None, str | None]] = {
    "region indented": ("code", BODY, SOLUTION, "python"),
    "region with tabs": ("code", f"if x:\n\t{S}\n\ty = 1\n\t{E}", SOLUTION, "python"),
    "unicode space indent": ("code", f"\u3000{S}\nx\n{E}", SOLUTION, "python"),
    "two regions": ("code", BODY + "\n" + BODY, SOLUTION, "python"),
    "no region: whole stub": ("code", "x = 1", SOLUTION, "python"),
    "markdown answer": ("markdown", "My answer", ANSWER_GRADED, "python"),
    "markdown region": ("markdown", "a\n=== BEGIN SOLUTION\nb\n=== END SOLUTION\nc",
                        SOLUTION, "python"),
    "raw solution": ("raw", "text", SOLUTION, "python"),
    "both markers on one line": ("code", "x # BEGIN SOLUTION END SOLUTION\ny", SOLUTION,
                                 "python"),
    "end without begin": ("code", f"a\n{E}\nb", SOLUTION, "python"),
    "nested": ("code", f"{S}\n{S}\n{E}", SOLUTION, "python"),
    "unterminated": ("code", f"{S}\nx", SOLUTION, "python"),
    "region in locked cell": ("code", BODY, LOCKED, "python"),
    "region in unmarked cell": ("code", BODY, None, "python"),
    "hidden tests": ("code", f"assert f(1)\n{HS}\nassert f(2)\n{HE}\nprint()", TEST, "python"),
    "hidden tests nested": ("code", f"{HS}\n{HS}\n{HE}", TEST, "python"),
    "hidden tests open": ("code", f"{HS}\nassert 1", TEST, "python"),
    "hidden tests in a solution cell": ("code", f"{HS}\nx\n{HE}", SOLUTION, "python"),
    "hidden tests in graded answer": ("code", f"{S}\nx\n{E}\n{HS}\ny\n{HE}", ANSWER_GRADED,
                                      "python"),
    "no kernelspec": ("code", BODY, SOLUTION, None),
    "R notebook": ("code", BODY, SOLUTION, "R"),
    "java notebook": ("code", "x", SOLUTION, "java"),
    "unknown language": ("code", "x", SOLUTION, "julia"),
    "CRLF lines": ("code", f"a\r\n{S}\r\nb\r\n{E}\r\nc", SOLUTION, "python"),
    "solution false as 0": ("code", BODY, {"solution": 0, "grade": 0}, "python"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_edge_cases_as_nbgrader(name: str) -> None:
    kind, text, flags, language = CASES[name]
    source = notebook([(kind, text, flags)], language)
    assert ours(source) == nbgrader_texts(source)


_PIECES = ["### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS",
           "### END HIDDEN TESTS", "    ### BEGIN SOLUTION", "\t### END SOLUTION", "x = 1",
           "    return y", "", " ", "# BEGIN SOLUTION here END SOLUTION", "\u00a0pass"]
_FLAGS: list[dict[str, Any] | None] = [None, SOLUTION, ANSWER_GRADED, TEST, LOCKED,
                                       {"solution": True}, {"grade": True}]


@pytest.mark.parametrize("seed", range(40))
def test_generated_cells_as_nbgrader(seed: int) -> None:
    rng = random.Random(seed)
    cells = [(rng.choice(["code", "code", "markdown", "raw"]),
              "\n".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 7))),
              rng.choice(_FLAGS)) for _ in range(rng.randint(1, 4))]
    language = rng.choice([*CODE_STUBS, None])
    # one cell at a time too, so one refusal does not hide how the other cells go
    for one in [[cell] for cell in cells] + [cells]:
        source = notebook(one, language)
        assert ours(source) == nbgrader_texts(source), one


def test_a_kernelspec_that_is_no_mapping_reads_as_python() -> None:
    # nbgrader fails on it (AttributeError); release refuses such a source, and grading
    # reads it as the default language rather than crash
    source = notebook([("code", BODY, SOLUTION)], None)
    source.metadata["kernelspec"] = None
    assert released_texts(source) == ["def f(x):\n    # YOUR CODE HERE\n    "
                                      "raise NotImplementedError()\n"]
