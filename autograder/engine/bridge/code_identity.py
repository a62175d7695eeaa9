"""Does a name run the code its notebook text defines?

Structure checks read a definition's text from the notebook (``notebook_source``); the
behaviour checks call the kernel's object. Reflection the text does not show (``exec``,
``globals()[...] = ...``, ``f.__code__ = ...`` through a helper, replaced defaults, an
input transformer that rewrites later cells, a cell stopped before its decoy) makes the
two differ. So the grader compiles each text it reads itself and asks the kernel once per
submission (the bridge's ``codes`` request, answered by ``sandbox_files/ag_code.py``)
for fingerprints of what every name holds; a text whose code is not what its name runs
has no text (``Submission.source`` raises ``SourceUnavailable``).

What is compared, by the kind of text:

- ``def f``: ``f`` is a function with exactly the text's code, the notebook's globals
  and the text's literal defaults; under a transparent decorator (``@torch.no_grad()``)
  the text's code must be inside the wrapper;
- ``class C``: ``C`` is a class whose own methods are exactly the text's;
- ``f = lambda ...``: a function with that lambda's code;
- ``x = factory(...)``, ``x = partial(g, ...)``, ``x = {...}``: every piece of Python code
  reachable inside the object (its function, a partial's function, an instance's
  methods, container elements) was compiled from this statement or from the texts of the
  names it uses (followed a few steps), and the object is not C code.

The fingerprint is one definition (``ag_code.fingerprint``, loaded here by path). The
kernel's answer only ever takes a text away: a kernel that lies here keeps at most what
its text already earns. No answer (a dead kernel, a malformed answer) takes every text
away; an answer from another Python version (bytecode not comparable) takes none.
"""

from __future__ import annotations
import __future__ as future_statements

import ast
import importlib.util
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

from ...core.errors import BridgeError
from .notebook_source import NotebookSource, assignment_pairs

_AG_CODE = Path(__file__).resolve().parents[1] / "kernel" / "sandbox_files" / "ag_code.py"
_KINDS = frozenset({"function", "class", "native", "data"})
_FOLLOW_STEPS = 6         # names followed from a statement to the texts it uses
_MAX_TEXTS = 200
_MAX_CODES = 5_000
_FLAG_SETS = (0, future_statements.annotations.compiler_flag)   # a cell may inherit the future
_AWAIT = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
_KEYWORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")   # ``name=literal``; literals start ``int:``


