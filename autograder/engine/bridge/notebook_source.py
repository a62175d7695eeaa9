"""Definitions read from the submitted notebook's text, never from the kernel.

Structure checks ("XOR is built from the gates", "sigmoid is written from its formula")
need a function's source. Asking the kernel (``inspect.getsource``) returns whatever the
student's process chooses to say: a patched ``inspect``, a replaced bridge or a
``__wrapped__`` attribute serve decoys. So the grader parses the notebook it executed
(the student's cells after restore) with ``ast`` and takes, for each name, the last
top-level statement that binds it, as the notebook runs top to bottom:

- ``def name`` / ``async def name`` / ``class name`` — the definition's text;
- ``name = lambda ...``, ``name = factory(...)``, ``name = {...}`` / ``[...]`` /
  ``(...)`` — the assignment's text (also where the name is one part of
  ``a, b = lambda ..., factory(...)``: the whole statement's text);
- ``name = 0.7``, ``name = -1 / 255`` — a number (nothing in it could be a function);
- ``name = other`` — an alias, followed to ``other``'s definition (a few hops at most);
- ``name = Class.method`` — the method's ``def`` where ``Class`` is the notebook's plain
  class and the method is its own, undecorated or a ``@staticmethod`` (code identity
  then compares it with the method's code compiled inside its class);
- ``Class.method`` — the method's ``def`` inside the class's last definition.

Only straight-line top-level statements give a text, and only where that text is what
the name runs (docs/security.md, "Structure checks"): a binding inside an
``if``/``try``/``with``/``for``/``while``/``match`` block, in a cell that did not end
``ok``, by a loop or ``with`` target, a walrus, a capture, a function's ``global`` and
store of the name, or a later star import, a decorated ``def``/``class`` (but
``@torch.no_grad()``, ``@functools.lru_cache``, ``@dataclass``), a class that is not
plain, and a name changed in place anywhere (``f.__code__ = ...``, ``GATES["and"] = g``,
also through an alias) has none. Any other binding (an import, a call's result, a
subscript...) has no textual definition either: ``definition`` returns ``None`` and the
check says the source is not available; ``origin`` says what an import or ``s =
torch.sigmoid`` bound it to, for the checks that forbid library functions. Cells that do
not parse (even after IPython's own transformation of ``%magics`` and ``!shell`` lines)
define nothing, as in the kernel.

What this cannot see: a name rebound at run time through reflection (``globals()``,
``exec``...). The text then holds the decoy *and* the real code; the behaviour checks
test the running object, the structure checks the text (docs/security.md).

IPython's transformer rewrites one ``!``/``%``/``?`` line per pass over the whole cell
(at most 500 passes): 400 shell lines in a 20,000-line cell cost it two minutes, here in
the grader's own process. ``ipython_transform`` therefore runs it only where its
estimated work (lines times escape lines) is small, and a ``TransformBudget`` caps what
one notebook's cells may spend on it together; a cell beyond either counts as one
that does not parse. An honest cell (a few ``!pip`` or ``%matplotlib`` lines) is far
below both.
"""

from __future__ import annotations

import ast
import re
import textwrap
import time
from collections.abc import Container, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_ALIAS_HOPS = 8
_MAX_CELL_CHARS = 1_000_000
# lines IPython's token transforms may rewrite, one per pass (an upper bound): an escape
# (``!ls``, ``%time``, ``?x``, ``/f``) opening a line, ``x = !ls`` / ``x = %who``, ``x?``
_ESCAPE_LINE = re.compile(r"^[ \t]*[!%?/,;]|^[^\n]*=[ \t]*[!%]|\?[ \t]*(?:#[^\n]*)?$",
                          re.MULTILINE)
_TRANSFORM_PASSES = 500      # IPython's own limit (``TRANSFORM_LOOP_LIMIT``)
TRANSFORM_WORK = 50_000      # lines x passes one cell may cost (under a second here)
NOTEBOOK_TRANSFORM_SECONDS = 3.0
# cell magics that run their body as the cell's Python in the user's namespace (IPython
# makes the body a string argument: what it defines would be invisible)
_PYTHON_CELL_MAGIC = re.compile(r"(?:[ \t]*\n)*%%(?:time|capture)(?:[ \t][^\n]*)?(?:\n|$)")
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_FUNCTION_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)
# method decorators that hand the function on as written (``C.m`` of a static method is
# the function itself); only where the notebook has not rebound the name before
_METHOD_DECORATORS = frozenset({"staticmethod", "classmethod"})
# class members that change what calling the class or its instances does
_CLASS_HOOKS = frozenset({"__new__", "__init_subclass__", "__getattribute__", "__getattr__",
                          "__setattr__", "__class_getitem__", "__set_name__", "__get__",
                          "__prepare__", "__instancecheck__"})
# in-place changes of a container (``LAYERS.append(g)``, ``GATES.update(...)``)
_MUTATORS = frozenset({"append", "extend", "insert", "pop", "remove", "clear", "reverse",
                       "sort", "update", "setdefault", "popitem", "__setitem__",
                       "__setattr__", "__delitem__", "__delattr__", "__init__"})
# decorators whose wrapper runs the function as written
_TRANSPARENT = frozenset({"torch.no_grad", "torch.inference_mode", "torch.enable_grad",
                          "torch.autograd.no_grad", "torch.autograd.grad_mode.no_grad",
                          "functools.lru_cache", "functools.cache"})
