"""The text nbgrader's release gives each cell of a source notebook, without nbgrader's
preprocessors.

``released_texts(source)`` is what ``ClearSolutions`` then ``ClearHiddenTests`` (nbgrader's
defaults, as ``autograder release`` runs them) leave in each cell: a ``BEGIN SOLUTION`` …
``END SOLUTION`` region becomes the stub, indented like the ``BEGIN`` line; a solution
cell without a region becomes the stub whole (code) or ``YOUR ANSWER HERE`` (text); a
``BEGIN HIDDEN TESTS`` … ``END HIDDEN TESTS`` region goes. Importing
``nbgrader.preprocessors`` imports nbgrader's server extensions, nbconvert and SQLAlchemy:
0.7 s of CPU in the grader and in every grading worker, before the first submission, for
two loops over lines. ``tests/test_released_text.py`` holds this to nbgrader's own
preprocessors on every source notebook of the repository and on the edge cases (nested and
unterminated regions, regions in cells not marked for them, markers sharing a line).

The messages of the errors are nbgrader's; the source checks (``source_check.py``) refuse
these notebooks with a clearer one first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .nbgrader import nbg

# ClearSolutions.code_stub's default: the stub by the notebook's kernel language.
CODE_STUBS = {
    "python": "# YOUR CODE HERE\nraise NotImplementedError()",
    "R": "# YOUR CODE HERE\nfail()",
    "matlab": "% YOUR CODE HERE\nerror('No Answer Given!')",
    "octave": "% YOUR CODE HERE\nerror('No Answer Given!')",
    "sas": "/* YOUR CODE HERE */\n %notImplemented;",
    "java": "// YOUR CODE HERE",
}
TEXT_STUB = "YOUR ANSWER HERE"
# nbgrader's default markers (source_check.py checks the regions with them too)
SOLUTION_MARKERS = ("BEGIN SOLUTION", "END SOLUTION")
HIDDEN_MARKERS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
# (the markers, nbgrader's words for a nested and an open region)
_SOLUTION = (*SOLUTION_MARKERS, "encountered nested begin solution statements",
             "no end solution statement found")
_HIDDEN = (*HIDDEN_MARKERS, "Encountered nested begin hidden tests statements",
           "No end hidden tests statement found")


def released_texts(source: Any) -> list[str]:
    """Each cell's released text, in order. Raises ``ValueError`` for a kernel language
    nbgrader has no stub for, ``RuntimeError`` for a region it would refuse."""
    kernelspec = source.metadata.get("kernelspec", {})
    language = kernelspec.get("language", "python") if isinstance(kernelspec, Mapping) \
        else "python"  # nbgrader would fail on it; release refuses such a source first
    if language not in CODE_STUBS:
        raise ValueError(f"language '{language}' has not been specified in "
                         "ClearSolutions.code_stub")
    return [released_text(cell, CODE_STUBS[language]) for cell in source.cells]


def released_text(cell: Any, code_stub: str) -> str:
    """One cell's text after ClearSolutions and ClearHiddenTests."""
    stub = code_stub if cell.cell_type == "code" else TEXT_STUB
    text, replaced = _cut(cell.source, _SOLUTION, stub.split("\n"))
    solution = nbg.is_solution(cell)
    if replaced and not solution:
        raise RuntimeError("Solution region detected in a non-solution cell; please make "
                           "sure all solution regions are within solution cells.")
    if solution and not replaced:
        text = stub
    text, removed = _cut(text, _HIDDEN, ())
    if removed and not nbg.is_grade(cell):
        raise RuntimeError("Hidden test region detected in a non-grade cell; please make "
                           "sure all solution regions are within 'Autograder tests' cells.")
    return text


def _cut(text: str, markers: tuple[str, str, str, str],
         stub: Sequence[str]) -> tuple[str, bool]:
    """``text`` with each region between the markers replaced by ``stub`` (indented as
    the line that opens it), and whether there was one. A line holding the opening marker
    opens a region whatever else it holds, as in nbgrader."""
    begin, end, nested, unclosed = markers
    kept: list[str] = []
    inside = found = False
    for line in text.split("\n"):
        if begin in line:
            if inside:
                raise RuntimeError(nested)
            inside = found = True
            indent = line[:len(line) - len(line.lstrip())]
            kept.extend(indent + stub_line for stub_line in stub)
        elif end in line:
            inside = False
        elif not inside:
            kept.append(line)
    if inside:
        raise RuntimeError(unclosed)
    return "\n".join(kept), found
