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
- ``f = C.m`` (``m`` a plain or static method of the notebook's class ``C``): ``f`` is a
  function with the code of ``m`` as compiled inside ``C``;
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
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import CodeType
from typing import Any

from ...core.errors import BridgeError
from .kernel_code import ag_code
from .library_paths import origin_prefixes, text_paths
from .namedtuples import NAMEDTUPLE_MADE, namedtuple_codes
from .notebook_source import NotebookSource, assignment_pairs

_KINDS = frozenset({"function", "class", "native", "data"})
_FOLLOW_STEPS = 6         # names followed from a statement to the texts it uses
_MAX_TEXTS = 200
_MAX_CODES = 5_000
_FLAG_SETS = (0, future_statements.annotations.compiler_flag)   # a cell may inherit the future
_AWAIT = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
# the methods ``dataclasses.dataclass`` may add to a class (generated code, no text)
DATACLASS_MADE = frozenset({"__init__", "__repr__", "__eq__", "__hash__", "__setattr__",
                            "__delattr__", "__lt__", "__le__", "__gt__", "__ge__",
                            "__getstate__", "__setstate__", "__replace__"})
_KEYWORD = re.compile(r"[^\W\d]\w*=")   # ``name=literal``; literals start ``int:``


@dataclass(frozen=True)
class LiveCode:
    """What the kernel says one name holds (``ag_code.describe``), checked for form."""

    kind: str
    codes: frozenset[str]
    foreign: frozenset[str]   # codes whose function runs over another module's globals
    code: str | None = None
    defaults: tuple[str, ...] = ()
    methods: tuple[tuple[str, str], ...] = ()
    same: bool | None = None  # a library-bound name: still that object (None: cannot tell)
    # the function's defaults its text gives as library objects: still those objects
    default_same: tuple[tuple[str, bool | None], ...] = ()

    @property
    def own_globals(self) -> bool:
        return not self.foreign

    @property
    def own_code(self) -> bool:
        """Some function inside runs over the notebook's globals (the notebook compiled
        it); not C code (``native:...``)."""
        return any(not c.startswith("native:") for c in self.codes - self.foreign)

    @property
    def natives(self) -> frozenset[str]:
        """The names of the C functions inside (``exp`` for a ``torch.exp`` held)."""
        mark = ag_code().NATIVE_FUNCTION
        return frozenset(c[len(mark):] for c in self.codes if c.startswith(mark))


@dataclass(frozen=True)
class LiveAnswer:
    """The kernel's ``codes`` answer: the Python that compiled its code, each name's
    code, the built-in names the run shadowed or replaced, and whether a trace function
    (which may rewrite any running function's locals) was left installed."""

    python: str
    names: Mapping[str, LiveCode | None]
    shadowed: frozenset[str] = frozenset()
    traced: bool = False
    paths: Mapping[str, str | None] = field(default_factory=dict)   # ``ag_code.path_prints``
    intercepted: bool = False   # a torch mode may run other code on every torch call


def parse_answer(raw: Any, names: list[str], paths: Sequence[str] = ()) -> LiveAnswer:
    """The ``codes`` answer, checked for form (``BridgeError`` otherwise)."""
    if not (isinstance(raw, dict)
            and set(raw) - {"paths", "intercepted"} == {"python", "names", "shadowed", "traced"}
            and isinstance(raw["python"], str) and isinstance(raw["names"], dict)
            and set(raw["names"]) <= set(names) and _strings(raw["shadowed"])
            and isinstance(raw["traced"], bool) and _prints(raw.get("paths", {}), paths)
            and isinstance(raw.get("intercepted", False), bool)):
        raise BridgeError("malformed codes answer from the kernel")
    return LiveAnswer(raw["python"],
                      {n: None if v is None else _live(v) for n, v in raw["names"].items()},
                      frozenset(raw["shadowed"]), raw["traced"], dict(raw.get("paths", {})),
                      raw.get("intercepted", False))


def _prints(value: Any, asked: Sequence[str]) -> bool:
    return isinstance(value, dict) and set(value) <= set(asked) and all(
        v is None or (isinstance(v, str) and len(v) <= 2_000) for v in value.values())


def _live(node: Any) -> LiveCode:
    if not (isinstance(node, dict) and node.get("kind") in _KINDS
            and _strings(node.get("codes")) and _strings(node.get("foreign"))
            and _strings(node.get("defaults", [])) and isinstance(node.get("code", ""), str)
            and isinstance(node.get("methods", []), list)
            and all(isinstance(m, list) and len(m) == 2 and _strings(m)
                    for m in node.get("methods", []))
            and _same(node.get("same"))
            and isinstance(node.get("default_same", {}), dict)
            and all(isinstance(k, str) and _same(v)
                    for k, v in node.get("default_same", {}).items())):
        raise BridgeError("malformed code description from the kernel")
    return LiveCode(node["kind"], frozenset(node["codes"]), frozenset(node["foreign"]),
                    node.get("code"), tuple(node.get("defaults", [])),
                    tuple((m[0], m[1]) for m in node.get("methods", [])), node.get("same"),
                    tuple(sorted(node.get("default_same", {}).items())))


def _same(value: Any) -> bool:
    return value is None or isinstance(value, bool)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and len(value) <= _MAX_CODES \
        and all(isinstance(v, str) and len(v) <= 300 for v in value)


class CodeIdentity:
    """The notebook's texts compiled here, compared with the kernel's live objects."""

    def __init__(self, notebook: NotebookSource, live: Mapping[str, LiveCode | None] | None,
                 *, traced: bool = False, shadowed: frozenset[str] = frozenset(),
                 swapped: frozenset[str] = frozenset()):
        """``live``: the kernel's answer; None where it cannot be compared (another
        Python's bytecode), and then every text stands. ``traced``: a trace function
        was left installed, and no text is what runs. ``shadowed``: built-in names the
        run shadowed or replaced (``Submission.origin``). ``swapped``: library paths
        that lead elsewhere in the kernel than here (``library_paths``)."""
        self.notebook = notebook
        self.live = live
        self.traced = traced
        self.shadowed = shadowed
        self.swapped = swapped
        self.stored = notebook.stored_library_paths()   # the text's own, kernel or not
        self._compiled: dict[int, list[CodeType]] = {}

    def holds_origin(self, name: str) -> bool:
        """Whether ``name``, which the text binds to a library object (``exp =
        torch.exp``, ``from torch import exp``), still holds it: not something the run
        put there instead (``globals()["exp"] = lambda v: ...``, or another library
        function). No code the notebook compiled inside it, and the very object its
        dotted name leads to in the kernel's loaded modules where that can be read."""
        prefixes = origin_prefixes(self.notebook.origin(name))
        if self.traced or self._stored_into(prefixes):
            return False
        if self.live is None:
            return True
        live = self.live.get(name)
        if prefixes & self.swapped:
            return False
        return live is not None and not live.own_code and live.same is not False

    def runs_text(self, name: str) -> bool:
        node = self.notebook.statement(name)
        if self.traced:
            return False
        # the library paths the text reads: none assigned to by the notebook (whatever
        # the kernel says), none the run made lead elsewhere (``exec("torch.abs =
        # torch.sigmoid")``)
        paths = text_paths(self.notebook, node) if node is not None \
            and (self.stored or self.swapped) else set()
        if self._stored_into(paths):
            return False
        if self.live is None:
            return True
        live = self.live.get(name)
        if node is None or live is None or paths & self.swapped:
            return False
        owner = self.notebook.owner(name)
        if owner is not None and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return self._method(owner, node, live)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return self._function(node, live)
        if isinstance(node, ast.ClassDef):
            return live.kind == "class" and self._class_matches(node, dict(live.methods),
                                                                live.foreign)
        return self._assignment(node, name, live)

    def holds_list(self, name: str) -> bool:
        """Whether the live ``name`` is what its list display makes, whatever it holds
        now (``NotebookSource.holds_list``): no code of its own, as ``_assignment`` judges
        a data text (a list subclass swapped in by ``globals()`` runs its ``append``)."""
        node = self.notebook.list_statement(name)
        if self.traced or node is None:
            return False
        if self.live is None:
            return True
        live = self.live.get(name)
        return live is not None and self._assignment(node, name, live)

    def _stored_into(self, paths: set[str]) -> bool:
        """Whether any of ``paths`` is, or lies below, a library path the notebook
        assigns to (``F.relu = ...``): what the words name is not what runs."""
        return any(path == stored or path.startswith(f"{stored}.")
                   for path in paths for stored in self.stored)

    def _class_matches(self, node: ast.ClassDef, live: dict[str, str],
                       foreign: frozenset[str]) -> bool:
        """The live class's own methods are the text's, over the notebook's globals; a
        ``@dataclass`` also made the methods it generates (``__init__``, ``__repr__``
        ...) where the text has none, a ``NamedTuple`` exactly the ones the grader's
        namedtuple of the same fields has."""
        made = DATACLASS_MADE if node.decorator_list else frozenset()
        generated = {d for n, d in live.items() if n in made}
        namedtuple = self._namedtuple_made(node, live)
        return not (foreign - generated - namedtuple) and any(
            all(live.get(n) == d for n, d in text.items())
            and all(n in made or live[n] in namedtuple for n in set(live) - set(text))
            for text in self._methods(node))

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, live: LiveCode) -> bool:
        own = {fingerprint(c) for c in self._own(node, node.name)}
        if node.decorator_list:
            # a transparent wrapper (the library's: not a function of the notebook's
            # own) with the text's code inside
            return bool(own & live.codes) and not (live.kind == "function"
                                                   and live.own_globals)
        return live.kind == "function" and live.code in own and live.own_globals \
            and _defaults_match(node.args, live, lambda: self._allowed(node))

    def _method(self, owner: ast.ClassDef, node: ast.FunctionDef | ast.AsyncFunctionDef,
                live: LiveCode) -> bool:
        """``s = Act.sigmoid``: ``s`` is a function with the code of that method as
        compiled inside its class (its qualified name is ``Act.sigmoid``), over the
        notebook's globals, with the text's literal defaults."""
        codes = {m[node.name] for m in self._methods(owner) if node.name in m}
        return live.kind == "function" and live.code in codes and live.own_globals \
            and _defaults_match(node.args, live, lambda: self._allowed(owner))

    def _assignment(self, node: ast.stmt, name: str, live: LiveCode) -> bool:
        targets: list[ast.expr] = list(node.targets) if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign) else []
        value = getattr(node, "value", None)
        parts = dict(assignment_pairs(targets, value)) if value is not None else {}
        part = parts.get(name)
        if isinstance(part, ast.Lambda):
            lambdas = {fingerprint(c) for c in self._own(node, "<lambda>")}
            return live.kind == "function" and live.code in lambdas and live.own_globals \
                and _defaults_match(part.args, live, lambda: self._allowed(node))
        # what a ``@dataclass`` among the texts used generated is no text of anyone's
        generated = {d for n, d in live.methods if n in DATACLASS_MADE} \
            if self._uses_dataclass(node) else set()
        generated |= self._namedtuple_made(node, dict(live.methods))
        python = {c for c in live.codes if not c.startswith(ag_code().NATIVE_FUNCTION)}
        return live.kind != "native" and not (live.foreign - generated) \
            and python - generated <= self._allowed(node) \
            and (not live.natives or _all_named(live.natives, self._words(node)))

    def _namedtuple_made(self, node: ast.stmt, live: Mapping[str, str]) -> set[str]:
        """The live methods that are exactly what ``collections.namedtuple`` generates
        for the namedtuple ``node``'s text builds, or one whose class it names (``AND_P =
        Gate(w=..., threshold=...)``): computed grader-side."""
        codes = set(namedtuple_codes(self.notebook, node))
        for used in _names_used(node):
            text = self.notebook.statement(used)
            if text is not None and text is not node:
                codes |= namedtuple_codes(self.notebook, text)
        return {d for n, d in live.items() if n in NAMEDTUPLE_MADE and d in codes}

    def _uses_dataclass(self, node: ast.stmt) -> bool:
        return any(isinstance(text, ast.ClassDef) and text.decorator_list
                   for used in _names_used(node)
                   for text in [self.notebook.statement(used)])

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
        return {fingerprint(c) for current in self._reachable(node)
                for c in _nested(self._compile(current))}

    def _words(self, node: ast.stmt) -> set[str]:
        """The library functions those texts name: attributes read from a name without
        a text (``torch.exp``), and what such a name was imported or assigned as (its
        last part: ``exp`` for ``from torch import exp as e``), or a built-in's name.
        The C functions an object the statement made may hold (``{"f": torch.exp}``
        holds ``exp``); never a name of the student's own (``sigmoid``)."""
        found: set[str] = set()
        for current in self._reachable(node):
            for n in ast.walk(current):
                root = n
                while isinstance(root, ast.Attribute):
                    root = root.value
                if not isinstance(root, ast.Name) or not isinstance(root.ctx, ast.Load) \
                        or self.notebook.definition(root.id) is not None:
                    continue
                if isinstance(n, ast.Attribute):
                    found.add(n.attr)
                elif isinstance(n, ast.Name):
                    origin = self.notebook.origin(n.id) or n.id
                    found.add(origin.rsplit(".", 1)[-1])
        return found

    def _reachable(self, node: ast.stmt) -> list[ast.stmt]:
        """``node`` and the texts of the names it uses, followed a few steps."""
        found, queue, seen = [], [(node, 0)], {id(node)}
        while queue and len(seen) <= _MAX_TEXTS:
            current, steps = queue.pop()
            found.append(current)
            for used in _names_used(current) if steps < _FOLLOW_STEPS else ():
                text = self.notebook.statement(used)
                if text is not None and id(text) not in seen:
                    seen.add(id(text))
                    queue.append((text, steps + 1))
        return found

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