# class decorators that add generated methods and leave the class's own as written
CLASS_TRANSPARENT = frozenset({"dataclasses.dataclass"})
# attributes whose change leaves what a function does as it was
_HARMLESS_ATTRIBUTES = frozenset({"__name__", "__qualname__", "__doc__", "__module__"})
# list methods that store what they are given and call nothing of what the list holds
_LIST_FILLING = frozenset({"append", "extend", "insert"})


@dataclass(frozen=True)
class _Binding:
    text: str | None          # the definition's source, None for a non-textual binding
    alias: str | None = None  # ``name = other``
    node: ast.AST | None = None
    cell: str = ""            # the (transformed) text of the cell that holds it
    origin: str | None = None  # ``import torch.nn as nn``, ``s = torch.sigmoid``: dotted name
    member: tuple[str, str] | None = None  # ``s = Act.sigmoid``: a class's function, maybe
    owner: ast.ClassDef | None = None      # the class whose method ``node`` is
    data: bool = False        # the text binds plain data only (``_data_value``)
    module: bool = False      # ``import torch``, ``import torch.nn.functional as F``


_UNKNOWN = _Binding(None)
RUN_TIME = "?"   # ``origin`` of a name whose value only running the notebook decides


class NotebookSource:
    """The top-level bindings of a notebook's code cells, in execution order."""

    def __init__(self, cells: Iterable[str], *, unfinished: Container[int] = (),
                 stopped: Mapping[int, int] | None = None):
        """``unfinished``: positions (in ``cells``) of cells that did not run to their end
        (an error, a timeout): what they bind has no text, as they may have stopped
        anywhere; ``stopped``: for some of them, the line of the cell where its error
        arose (the kernel's word, as whether a cell ended is): the top-level statements
        that end above it ran, and keep their texts."""
        self._bindings: dict[str, _Binding] = {}
        self._touched: set[str] = set()
        self._rebound: set[str] = set()     # by a function (``global f; f = g``)
        self._paths: set[str] = set()       # ``torch.no_grad = ...``: dotted targets
        self._library_paths: set[str] = set()  # those into a module, by the module's name
        self._reflected: set[str] = set()   # ``setattr(torch, ...)``, ``torch[...] = ...``
        self._changed_names: set[str] | None = None
        self._star = False
        budget = TransformBudget()
        for index, text in enumerate(cells):
            self._scan_cell(text, budget, finished=index not in unfinished,
                            stopped=(stopped or {}).get(index))

    @classmethod
    def from_notebook(cls, nb: Any) -> NotebookSource:
        """From an nbformat notebook: its code cells, in order; where the grader ran it,
        a cell that did not end ``ok`` defines nothing textual."""
        cells = [c for c in (nb.get("cells", []) if isinstance(nb, dict) else [])
                 if isinstance(c, dict) and c.get("cell_type") == "code"]
        unfinished = {i for i, c in enumerate(cells) if not _finished(c)}
        stopped = {i: line for i in unfinished if (line := _stopped_line(cells[i])) is not None}
        return cls((_cell_text(c) for c in cells), unfinished=unfinished, stopped=stopped)

    def definition(self, name: str) -> str | None:
        """Source text of ``name`` (``"f"`` or ``"Class.method"``), or ``None``."""
        head, _, member = name.partition(".")
        binding = self._resolve(head)
        if binding is None or binding.text is None:
            return None
        if not member:
            return binding.text
        if "." in member or not isinstance(binding.node, ast.ClassDef):
            return None
        return _member(binding.node, binding.cell, member)

    def statement(self, name: str) -> ast.stmt | None:
        """The top-level statement whose text ``definition(name)`` gives (a ``def``,
        ``class`` or assignment; through aliases), or ``None``."""
        binding = self._resolve(name)
        if binding is None or binding.text is None or not isinstance(binding.node, ast.stmt):
            return None
        return binding.node

    def origin(self, name: str) -> str | None:
        """Where a name the notebook binds without a text comes from: the dotted name it
        was imported as or assigned from (``"torch.sigmoid"`` for ``from torch import
        sigmoid as s`` or ``s = torch.sigmoid``), ``RUN_TIME`` where that is decided at
        run time (``s = [torch.sigmoid][0]``, a ``for`` target, a name changed in place);
        None where it has a text, or the notebook's top level never binds it."""
        last, seen, binding = self._followed(name)
        if binding is None:   # never bound, or an alias of a name the notebook never binds
            return None if last == name else last
        if seen & self._changed() or binding.alias is not None:
            return RUN_TIME
        if binding.text is not None or (binding.member is not None
                                        and self.definition(last) is not None):
            return None
        return binding.origin or RUN_TIME

    def list_names(self) -> list[str]:
        """Every name ``holds_list`` says is a list (sorted)."""
        return sorted(n for n in self._bindings if self.holds_list(n))

    def list_statement(self, name: str) -> ast.stmt | None:
        """The assignment that binds ``name`` to its list display, where ``holds_list``."""
        binding = self._bindings.get(name)
        node = binding.node if binding is not None and self.holds_list(name) else None
        return node if isinstance(node, ast.stmt) else None

    def holds_list(self, name: str) -> bool:
        """Whether ``name`` is a list whatever the notebook ran: its last top-level
        binding is a list display (``LOSSES = []``) and no function rebinds it
        (``global``). Filling it, emptying it or changing its items keeps it a list, so
        ``LOSSES.append(v)`` runs list's own method. A rebinding through reflection is
        the module docstring's limit, as for any text."""
        binding = self._bindings.get(name)
        node = binding.node if binding is not None and binding.text is not None \
            and binding.alias is None and name not in self._rebound else None
        if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
            return False
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return isinstance(dict(assignment_pairs(list(targets), node.value)).get(name), ast.List)

    def aliased(self, name: str) -> bool:
        """Whether ``name``'s last binding is ``name = other`` (an alias)."""
        binding = self._bindings.get(name)
        return binding is not None and binding.alias is not None

    def binds(self, name: str) -> bool:
        """Whether any top-level statement binds ``name`` (with a text or not), or any
        statement changes it in place or rebinds it from a function (``global``)."""
        return name in self._bindings or name in self._touched

    @property
    def star_imported(self) -> bool:
        """Whether a ``from m import *`` ran: it binds names no text shows."""
        return self._star

    def names(self) -> list[str]:
        """Every name with a textual definition (sorted)."""
        return sorted(n for n in self._bindings if self.definition(n) is not None)

    def origins(self) -> dict[str, str]:
        """Every name the text binds to a dotted name without a text of its own (``exp``
        -> ``"torch.exp"``, ``np`` -> ``"numpy"``), as ``origin`` gives it."""
        found = {name: self.origin(name) for name in self._bindings}
        return {n: o for n, o in sorted(found.items()) if o is not None and o != RUN_TIME}

    def default_paths(self, name: str) -> dict[str, str]:
        """The defaults of ``name``'s function text (a ``def``, a method, a lambda) that
        are library objects by the text (``_f=torch.exp``), by position (``"0"``) or
        keyword-only argument name, with the dotted name each leads to."""
        args = self._arguments(name)
        if args is None:
            return {}
        pairs = [*((str(i), d) for i, d in enumerate(args.defaults)),
                 *((a.arg, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
                   if d is not None)]
        found: dict[str, str] = {}
        for key, node in pairs:
            root, _, rest = (dotted_name(node) or "").partition(".")
            origin = self.origin(root) if root else None
            if origin is not None and origin != RUN_TIME:
                found[key] = f"{origin}.{rest}" if rest else origin
        return found

    def _followed(self, name: str) -> tuple[str, set[str], _Binding | None]:
        """``name``'s aliases followed (``s = t``, ``t = ...``), a few hops at most: the
        last name, every name met, and the last one's binding."""
        seen, last, binding = {name}, name, self._bindings.get(name)
        while binding is not None and binding.alias is not None and len(seen) <= _ALIAS_HOPS:
            last = binding.alias
            seen.add(last)
            binding = self._bindings.get(last)
        return last, seen, binding

    def _arguments(self, name: str) -> ast.arguments | None:
        node, last = self.statement(name), self._followed(name)[0]
        if isinstance(node, _FUNCTION_DEFS):
            return node.args
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            part = dict(assignment_pairs(list(targets), node.value)).get(last)
            return part.args if isinstance(part, ast.Lambda) else None
        return None

    def owner(self, name: str) -> ast.ClassDef | None:
        """The class whose method ``name`` is bound to (``sigmoid = Act.sigmoid``): its
        text is the method's (``statement`` gives the method's ``def``); None otherwise."""
        binding = self._resolve(name)
        return binding.owner if binding is not None else None

    def _resolve(self, name: str, hops: int = 0) -> _Binding | None:
        seen: set[str] = set()
        binding = self._bindings.get(name)
        while binding is not None and binding.alias is not None and len(seen) < _ALIAS_HOPS:
            seen.add(name)
            name = binding.alias
            if name in seen:
                return None
            binding = self._bindings.get(name)
        if binding is None or binding.alias is not None \
                or {name, *seen, *self._bases(binding)} & self._changed():
            return None
        if binding.member is not None:
            return self._method(binding.member, hops)
        decorators = getattr(binding.node, "decorator_list", [])
        allowed = CLASS_TRANSPARENT if isinstance(binding.node, ast.ClassDef) else _TRANSPARENT
        return binding if all(self._transparent(d, allowed) for d in decorators) else None

    def _method(self, member: tuple[str, str], hops: int) -> _Binding | None:
        """``Act.sigmoid`` where ``Act`` is the notebook's plain class whose own body
        defines ``sigmoid`` (the last ``def`` of that name), undecorated or a
        ``@staticmethod``: the class attribute is then that very function. A method
        inherited, a ``@classmethod`` (a bound method) or any other class: no text."""
        class_name, attribute = member
        owner = self._resolve(class_name, hops + 1) if hops < _ALIAS_HOPS else None
        if owner is None or owner.text is None or not isinstance(owner.node, ast.ClassDef):
            return None
        defs = [item for item in owner.node.body if isinstance(item, _FUNCTION_DEFS)
                and item.name == attribute]
        if not defs or any(not (isinstance(d, ast.Name) and d.id == "staticmethod")
                           for d in defs[-1].decorator_list):
            return None
        return _Binding(_member(owner.node, owner.cell, attribute), node=defs[-1],
                        cell=owner.cell, owner=owner.node)

    def _transparent(self, decorator: ast.expr, allowed: frozenset[str] = _TRANSPARENT
                     ) -> bool:
        """A decorator that returns a wrapper running the function as written
        (``@torch.no_grad()``, ``@functools.lru_cache``), imported as such and never
        replaced in the notebook (``torch.no_grad = ...``, ``setattr(torch, ...)``)."""
        path = dotted_name(_decorator(decorator))
        root, _, rest = (path or "").partition(".")
        binding = self._bindings.get(root)
        if path is None or binding is None or binding.origin is None or binding.text \
                or root in self._reflected:
            return False
        origin = f"{binding.origin}.{rest}" if rest else binding.origin
        return origin in allowed and not any(
            p == path or p.startswith(f"{path}.") or path.startswith(f"{p}.")
            for p in self._paths)

    def _changed(self) -> set[str]:
        """The names changed in place, and the names they alias (``s = f`` then
        ``s.__code__ = ...`` changes ``f``); computed once, the cells being all read."""
        if self._changed_names is None:
            self._changed_names = self._aliased_changes()
        return self._changed_names

    def _aliased_changes(self) -> set[str]:
        changed = set(self._touched)
        for _ in range(_ALIAS_HOPS):
            more = {b.alias for n, b in self._bindings.items()
                    if n in changed and b.alias is not None} - changed
            if not more:
                break
            changed |= more
        return changed

    def _bases(self, binding: _Binding) -> set[str]:
        """The notebook's classes a class derives from, directly or not (a change to one
        of them, ``Base.__call__ = g``, changes the class)."""
        found: set[str] = set()
        queue = [binding]
        while queue and len(found) < _ALIAS_HOPS:
            node = queue.pop().node
            for base in node.bases if isinstance(node, ast.ClassDef) else []:
                if isinstance(base, ast.Name) and base.id not in found:
                    found.add(base.id)
                    queue += [b for b in [self._bindings.get(base.id)] if b is not None]
        return found

    def _modules_in(self, tree: ast.Module) -> dict[str, str]:
        """The names that stand for a module throughout this cell, with the module:
        imported as one (here or before) and bound to nothing else by its other
        statements."""
        found = {name: b.origin for name, b in self._bindings.items()
                 if b.module and b.origin}
        found.update((name, b.origin) for stmt in tree.body if isinstance(stmt, ast.Import)
                     for name, b in _imported(stmt) if b.origin)
        rebound = {name for stmt in tree.body if not isinstance(stmt, ast.Import)
                   for name in _stored_names(stmt)}
        return {name: origin for name, origin in found.items() if name not in rebound}

    def stored_library_paths(self) -> frozenset[str]:
        """The library paths the notebook assigns to (``torch.backends.cudnn.benchmark =
        True`` is ``torch.backends.cudnn.benchmark``; ``F.relu = f`` with ``F`` imported
        as ``torch.nn.functional`` is ``torch.nn.functional.relu``), resolved by what the
        name stood for in that cell: a text that reads one of them, or below it, is not
        what its words say (``CodeIdentity``)."""
        return frozenset(self._library_paths)

    def _scan_cell(self, text: str, budget: TransformBudget, *, finished: bool,
                   stopped: int | None = None) -> None:
        tree = parse_cell(text, budget)
        if tree is None:
            return
        modules = self._modules_in(tree)
        self._touched |= _touched_names(tree, modules)
        self._rebound |= _rebound_globals(tree)
        paths, reflected = _stored_paths(tree)
        self._paths |= paths
        for path in paths:
            root, _, rest = path.partition(".")
            if root in modules and rest:
                self._library_paths.add(f"{modules[root]}.{rest}")
        self._reflected |= reflected
        for stmt in tree.body:
            if isinstance(stmt, ast.ImportFrom) and any(a.name == "*" for a in stmt.names):
                # ``from m import *`` may rebind any name defined so far
                self._bindings = dict.fromkeys(self._bindings, _UNKNOWN)
                self._star = True
                continue
            ran = finished or (stopped is not None and (stmt.end_lineno or stopped) < stopped)
            for name, binding in _bindings_of(stmt, tree.source, self._bindings):
                self._bindings[name] = binding if ran else _UNKNOWN


class _Module(ast.Module):
    source: str


class TransformBudget:
    """The seconds of IPython's transformer one notebook's cells may take together."""

    def __init__(self, seconds: float = NOTEBOOK_TRANSFORM_SECONDS):
        self.left = seconds

    def spent(self) -> bool:
        return self.left <= 0


def parse_cell(text: str, budget: TransformBudget | None = None) -> _Module | None:
    """A code cell as Python (after IPython's transformation), or ``None``."""
    if not isinstance(text, str) or len(text) > _MAX_CELL_CHARS:
        return None
    for candidate in _candidates(text, budget):
        try:
            tree = ast.parse(candidate)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        module = _Module(body=tree.body, type_ignores=tree.type_ignores)
        module.source = candidate
        return module
    return None


def _candidates(text: str, budget: TransformBudget | None) -> Iterator[str]:
    yield text
    body = _magic_body(text)
    if body is not None:   # ``%%time`` / ``%%capture``: the body is what runs
        yield body
        text = body
    transformed = ipython_transform(text, budget)
    if transformed is not None and transformed != text:
        yield transformed


def _magic_body(text: str) -> str | None:
    """The Python under the ``%%time`` / ``%%capture`` lines that open ``text``, if any."""
    end = 0
    while (found := _PYTHON_CELL_MAGIC.match(text, end)) and found.end() > end:
        end = found.end()
    return text[end:] if end else None


def ipython_transform(code: str, budget: TransformBudget | None = None) -> str | None:
    """``%magic`` / ``!shell`` lines turned into Python as IPython itself would; ``None``
    where it fails, would cost more than ``TRANSFORM_WORK`` or the budget is spent."""
    if transform_work(code) > TRANSFORM_WORK or (budget is not None and budget.spent()):
        return None
    start = time.monotonic()
    try:
        return str(_transformer().transform_cell(code))
    except Exception:  # IPython's transformer raises assorted errors on garbage
        return None
    finally:
        if budget is not None:
            budget.left -= time.monotonic() - start


def transform_work(code: str) -> int:
    """IPython's transformer's work on ``code``, about: its lines times its passes (one
    per escape line, at least one)."""
    passes = min(sum(1 for _ in _ESCAPE_LINE.finditer(code)), _TRANSFORM_PASSES)
    return (code.count("\n") + 1) * max(passes, 1)


@lru_cache(maxsize=1)
def _transformer() -> Any:
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager()


def _bindings_of(stmt: ast.stmt, source: str, earlier: Mapping[str, _Binding]
                 ) -> Iterator[tuple[str, _Binding]]:
    """What one top-level statement binds: a text for the forms the checks read, no text
    for every other name it binds (a ``for`` or ``with`` target, a walrus, a ``match``
    capture, an import, anything inside an ``if``/``for``/``try``/``with``/``match``
    block: whether and what those bind is decided at run time)."""
    known: dict[str, _Binding] = {}
    if isinstance(stmt, _DEFS) and _plain_definition(stmt, earlier):
        known[stmt.name] = _Binding(_segment(source, stmt), node=stmt, cell=source)
    elif isinstance(stmt, ast.Assign):
        known.update(_assigned(stmt.targets, stmt.value, stmt, source, earlier))
    elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
        known.update(_assigned([stmt.target], stmt.value, stmt, source, earlier))
    elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
        known.update(_imported(stmt))
    for name in sorted(_stored_names(stmt)):
        yield name, known.get(name, _UNKNOWN)


def _stored_names(node: ast.AST) -> set[str]:
    """Every name ``node`` binds in the scope it runs in (not what nested functions,
    lambdas and classes bind in their own scopes, nor a comprehension's targets, which
    are its own: ``[v for v, e in pairs]`` leaves a global ``e`` as it was; a walrus in
    a comprehension binds here)."""
    found: set[str] = set()
    stack: list[ast.AST] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, (*_DEFS, ast.Lambda)):
            if not isinstance(current, ast.Lambda):
                found.add(current.name)
            stack.extend(run_at_definition(current))
            continue
        if isinstance(current, ast.comprehension):
            stack.extend([current.iter, *current.ifs])
            continue
        if isinstance(current, ast.Name) and not isinstance(current.ctx, ast.Load):
            found.add(current.id)
        elif isinstance(current, (ast.Import, ast.ImportFrom)):
            found |= {(a.asname or a.name).split(".")[0] for a in current.names if a.name != "*"}
        elif isinstance(current, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)):
            found |= {current.name} if current.name else set()
        elif isinstance(current, ast.MatchMapping) and current.rest:
            found.add(current.rest)
        stack.extend(ast.iter_child_nodes(current))
    return found


