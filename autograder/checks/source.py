"""Structure from a function's text: what it and the helpers it calls are written with.

``submission.source(name)`` is the text of ``name``'s definition in the submitted
notebook, read by the grader; it is untrusted text, parsed with ``ast`` and never run
(docs/security.md, "Structure checks"). ``read_functions`` reads a function and,
transitively, every function it calls by a bare name whose text can be read (its
helpers), so a helper or an intermediate function is as good as a one-line answer; the
name helpers then say what those texts use::

    trees = source.read_functions(submission, "conv2d")
    used = sorted(source.library_names(trees) & {"conv2d", "correlate2d"})
    if used:
        fail(ja=f"conv2d では {', '.join(used)} を使わないでください", en=...)
"""

from __future__ import annotations

import ast
import builtins
import textwrap
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..engine.bridge.submission import SourceUnavailable, StudentError
from .outcomes import fail

if TYPE_CHECKING:
    from ..engine.bridge.submission import Submission

BUILTINS = frozenset(dir(builtins))
MAX_FUNCTIONS = 16


def parse(text: str) -> ast.Module | None:
    """``text`` parsed as it is, or dedented (a method's text); ``None`` if it is not
    Python."""
    for candidate in (text, textwrap.dedent(text)):
        try:
            return ast.parse(candidate)
        except (SyntaxError, ValueError):
            continue
    return None


def is_function(tree: ast.Module) -> bool:
    """A ``def`` or a lambda bound to a name (not a class or a module's source)."""
    first = tree.body[0] if tree.body else None
    return isinstance(first, (ast.FunctionDef, ast.AsyncFunctionDef)) or (
        isinstance(first, ast.Assign) and isinstance(first.value, ast.Lambda))


def read_functions(submission: Submission, name: str, *, skip: frozenset[str] = frozenset(),
                   limit: int = MAX_FUNCTIONS) -> dict[str, ast.Module]:
    """``name``'s text and its helpers', parsed, by function name (``name`` first, then in
    the order they are called, breadth first; at most ``limit`` of them).

    A helper is a function called by a bare name that is not a builtin or in ``skip``
    (functions judged by checks of their own); one whose text cannot be read is left out
    (library code, not the student's). ``name`` itself must be readable: a missing
    definition raises the bridge's error, a text that is not a function fails the check.
    """
    trees: dict[str, ast.Module] = {}
    queue, seen, lookups = [name], {name, *skip}, 0
    while queue and lookups < 2 * limit and len(trees) < limit:
        current = queue.pop(0)
        lookups += 1
        try:
            text = submission.source(current)
        except (StudentError, SourceUnavailable):
            if current == name:
                raise
            continue
        tree = parse(text)
        if tree is None or not is_function(tree):
            if current == name:
                fail(ja=f"{name} のコードを読み取れませんでした（def で定義してください）",
                     en=f"could not read {name}'s code (define it with def)")
            continue
        trees[current] = tree
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id not in seen and node.func.id not in BUILTINS:
                seen.add(node.func.id)
                queue.append(node.func.id)
    return trees


def names_read(trees: Mapping[str, ast.AST]) -> set[str]:
    """Every bare name these texts read or call (``forward`` in ``forward(X, p)``)."""
    return {n.id for t in trees.values() for n in ast.walk(t) if isinstance(n, ast.Name)}


def attribute_names(trees: Mapping[str, ast.AST]) -> set[str]:
    """Every attribute these texts name (``grad`` in ``torch.autograd.grad``)."""
    return {n.attr for t in trees.values() for n in ast.walk(t) if isinstance(n, ast.Attribute)}


def library_names(trees: Mapping[str, ast.AST]) -> set[str]:
    """What these texts may take from a library: every attribute named (``F.conv2d``,
    ``f = torch.conv2d``), the last part of every name imported inside them, and every
    function called by a bare name that is not one of ``trees`` (its text could not be
    read: not the student's own)."""
    used: set[str] = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                used.add(node.attr)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                used |= {alias.name.split(".")[-1] for alias in node.names}
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id not in trees:
                used.add(node.func.id)
    return used


__all__ = ["BUILTINS", "MAX_FUNCTIONS", "attribute_names", "is_function", "library_names",
           "names_read", "parse", "read_functions"]
