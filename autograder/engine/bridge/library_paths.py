"""The library objects a notebook's texts read, compared with the grader's own.

A text that calls ``torch.abs(u)`` says it computes an absolute value only while
``torch.abs`` is torch's ``abs``. Reflection the text does not show can change that for
the whole run: ``exec("torch.abs = torch.sigmoid")``, ``exec("torch.Tensor.__pos__ =
torch.Tensor.sigmoid")`` (then ``+u`` is a sigmoid), a fake module put into
``sys.modules`` before ``import torch``. Each turned a text that names no prohibited
function into one that runs it, and earned the "written from its formula" points.

So the ``codes`` request also names every dotted library path the texts read
(``text_paths``: attribute chains from a name the text binds to a library object, with
every prefix; where torch is imported, ``torch.Tensor``'s methods and operators the texts
use on values), and the kernel answers what each leads to (``ag_code.path_prints``:
module and class dictionaries only, no student code runs). The grader resolves the same
paths in its own process, whose libraries no student code touched (``grader_print``),
and a path whose answers differ is *swapped*: a text reading it is not what runs
(``CodeIdentity.runs_text``), and a name bound to it no longer holds its origin
(``CodeIdentity.holds_origin``). Where either side cannot resolve a path, or the
grader's side is a Python function, a class or data (``COMPARED``: torch rewraps some of
its Python functions as it runs), nothing is compared.

Like every answer of the kernel's, this only takes texts away.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import sys
from collections.abc import Iterable, Mapping
from functools import lru_cache

from .kernel_code import ag_code
from .notebook_source import RUN_TIME, NotebookSource

TENSOR = "torch.Tensor"
# packages the grader may import to read its own side (an import runs the package's code
# in the grader's process: never a name the student picks beyond these)
IMPORTABLE = frozenset({"torch", "torchvision", "numpy", "scipy", "math", "cmath",
                        "operator", "functools", "itertools", "statistics", "random"})
# what a library path may lead to for it to be compared: a module, a C function or type,
# another C-typed callable (numpy's dispatchers, Cython functions). Not a Python function
# or class: torch rewraps some as it runs (``torch.manual_seed`` once ``torch._dynamo`` is
# imported, an optimizer class's ``step`` when one is made), so the kernel's and the
# grader's legitimately differ; nor data (a constant, ``sys.stdout``), which may differ too
COMPARED = ("module:", "native:", "ctype:", "object:")
_BINARY = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "truediv",
           ast.FloorDiv: "floordiv", ast.Mod: "mod", ast.Pow: "pow", ast.MatMult: "matmul",
           ast.BitAnd: "and", ast.BitOr: "or", ast.BitXor: "xor", ast.LShift: "lshift",
           ast.RShift: "rshift"}
_UNARY = {ast.USub: "__neg__", ast.UAdd: "__pos__", ast.Invert: "__invert__"}
_COMPARE = {ast.Lt: "__lt__", ast.LtE: "__le__", ast.Gt: "__gt__", ast.GtE: "__ge__",
            ast.Eq: "__eq__", ast.NotEq: "__ne__"}
# built-ins that call a value's own method
_BUILTIN_HOOKS = {"abs": "__abs__", "float": "__float__", "int": "__int__", "bool": "__bool__",
                  "len": "__len__", "iter": "__iter__", "round": "__round__",
                  "pow": "__pow__", "max": "__iter__", "min": "__iter__", "sum": "__iter__"}


def text_paths(notebook: NotebookSource, node: ast.AST) -> set[str]:
    """The dotted library paths ``node``'s text reads."""
    found: set[str] = set()
    tensors = _imports_torch(notebook)
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
            found |= _prefixes(_origin(notebook, n.id))
        elif isinstance(n, ast.Attribute):
            chain, root = _chain(n)
            origin = _origin(notebook, root) if root is not None else None
            if origin is not None:
                found.add(f"{origin}.{chain}")
            elif tensors:
                found.add(f"{TENSOR}.{n.attr}")
        if tensors:
            found |= {f"{TENSOR}.{m}" for m in _operators(n)}
    return found


def origin_prefixes(origin: str | None) -> set[str]:
    """The paths a name bound to ``origin`` depends on (``torch.nn.functional.relu``:
    ``torch``, ``torch.nn`` ... itself)."""
    return _prefixes(origin)