def run_at_definition(node: ast.AST) -> list[ast.AST]:
    """The parts of a ``def``/``class``/lambda evaluated where it is defined: decorators,
    bases, keywords, default values (a walrus there binds in the enclosing scope)."""
    parts: list[ast.AST] = list(getattr(node, "decorator_list", []))
    if isinstance(node, ast.ClassDef):
        return [*parts, *node.bases, *(k.value for k in node.keywords)]
    args = getattr(node, "args", None)
    if isinstance(args, ast.arguments):
        parts += [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
    return parts


# library classes a notebook derives from by a name it imported (another imported name
# may be a module the notebook wrote itself, ``%%writefile mine.py``)
_IMPORTED_BASES = frozenset({"typing.NamedTuple", "typing_extensions.NamedTuple",
                             "torch.nn.Module", "torch.nn.modules.module.Module"})


def _plain_definition(stmt: ast.stmt, earlier: Mapping[str, _Binding]) -> bool:
    """A ``def`` or ``class`` whose text is what its name runs: only decorators named by
    a dotted name (whether each is transparent is decided when the name is read:
    ``_TRANSPARENT``, ``CLASS_TRANSPARENT``), and for a class nothing that changes what
    calling it or its instances does (a metaclass, ``__new__``, attribute hooks, a
    method decorated otherwise than by ``@staticmethod``/``@classmethod`` (names the
    notebook has not rebound before), a class attribute rebinding a method or those
    names, a base that is not plain)."""
    if not isinstance(stmt, ast.ClassDef):   # decorators: checked when it is read
        return all(dotted_name(_decorator(d)) is not None
                   for d in getattr(stmt, "decorator_list", []))
    if not all(dotted_name(_decorator(d)) is not None for d in stmt.decorator_list):
        return False   # a ``@dataclass``: checked when it is read (``CLASS_TRANSPARENT``)
    if stmt.keywords or not all(_plain_base(b, earlier) for b in stmt.bases):
        return False
    methods = {n.name for n in stmt.body if isinstance(n, _FUNCTION_DEFS)}
    for item in stmt.body:
        if isinstance(item, _FUNCTION_DEFS):
            if item.name in _CLASS_HOOKS or not all(
                    isinstance(d, ast.Name) and d.id in _METHOD_DECORATORS - set(earlier)
                    for d in item.decorator_list):
                return False
        elif isinstance(item, (ast.Assign, ast.AnnAssign)):
            names = _stored_names(item)
            if names & (methods | _CLASS_HOOKS | _METHOD_DECORATORS) \
                    or any(n.startswith("__") for n in names):
                return False
        elif not isinstance(item, (ast.Expr, ast.Pass)):
            return False
    return True


def _plain_base(base: ast.expr, earlier: Mapping[str, _Binding]) -> bool:
    """``object``, a library class named by attribute (``nn.Module``), one of
    ``_IMPORTED_BASES`` imported by name (``from typing import NamedTuple``: what it
    generates is checked against the live class, ``namedtuples``), or a plain class
    defined earlier in the notebook."""
    if isinstance(base, ast.Attribute):
        return True
    if not isinstance(base, ast.Name):
        return False
    binding = earlier.get(base.id)
    if binding is None:
        return base.id == "object"
    imported = binding.node is None and binding.text is None and binding.alias is None \
        and binding.origin in _IMPORTED_BASES
    return imported or isinstance(binding.node, ast.ClassDef)


def _touched_names(tree: ast.AST, modules: Container[str] = ()) -> set[str]:
    """Names whose object is changed in place anywhere in a cell (``f.__code__ = g.__code__``,
    ``GATES["and"] = g``, ``setattr(f, ...)``, ``LAYERS.append(g)``) or rebound from inside
    a function (``global f`` and a store of ``f``): their text no longer says what runs. A
    module (one of ``modules``) is not changed by calling its functions (``np.append``,
    ``torch.sort``), and a dotted assignment into it (``torch.backends.cudnn.benchmark =
    True``) changes that path only (``stored_library_paths``), not all of it."""
    found = _rebound_globals(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Load):
            path = dotted_name(node)
            if path is not None and path.partition(".")[0] in modules:
                continue
            if node.attr not in _HARMLESS_ATTRIBUTES:
                found |= _root(node.value)
        elif isinstance(node, ast.Subscript) and not isinstance(node.ctx, ast.Load):
            found |= _root(node.value)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("setattr", "delattr") and node.args:
            found |= _root(node.args[0])
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in _MUTATORS and not (
                    isinstance(node.func.value, ast.Name) and node.func.value.id in modules):
            found |= _root(node.func.value)
    return found


def _rebound_globals(tree: ast.AST) -> set[str]:
    """The names a function declares ``global`` and binds (``global f; f = g``, ``del f``,
    ``for f in ...``): a ``global`` the function only reads through changes nothing; in a
    class body or at the top level, every name it declares."""
    found: set[str] = set()
    in_functions: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, _FUNCTION_DEFS):
            declarations = [n for n in _own_nodes(node) if isinstance(n, ast.Global)]
            in_functions |= {id(n) for n in declarations}
            found |= {name for n in declarations for name in n.names} & _own_stores(node)
    return found | {name for node in ast.walk(tree)
                    if isinstance(node, ast.Global) and id(node) not in in_functions
                    for name in node.names}