def _all_named(natives: frozenset[str], words: set[str]) -> bool:
    """Each C function is one the texts name (``special_expit`` is ``expit``'s)."""
    return all(any(n == w or n.endswith("_" + w) for w in words) for n in natives)


def _names_used(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def fingerprint(code: CodeType) -> str:
    return str(ag_code().fingerprint(code))


def _defaults_match(args: ast.arguments, live: LiveCode,
                    allowed: Callable[[], set[str]]) -> bool:
    """The text's literal defaults are the live function's. Where the text's default is
    an expression the grader does not evaluate ("?"), any value matches except a
    function that is not the text's: its code must come from the statement or the texts
    it uses (``allowed``), as for a factory's product; and a library object the text
    names (``_f=torch.exp``) must still be that object (``default_same``)."""
    if any(same is False for _, same in live.default_same):
        return False
    positional = [d for d in live.defaults if not _KEYWORD.match(d)]
    keywords = [d.partition("=") for d in live.defaults if _KEYWORD.match(d)]
    wanted = [_literal(d) for d in args.defaults]
    wanted_kw = sorted((a.arg, _literal(d)) for a, d in
                       zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None)
    if len(positional) != len(wanted) or [k for k, _, _ in keywords] != [k for k, _ in wanted_kw]:
        return False
    pairs = [*zip(wanted, positional, strict=True),
             *zip([w for _, w in wanted_kw], [v for _, _, v in keywords], strict=True)]
    return all(w == got or (w == "?" and (not got.startswith("code:")
                                          or got[len("code:"):] in allowed()))
               for w, got in pairs)


def _literal(node: ast.expr) -> str:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return "?"
    return str(ag_code().literal(value))
