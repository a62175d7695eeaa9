"""Typed face of the nbformat calls the package makes.

nbformat ships ``py.typed`` but most of its functions carry no annotations, so under
``mypy --strict`` every call is an untyped call returning ``Any``. This module is the one
place that calls them: each wrapper passes its arguments through unchanged and gives the
result the type nbformat documents (a ``NotebookNode`` for notebooks and cells, ``str`` for
JSON text). Callers import these instead of ``nbformat`` itself.

nbformat is slow to import (jsonschema, fastjsonschema), so it is imported on the first
call, never when this module is imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nbformat import NotebookNode

__all__ = [
    "better_validation_error", "convert", "from_dict", "get_validator", "isvalid",
    "new_code_cell", "new_markdown_cell", "new_notebook", "new_output", "normalize",
    "random_cell_id",
    "read", "reads", "v3_to_notebook", "v4_to_notebook", "validate", "write", "writes",
]


def _nbformat() -> Any:
    """The nbformat module, typed ``Any``: its functions are unannotated, so their results
    are given their types by the wrappers below."""
    import nbformat  # its __init__ imports the v3, v4 and validator submodules used below

    return nbformat


# --- reading and writing ------------------------------------------------------------------

def reads(text: str, as_version: int = 4) -> NotebookNode:
    """``nbformat.reads``: the notebook in JSON ``text``, converted to ``as_version``."""
    nb: NotebookNode = _nbformat().reads(text, as_version=as_version)
    return nb


def read(source: str | Path | IO[str], as_version: int = 4) -> NotebookNode:
    """``nbformat.read``: the notebook in a file (path or open text file)."""
    nb: NotebookNode = _nbformat().read(source, as_version=as_version)
    return nb


def writes(nb: Mapping[str, Any]) -> str:
    """``nbformat.writes``: ``nb`` as JSON text (nbformat's layout)."""
    text: str = _nbformat().writes(nb)
    return text


def write(nb: Mapping[str, Any], dest: str | Path | IO[str]) -> None:
    """``nbformat.write``: ``nb`` to a file (path or open text file)."""
    _nbformat().write(nb, dest)


def validate(nb: Mapping[str, Any]) -> None:
    """``nbformat.validate``: raises ``nbformat.ValidationError`` if ``nb`` is invalid."""
    _nbformat().validate(nb)


def from_dict(data: Mapping[str, Any]) -> NotebookNode:
    """``nbformat.from_dict``: ``data`` (and every dict inside it) as ``NotebookNode``."""
    node: NotebookNode = _nbformat().from_dict(data)
    return node


def v4_to_notebook(obj: Mapping[str, Any]) -> NotebookNode:
    """nbformat 4's JSON reader applied to already parsed JSON ``obj``."""
    nb: NotebookNode = _nbformat().v4.nbjson.JSONReader().to_notebook(obj)
    return nb


def v3_to_notebook(obj: Mapping[str, Any]) -> NotebookNode:
    """nbformat 3's JSON reader applied to already parsed JSON ``obj``."""
    nb: NotebookNode = _nbformat().v3.nbjson.JSONReader().to_notebook(obj)
    return nb


def convert(nb: NotebookNode, to_version: int) -> NotebookNode:
    """``nbformat.convert``: ``nb`` converted to major version ``to_version``."""
    converted: NotebookNode = _nbformat().convert(nb, to_version)
    return converted


# --- building -------------------------------------------------------------------------------

def new_notebook(**fields: Any) -> NotebookNode:
    """``nbformat.v4.new_notebook``."""
    nb: NotebookNode = _nbformat().v4.new_notebook(**fields)
    return nb


def new_code_cell(source: str = "", **fields: Any) -> NotebookNode:
    """``nbformat.v4.new_code_cell``."""
    cell: NotebookNode = _nbformat().v4.new_code_cell(source, **fields)
    return cell


def new_markdown_cell(source: str = "", **fields: Any) -> NotebookNode:
    """``nbformat.v4.new_markdown_cell``."""
    cell: NotebookNode = _nbformat().v4.new_markdown_cell(source, **fields)
    return cell


def new_output(output_type: str, **fields: Any) -> NotebookNode:
    """``nbformat.v4.new_output``."""
    output: NotebookNode = _nbformat().v4.new_output(output_type, **fields)
    return output


def random_cell_id() -> str:
    """A fresh cell id, as ``nbformat.v4.new_*_cell`` makes them."""
    cell_id: str = _nbformat().v4.nbbase.random_cell_id()
    return cell_id


# --- schema validation ----------------------------------------------------------------------

def isvalid(obj: Mapping[str, Any]) -> bool:
    """``nbformat.validator.isvalid`` on parsed JSON ``obj``."""
    return bool(_nbformat().validator.isvalid(obj))


def normalize(obj: dict[str, Any], *, strip_invalid_metadata: bool = False,
              ) -> tuple[int, dict[str, Any]]:
    """``nbformat.validator.normalize``: (number of changes, the normalized notebook JSON)."""
    changes, normalized = _nbformat().validator.normalize(
        obj, strip_invalid_metadata=strip_invalid_metadata)
    result: tuple[int, dict[str, Any]] = (changes, normalized)
    return result


def get_validator(version: int, version_minor: int, name: str) -> Any:
    """``nbformat.validator.get_validator``: the schema validator (``None`` if unknown).

    Typed ``Any``: the validator object is whichever library ``name`` selects."""
    return _nbformat().validator.get_validator(version=version, version_minor=version_minor,
                                               name=name)


def better_validation_error(error: Any, version: int, version_minor: int) -> Any:
    """``nbformat.validator.better_validation_error``: a clearer form of ``error`` (a
    jsonschema ``ValidationError``, untyped here as in ``get_validator``)."""
    return _nbformat().validator.better_validation_error(error, version, version_minor)