def _own_nodes(function: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[ast.AST]:
    """The nodes of a function's own scope: not those of the functions, lambdas and
    classes it defines, but what they evaluate where they are defined (defaults,
    decorators, bases, annotations: a walrus there binds here); comprehensions are
    walked (a walrus in one binds here too)."""
    stack: list[ast.AST] = [*function.body]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (*_DEFS, ast.Lambda)):
            stack.extend([*run_at_definition(node), *_annotations(node)])
        else:
            stack.extend(ast.iter_child_nodes(node))


def _annotations(node: ast.AST) -> list[ast.expr]:
    """A ``def``'s annotations (evaluated where it is defined)."""
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return []
    a = node.args
    found = [x.annotation for x in (*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg)
             if x is not None and x.annotation is not None]
    return found + ([node.returns] if node.returns is not None else [])


def _own_stores(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Every name a function's own scope binds or deletes (names, imports, ``except ...
    as``, captures, nested ``def``/``class`` names)."""
    found: set[str] = set()
    for node in _own_nodes(function):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            found.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            found |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            found.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            found.add(node.rest)
        elif isinstance(node, (*_DEFS,)):
            found.add(node.name)
    return found


def list_fillings(tree: ast.AST) -> Iterator[ast.Name]:
    """The names statements only fill as lists: the receiver of a call of ``append``,
    ``extend`` or ``insert`` whose result is dropped (``LOSSES.append(v)``). On a real
    list such a call runs no code of what the list holds."""
    for node in ast.walk(tree):
        call = node.value if isinstance(node, ast.Expr) else None
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) \
                and call.func.attr in _LIST_FILLING and isinstance(call.func.value, ast.Name):
            yield call.func.value


def _stored_paths(tree: ast.AST) -> tuple[set[str], set[str]]:
    """Dotted targets of attribute assignments (``torch.no_grad``), and the names whose
    attributes are set or deleted some other way (``setattr(torch, ...)``)."""
    paths: set[str] = set()
    reflected: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Load):
            path = dotted_name(node)
            paths |= {path} if path is not None else set()
            reflected |= _root(node) if path is None else set()
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("setattr", "delattr") and node.args:
            reflected |= _root(node.args[0])
    return paths, reflected


def _decorator(node: ast.expr) -> ast.expr:
    """``torch.no_grad`` of ``@torch.no_grad()``; the expression itself otherwise."""
    return node.func if isinstance(node, ast.Call) else node


def _root(node: ast.expr) -> set[str]:
    """The name an attribute or item chain starts from (``GATES`` in ``GATES["a"].b``)."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return {node.id} if isinstance(node, ast.Name) else set()