@lru_cache(maxsize=1)
def ag_code() -> ModuleType:
    """The kernel's fingerprint module, loaded from its file (one definition)."""
    spec = importlib.util.spec_from_file_location("autograder_ag_code", _AG_CODE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class LiveCode:
    """What the kernel says one name holds (``ag_code.describe``), checked for form."""

    kind: str
    codes: frozenset[str]
    own_globals: bool
    code: str | None = None
    defaults: tuple[str, ...] = ()
    methods: tuple[tuple[str, str], ...] = ()


def parse_answer(raw: Any, names: list[str]) -> tuple[str, dict[str, LiveCode | None]]:
    """The ``codes`` answer as ``(python cache tag, {name: LiveCode or None})``;
    ``BridgeError`` for anything not of that form."""
    if not (isinstance(raw, dict) and set(raw) == {"python", "names"}
            and isinstance(raw["python"], str) and isinstance(raw["names"], dict)
            and set(raw["names"]) <= set(names)):
        raise BridgeError("malformed codes answer from the kernel")
    return raw["python"], {n: None if v is None else _live(v) for n, v in raw["names"].items()}


def _live(node: Any) -> LiveCode:
    if not (isinstance(node, dict) and node.get("kind") in _KINDS
            and _strings(node.get("codes")) and isinstance(node.get("own_globals"), bool)
            and _strings(node.get("defaults", [])) and isinstance(node.get("code", ""), str)
            and isinstance(node.get("methods", []), list)
            and all(isinstance(m, list) and len(m) == 2 and _strings(m)
                    for m in node.get("methods", []))):
        raise BridgeError("malformed code description from the kernel")
    return LiveCode(node["kind"], frozenset(node["codes"]), node["own_globals"],
                    node.get("code"), tuple(node.get("defaults", [])),
                    tuple((m[0], m[1]) for m in node.get("methods", [])))


def _strings(value: Any) -> bool:
    return isinstance(value, list) and len(value) <= _MAX_CODES \
        and all(isinstance(v, str) and len(v) <= 300 for v in value)


class CodeIdentity:
    """The notebook's texts compiled here, compared with the kernel's live objects."""

    def __init__(self, notebook: NotebookSource, live: Mapping[str, LiveCode | None] | None):
        """``live``: the kernel's answer; None where it cannot be compared (another
        Python's bytecode), and then every text stands."""
        self.notebook = notebook
        self.live = live
        self._compiled: dict[int, list[CodeType]] = {}

    def runs_text(self, name: str) -> bool:
        if self.live is None:
            return True
        node = self.notebook.statement(name)
        live = self.live.get(name)
        if node is None or live is None:
            return False
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return self._function(node, live)
        if isinstance(node, ast.ClassDef):
            return live.kind == "class" and live.own_globals \
                and dict(live.methods) in self._methods(node)
        return self._assignment(node, name, live)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, live: LiveCode) -> bool:
        own = {fingerprint(c) for c in self._own(node, node.name)}
        if node.decorator_list:      # a transparent wrapper: the text's code is inside
            return bool(own & live.codes)
        return live.kind == "function" and live.code in own and live.own_globals \
            and _defaults_match(node.args, live.defaults)

    def _assignment(self, node: ast.stmt, name: str, live: LiveCode) -> bool:
        targets: list[ast.expr] = list(node.targets) if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign) else []
        value = getattr(node, "value", None)
        parts = dict(assignment_pairs(targets, value)) if value is not None else {}
        part = parts.get(name)
        if isinstance(part, ast.Lambda):
            lambdas = {fingerprint(c) for c in self._own(node, "<lambda>")}
            return live.kind == "function" and live.code in lambdas and live.own_globals \
                and _defaults_match(part.args, live.defaults)
        return live.kind != "native" and live.own_globals \
            and live.codes <= self._allowed(node)

    def _methods(self, node: ast.ClassDef) -> list[dict[str, str]]:
        """The class's own methods by name (``def``s, and lambdas bound in its body),
        as compiled under each flag set."""
        defs = {i.name for i in node.body if isinstance(i, (ast.FunctionDef, ast.AsyncFunctionDef))}
        lambdas = [name for item in node.body if isinstance(item, ast.Assign)
                   for name, part in assignment_pairs(list(item.targets), item.value)
                   if isinstance(part, ast.Lambda)]
        variants = []
        for body in self._own(node, node.name):
            # the class body's consts in source order: the last ``def`` of a name wins
            found = {c.co_name: fingerprint(c) for c in _consts(body) if c.co_name in defs}
            made = [fingerprint(c) for c in _consts(body) if c.co_name == "<lambda>"]
            if len(made) == len(lambdas):   # else a lambda elsewhere: not matched by name
                found.update(zip(lambdas, made, strict=True))
            variants.append(found)
        return variants

    def _allowed(self, node: ast.stmt) -> set[str]:
        """Fingerprints of every code in ``node`` and in the texts of the names it uses,
        followed a few steps (a factory's inner function, a class's methods, a helper)."""
        allowed: set[str] = set()
        queue, seen = [(node, 0)], {id(node)}
        while queue and len(seen) <= _MAX_TEXTS:
            current, steps = queue.pop()
            allowed |= {fingerprint(c) for c in _nested(self._compile(current))}
            for used in _names_used(current) if steps < _FOLLOW_STEPS else ():
                text = self.notebook.statement(used)
                if text is not None and id(text) not in seen:
                    seen.add(id(text))
                    queue.append((text, steps + 1))
        return allowed

    def _own(self, node: ast.stmt, name: str) -> list[CodeType]:
        """The code objects named ``name`` the statement creates at its top level (one
        per compiler-flag set)."""
        return [c for module in self._compile(node) for c in _consts(module)
                if c.co_name == name]

    def _compile(self, node: ast.stmt) -> list[CodeType]:
        if id(node) not in self._compiled:
            self._compiled[id(node)] = list(_compiled(node))
        return self._compiled[id(node)]


def _compiled(node: ast.stmt) -> Iterator[CodeType]:
    module = ast.Module(body=[node], type_ignores=[])
    for flags in _FLAG_SETS:
        for extra in (0, _AWAIT):
            try:
                # optimize=0: the kernel runs without -O (its environment is cleared)
                yield compile(module, "<notebook>", "exec", flags=flags | extra,
                              dont_inherit=True, optimize=0)
                break
            except (SyntaxError, ValueError):
                continue


def _consts(code: CodeType) -> list[CodeType]:
    return [c for c in code.co_consts if isinstance(c, CodeType)]


def _nested(codes: list[CodeType]) -> Iterator[CodeType]:
    stack = list(codes)
    while stack:
        code = stack.pop()
        yield code
        stack += _consts(code)


def _names_used(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def fingerprint(code: CodeType) -> str:
    return str(ag_code().fingerprint(code))


def _defaults_match(args: ast.arguments, live: tuple[str, ...]) -> bool:
    """The text's literal defaults are the live function's ("?" where the text's default
    is an expression the grader does not evaluate: any value matches it)."""
    positional = [d for d in live if not _KEYWORD.match(d)]
    keywords = [d for d in live if _KEYWORD.match(d)]
    wanted = [_literal(d) for d in args.defaults]
    wanted_kw = sorted((a.arg, _literal(d)) for a, d in
                       zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None)
    if len(positional) != len(wanted) or len(keywords) != len(wanted_kw):
        return False
    return all(w in ("?", got) for w, got in zip(wanted, positional, strict=True)) and all(
        got == f"{name}={w}" or (w == "?" and got.startswith(f"{name}="))
        for (name, w), got in zip(wanted_kw, keywords, strict=True))


def _literal(node: ast.expr) -> str:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return "?"
    return str(ag_code().literal(value))
