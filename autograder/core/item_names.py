"""The names of graded items a manifest uses, checked against the checks that exist.

A graded item is a pytest check (``test_softmax_rows``), an in-notebook test cell
(``cell:<grade_id>``) or a cell graded by a person (``manual:<grade_id>``). The manifest
names items in ``[labels]``, ``[[questions]]`` and ``[cell_requires]``; a name no item
has is a typo the instructor must hear about before any student's result depends on it.
Cell names are checked against the notebook by ``engine.labels.check_named_cells``; the
names of pytest checks here, so that the checks runner (below the engine) can check them
without the engine.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from .config import Assignment
from .errors import ConfigError

CELL_PREFIXES = ("cell:", "manual:")


def named_items(assignment: Assignment) -> list[tuple[str, str]]:
    """``(item name, where in the manifest)`` of every name ``[labels]``,
    ``[[questions]]`` and ``[cell_requires]`` use."""
    out = [(name, "[labels]") for name in assignment.labels]
    for number, question in enumerate(assignment.questions, start=1):
        out += [(name, f"[[questions]] #{number}") for name in question.checks]
    for cell, checks in assignment.cell_requires.items():
        out += [(name, "[cell_requires]") for name in (cell, *checks)]
    return out


def check_named_checks(assignment: Assignment, known: Iterable[str]) -> None:
    """Raise ``ConfigError`` for a pytest check name the manifest uses that no check has
    (cell names are checked against the notebook: ``check_named_cells``)."""
    names = set(known)
    for name, where in named_items(assignment):
        if not name.startswith(CELL_PREFIXES) and name not in names:
            unknown_item(assignment, name, where, names,
                         "use the test function names from the tests/ folder, or "
                         "cell:<grade_id> / manual:<grade_id> for notebook cells")


def unknown_item(assignment: Assignment, name: str, where: str, known: set[str],
                 hint: str) -> None:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    if close:
        hint = f"did you mean {close[0]!r}? ({hint})"
    raise ConfigError(f"{where} names no graded item: {name!r}",
                      where=f"{assignment.manifest_path}: {where} {name}", hint=hint)