def _run_record(cell: dict[str, Any]) -> dict[str, Any] | None:
    """The grader's record of running this cell (``execution._record``), if any."""
    metadata = cell.get("metadata")
    record = metadata.get("autograder") if isinstance(metadata, dict) else None
    return record if isinstance(record, dict) else None


def _stopped_line(cell: dict[str, Any]) -> int | None:
    """Where the grader's run of this cell raised its error, as the kernel said."""
    record = _run_record(cell)
    line = record.get("line") if record is not None and record.get("status") == "error" \
        else None
    return line if isinstance(line, int) and not isinstance(line, bool) and line > 0 else None


def _finished(cell: dict[str, Any]) -> bool:
    """Did the grader run this cell to its end? (Cells it never ran count as written.)"""
    record = _run_record(cell)
    return record is None or record.get("status") == "ok"


def _assigned(targets: list[ast.expr], value: ast.expr, stmt: ast.stmt, source: str,
              earlier: Mapping[str, _Binding]) -> Iterator[tuple[str, _Binding]]:
    for name, part in assignment_pairs(targets, value):
        data = part is not None and _data_value(part, earlier)
        if isinstance(part, (ast.Lambda, ast.Call, ast.Dict, ast.List, ast.Tuple)) or data:
            # a lambda, what a factory built (``AND = make_gate(...)``) or a container
            # of functions (``GATES = {"and": AND}``), plain data (``EPS = 1e-7``, ``HALF
            # = EPS / 2``, ``device = "cuda" if ... else "cpu"``: nothing that could be
            # a library's function): the statement is the definition
            # structure checks read (they follow the helpers it calls or holds; in
            # ``AND, OR = make(...), make(...)`` they pick the part bound to the name)
            yield name, _Binding(_segment(source, stmt), node=stmt, cell=source, data=data)
        elif isinstance(part, ast.Name):
            yield name, _Binding(None, alias=part.id)
        elif isinstance(part, ast.Attribute) and isinstance(part.value, ast.Name):
            # ``sigmoid = Act.sigmoid``: the method's text where ``Act`` is the
            # notebook's class when read, else an import's attribute (its origin)
            yield name, _Binding(None, origin=dotted_name(part), member=(part.value.id, part.attr))
        else:
            yield name, _Binding(None, origin=dotted_name(part) if part is not None else None)


