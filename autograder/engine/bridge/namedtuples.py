"""What ``collections.namedtuple`` generates for a statement's text, computed grader-side.

A namedtuple's methods (``__new__``, ``_make``, ``__repr__`` ...) are generated code with
no text in the notebook, so code identity would take a ``Cache = namedtuple("Cache", "h
y")`` or a ``class Cache(NamedTuple)`` for code of unknown origin. The grader builds the
same namedtuple from the text's literal field names and fingerprints its methods: only
those exact codes count as generated (``code_identity``), nothing a kernel merely names so.
"""

from __future__ import annotations

import ast
import collections
from functools import lru_cache

from .kernel_code import ag_code
from .notebook_source import NotebookSource

# the methods collections.namedtuple gives a class (typing.NamedTuple goes through it)
NAMEDTUPLE_MADE = frozenset({"__new__", "__repr__", "__getnewargs__", "_make", "_replace",
                             "_asdict"})
_FACTORIES = {"collections.namedtuple", "typing.NamedTuple", "typing_extensions.NamedTuple"}


def namedtuple_codes(notebook: NotebookSource, node: ast.stmt) -> frozenset[str]:
    """Fingerprints of the methods ``collections.namedtuple`` makes for the namedtuple
    ``node``'s text builds; empty where it builds none, or its fields are not literal."""
    fields = _class_fields(notebook, node) if isinstance(node, ast.ClassDef) \
        else _call_fields(notebook, node)
    return _codes(fields) if fields is not None else frozenset()


@lru_cache(maxsize=256)
def _codes(fields: tuple[str, ...]) -> frozenset[str]:
    try:
        made = collections.namedtuple("made", fields)   # type: ignore[misc]
    except (TypeError, ValueError):
        return frozenset()
    return frozenset(str(ag_code().fingerprint(getattr(made, name).__code__))
                     for name in NAMEDTUPLE_MADE)


def _call_fields(notebook: NotebookSource, node: ast.stmt) -> tuple[str, ...] | None:
    """``namedtuple("C", "a b")``, ``namedtuple("C", ["a", "b"])`` or ``NamedTuple("C",
    [("a", T), ...])`` bound by an assignment."""
    value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
    if not (isinstance(value, ast.Call) and _is_factory(notebook, value.func)):
        return None
    spec = value.args[1] if len(value.args) > 1 else next(
        (k.value for k in value.keywords if k.arg in ("field_names", "fields")), None)
    if isinstance(spec, ast.Constant) and isinstance(spec.value, str):
        return tuple(spec.value.replace(",", " ").split())
    if isinstance(spec, (ast.List, ast.Tuple)):
        names = [_field_name(item) for item in spec.elts]
        return tuple(n for n in names if n is not None) if None not in names else None
    return None


def _field_name(item: ast.expr) -> str | None:
    if isinstance(item, (ast.List, ast.Tuple)) and item.elts:   # ("a", T) of NamedTuple
        item = item.elts[0]
    return item.value if isinstance(item, ast.Constant) and isinstance(item.value, str) \
        else None


def _class_fields(notebook: NotebookSource, node: ast.ClassDef) -> tuple[str, ...] | None:
    """``class C(NamedTuple)``'s fields: its annotated names, in order."""
    if not any(_is_factory(notebook, base) for base in node.bases):
        return None
    return tuple(item.target.id for item in node.body
                 if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name))


def _is_factory(notebook: NotebookSource, func: ast.expr) -> bool:
    """``namedtuple``/``NamedTuple`` as the notebook imported it (``from collections
    import namedtuple``, ``collections.namedtuple``, ``typing.NamedTuple``)."""
    if isinstance(func, ast.Name):
        return notebook.origin(func.id) in _FACTORIES
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return f"{notebook.origin(func.value.id)}.{func.attr}" in _FACTORIES
    return False


__all__ = ["NAMEDTUPLE_MADE", "namedtuple_codes"]
