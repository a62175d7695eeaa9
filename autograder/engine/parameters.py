"""Grading parameters as a papermill-style ``injected-parameters`` cell.

The manifest's ``[grading]`` values (with ``--param`` overrides on top) go into one code
cell right after the notebook's ``parameters`` cell (or first); earlier injected cells are
removed, so a student cannot pre-set them.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import keyword
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..core import nbapi
from ..core.errors import ConfigError
from ..core.i18n import Lang, tr
from .restore import INJECTED_TAG, PARAMETERS_TAG, _ensure_unique_ids, cell_tags

if TYPE_CHECKING:
    from nbformat import NotebookNode


def inject_parameters(nb: NotebookNode, params: Mapping[str, bool | int | float | str],
                      *, lang: Lang | None = None) -> NotebookNode:
    """A copy of ``nb`` with a papermill-style ``injected-parameters`` cell for ``params``.

    Earlier injected cells are removed; with no ``params`` none is added. Raises
    ``ConfigError`` for a name that is not a Python identifier or a value that is not
    ``bool``/``int``/``float``/``str``.
    """
    lines = ["# Parameters (injected by autograder for grading)"]
    lines += [f"{name} = {_literal(name, value, lang)}" for name, value in params.items()]
    out = copy.deepcopy(nb)
    out.cells = [c for c in out.cells if INJECTED_TAG not in cell_tags(c)]
    if params:
        at = next((i + 1 for i, c in enumerate(out.cells) if PARAMETERS_TAG in cell_tags(c)), 0)
        cell = nbapi.new_code_cell(source="\n".join(lines) + "\n",
                                   metadata={"tags": [INJECTED_TAG]})
        out.cells.insert(at, cell)
        _ensure_unique_ids(out)
    return out


def _literal(name: str, value: Any, lang: Lang | None) -> str:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ConfigError(
            tr(lang, ja=f"パラメータ名 {name!r} は Python の変数名ではありません",
               en=f"parameter name {name!r} is not a Python identifier"),
            where="[grading]", hint=tr(lang, ja="manifest の [grading] を直してください",
                                       en="fix the manifest's [grading] table"))
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    if isinstance(value, (bool, int, float, str)):
        return repr(value)
    raise ConfigError(
        tr(lang, ja=f"パラメータ {name} の値は真偽値・数値・文字列のどれかにしてください",
           en=f"parameter {name} must be a boolean, number or string"),
        where=f"[grading] {name}", hint=tr(lang, ja="manifest の [grading] を直してください",
                                           en="fix the manifest's [grading] table"))


def parameter_values(source_nb: NotebookNode, params: Mapping[str, Any]) -> dict[str, Any]:
    """The grading run's parameters as the grader knows them: every plain ``NAME = literal``
    of the *source* notebook's ``parameters`` cell, with ``params`` (the manifest's
    ``[grading]`` and ``--param``) on top. Test cells read these instead of the kernel's
    globals, which a student's later cell can rebind (``TRAIN_SUBSET = 10000``)."""
    values: dict[str, Any] = {}
    for cell in source_nb.cells:
        if cell.get("cell_type") == "code" and PARAMETERS_TAG in cell_tags(cell):
            values.update(_literals(cell.source))
    values.update(params)
    return values


def _literals(text: str) -> dict[str, Any]:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return {}
    out: dict[str, Any] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 \
                and isinstance(stmt.targets[0], ast.Name):
            with contextlib.suppress(ValueError, TypeError, SyntaxError, RecursionError):
                out[stmt.targets[0].id] = ast.literal_eval(stmt.value)
    return out