def _data_value(node: ast.expr | None, earlier: Mapping[str, _Binding]) -> bool:
    """Whether ``node`` can only be plain data: constants, f-strings, containers of plain
    data, arithmetic, comparisons and ``and``/``or`` on it, names bound to plain data
    by their text before (``HALF = ONE / 2``), and a conditional whose two branches are
    plain data whatever its test (``"cuda" if torch.cuda.is_available() else "cpu"``).
    Nothing of it can be a function: an operator on plain data gives plain data."""
    if node is None:
        return False
    if isinstance(node, (ast.Constant, ast.JoinedStr)):
        return True
    if isinstance(node, ast.Name):
        binding = earlier.get(node.id)
        return binding is not None and binding.data
    if isinstance(node, ast.IfExp):
        return _data_value(node.body, earlier) and _data_value(node.orelse, earlier)
    if isinstance(node, ast.Dict):
        return None not in node.keys and all(_data_value(part, earlier)
                                             for part in (*node.keys, *node.values))
    if isinstance(node, ast.Attribute):
        return _is_constant(_library_path(node, earlier))
    if isinstance(node, ast.Call):
        return _made_of_data(node, earlier)
    if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
        return _comprehension_of_data(node, earlier)
    return isinstance(node, _DATA_NODES) and all(
        _data_value(child, earlier) for child in ast.iter_child_nodes(node)
        if isinstance(child, ast.expr))