def request_paths(notebook: NotebookSource, names: Iterable[str],
                  origins: Mapping[str, str]) -> list[str]:
    """Every path the ``codes`` request asks about: those the texts of ``names`` read,
    and those ``origins`` lead through."""
    found: set[str] = set()
    for name in names:
        node = notebook.statement(name)
        if node is not None:
            found |= text_paths(notebook, node)
    for origin in origins.values():
        found |= _prefixes(origin)
    return sorted(found)


def swapped(kernel: Mapping[str, object], intercepted: bool = False,
            asked: Iterable[str] = ()) -> frozenset[str]:
    """The paths whose kernel answer differs from what they lead to here; every torch
    path where a torch mode could run other code on each call (``intercepted``); and
    those ``asked`` that the answer leaves out (beyond the kernel's ``_MAX_PATHS``: a
    text padded with thousands of paths has them unchecked, so not what runs)."""
    found = {p for p in kernel if p == "torch" or p.startswith("torch.")} if intercepted \
        else set()
    found |= set(asked) - set(kernel)
    for path, theirs in kernel.items():
        if not isinstance(theirs, str):
            continue
        ours = grader_print(path, kernel_module=_module_name(theirs))
        if ours is not None and ours.startswith(COMPARED) and ours != theirs:
            found.add(path)
    return frozenset(found)


@lru_cache(maxsize=4096)
def grader_print(path: str, *, kernel_module: str | None = None) -> str | None:
    """What ``path`` leads to in the grader's own process (``ag_code.library_print``);
    the top-level package of a module the kernel loaded is imported here first where it
    is one of ``IMPORTABLE`` (never a submodule the student names: some change global
    state as they are imported)."""
    package = (kernel_module or "").split(".")[0]
    if package in IMPORTABLE and package not in sys.modules:
        with contextlib.suppress(Exception):   # not installed here: nothing compared
            importlib.import_module(package)
    found = ag_code().path_prints([path]).get(path)
    return found if isinstance(found, str) else None


def _module_name(answer: str) -> str | None:
    """The module a ``module:`` answer names (``module:str:'scipy.special'``)."""
    head, _, rest = answer.partition(":")
    if head != "module" or not rest.startswith("str:"):
        return None
    with contextlib.suppress(ValueError, SyntaxError):
        value = ast.literal_eval(rest[len("str:"):])
        return value if isinstance(value, str) else None
    return None


def _origin(notebook: NotebookSource, name: str) -> str | None:
    origin = notebook.origin(name)
    return None if origin is None or origin == RUN_TIME else origin


def _prefixes(origin: str | None) -> set[str]:
    if not origin:
        return set()
    parts = origin.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def _chain(node: ast.Attribute) -> tuple[str, str | None]:
    """``nn.functional.relu`` -> (``functional.relu``, ``nn``); the root is None where
    the chain does not start at a name read (``f(x).sum``)."""
    parts: list[str] = []
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        parts.append(current.attr)
        current = current.value
    if isinstance(current, ast.Name) and isinstance(current.ctx, ast.Load):
        return ".".join(reversed(parts)), current.id
    return "", None


def _operators(node: ast.AST) -> set[str]:
    """The methods of a value an expression node calls (``u + 1``: ``__add__``, and the
    other side's ``__radd__``)."""
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        op = _BINARY[type(node.op)]
        return {f"__{op}__", f"__r{op}__"}
    if isinstance(node, ast.AugAssign) and type(node.op) in _BINARY:
        op = _BINARY[type(node.op)]
        return {f"__i{op}__", f"__{op}__", f"__r{op}__"}
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return {_UNARY[type(node.op)]}
    if isinstance(node, ast.Compare):
        return {_COMPARE[type(op)] for op in node.ops if type(op) in _COMPARE}
    if isinstance(node, ast.Subscript):
        return {"__getitem__" if isinstance(node.ctx, ast.Load) else "__setitem__"}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id in _BUILTIN_HOOKS:
        return {_BUILTIN_HOOKS[node.func.id]}
    return set()


def _imports_torch(notebook: NotebookSource) -> bool:
    return any(o == "torch" or o.startswith("torch.") for o in notebook.origins().values())


__all__ = ["IMPORTABLE", "TENSOR", "grader_print", "origin_prefixes", "request_paths",
           "swapped", "text_paths"]