_DATA_NODES = (ast.UnaryOp, ast.BinOp, ast.BoolOp, ast.Compare, ast.Tuple, ast.List, ast.Set)
# Calls that make plain data from plain data (a tensor, an array, a number): ``W_AND =
# torch.tensor([5.0, 5.0])`` is data, so ``W_NAND = -W_AND`` is too (an honest-style
# hunt of 2026-12-05 found such gates read as "decided at run time"). A library's own
# attributes here are never the notebook's: assigning into them is refused elsewhere
# (``stored_library_paths``).
_MADE_ALIKE = ("asarray", "zeros", "ones", "full", "arange", "linspace", "eye", "zeros_like",
               "ones_like", "full_like")
_DATA_CALLS = frozenset({
    *(f"torch.{f}" for f in ("tensor", "as_tensor", *_MADE_ALIKE)),
    *(f"numpy.{f}" for f in ("array", "float32", "float64", "int64", "int32", *_MADE_ALIKE)),
    "float", "int", "complex", "bool", "list", "tuple", "range", "abs", "round"})
_CONSTANT = re.compile(r"^(math|cmath|numpy|torch)\.(e|pi|tau|inf|nan|newaxis)$|"
                       r"^(torch|numpy)\.(float|int|uint|bool|complex|double|half|long|"
                       r"short|bfloat|cfloat)\d*$")


def _library_path(node: ast.expr, earlier: Mapping[str, _Binding]) -> str | None:
    """``np.pi`` as ``numpy.pi`` by the import that bound ``np``; a builtin's own name."""
    dotted = dotted_name(node)
    if dotted is None:
        return None
    head, _, rest = dotted.partition(".")
    binding = earlier.get(head)
    if binding is None:
        return dotted if not rest else None   # a builtin (``float``), never rebound
    if binding.origin is None or not (binding.module or not rest):
        return None
    return binding.origin + ("." + rest if rest else "")


def _is_constant(path: str | None) -> bool:
    return path is not None and _CONSTANT.match(path) is not None


def _made_of_data(call: ast.Call, earlier: Mapping[str, _Binding]) -> bool:
    if _library_path(call.func, earlier) not in _DATA_CALLS:
        return False
    return all(_data_value(arg, earlier) for arg in call.args) and all(
        keyword.arg is not None and (_data_value(keyword.value, earlier)
                                     or _is_constant(_library_path(keyword.value, earlier)))
        for keyword in call.keywords)


def _comprehension_of_data(node: ast.ListComp | ast.SetComp | ast.GeneratorExp,
                           earlier: Mapping[str, _Binding]) -> bool:
    """``[-w for w in W_AND]`` over plain data, its variables plain data as they go."""
    scope = dict(earlier)
    for generator in node.generators:
        if not _data_value(generator.iter, scope) or generator.is_async:
            return False
        for name in _names([generator.target]):
            scope[name] = _Binding(None, data=True)
        if not all(_data_value(test, scope) for test in generator.ifs):
            return False
    return _data_value(node.elt, scope)


def _imported(stmt: ast.Import | ast.ImportFrom) -> Iterator[tuple[str, _Binding]]:
    """``import a.b as c`` binds ``c`` to ``a.b``; ``import a.b`` binds ``a`` to ``a``;
    ``from a import b as c`` binds ``c`` to ``a.b``."""
    for alias in stmt.names:
        if isinstance(stmt, ast.Import):
            name = alias.asname or alias.name.split(".")[0]
            yield name, _Binding(None, origin=alias.name if alias.asname else name,
                                 module=True)
        elif alias.name != "*":
            module = "." * stmt.level + (stmt.module or "")
            yield alias.asname or alias.name, _Binding(None, origin=f"{module}.{alias.name}")


def dotted_name(node: ast.expr) -> str | None:
    """``torch.nn.functional.relu`` as text; None for anything but names and attributes."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def assignment_pairs(targets: list[ast.expr], value: ast.expr
                     ) -> list[tuple[str, ast.expr | None]]:
    """Each name bound with the expression it takes: the whole value for ``name =
    value``, part by part for ``a, b = x, y`` (same length, nothing starred); None
    where the statement does not say (``a = b = x``, ``a, b = pair``, ``a, *b = ...``)."""
    if len(targets) == 1 and isinstance(targets[0], ast.Name):
        return [(targets[0].id, value)]
    if len(targets) == 1 and isinstance(targets[0], (ast.Tuple, ast.List)) \
            and isinstance(value, (ast.Tuple, ast.List)) \
            and len(targets[0].elts) == len(value.elts) \
            and not any(isinstance(e, ast.Starred) for e in (*targets[0].elts, *value.elts)):
        return [pair for target, part in zip(targets[0].elts, value.elts, strict=True)
                for pair in assignment_pairs([target], part)]
    return [(name, None) for name in _names(targets)]


def _names(targets: Iterable[ast.expr]) -> list[str]:
    out: list[str] = []
    for target in targets:
        if isinstance(target, ast.Name):
            out.append(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            out += _names(target.elts)
        elif isinstance(target, ast.Starred):
            out += _names([target.value])
    return out


def _segment(source: str, node: ast.stmt) -> str | None:
    """Whole lines of ``node`` (decorators included), dedented so that they parse."""
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    end = getattr(node, "end_lineno", None) or node.lineno
    lines = source.splitlines()[first - 1:end]
    return textwrap.dedent("\n".join(lines)) if lines else None


def _member(cls: ast.ClassDef, source: str, member: str) -> str | None:
    found: str | None = None
    for stmt in cls.body:
        if isinstance(stmt, _DEFS) and stmt.name == member:
            found = _segment(source, stmt)
    return found


def _cell_text(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        return "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""
