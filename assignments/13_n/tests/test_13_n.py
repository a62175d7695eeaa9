"""Hidden checks of 13_n: perceptron, logic gates, activations, softmax, cross-entropy.

Each check calls the student's function through the ``submission`` fixture on inputs the
notebook never shows (seeded here, so a regrade gives the same result) and compares the
answer with ``autograder_reference.perceptron``. A check that quotes a deck example (softmax
``0.2110, …``, cross-entropy ``0.357``) tries it first and then inputs of its own, so a
table of the deck's numbers earns nothing.

What the contract leaves open is accepted: a 0/1 may be an int, a bool or a one-element
tensor, values may come back as tensors (numpy arrays arrive as tensors) or nested lists,
in any floating dtype. Structure ("gates from perceptron", "XOR from the gates with AND
as the output layer", "activations from their formulas") is read from the functions'
text (``submission.source``) with ``ast`` only, never by probing the kernel; helpers the
function calls are read too, so a helper function, a lambda bound to a name or an
intermediate variable is as good as a one-line answer.
"""

from __future__ import annotations

import ast
import copy
import math
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch

from autograder.checks import SourceUnavailable, StudentError, data, fail, source, values
from autograder_reference import perceptron as ref

INPUTS = [(0, 0), (1, 0), (0, 1), (1, 1)]


def _bit(value: Any, what: str) -> int:
    """A gate's or step's output as 0/1: an int, a bool or a one-element tensor."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, (bool, int, float)) and value in (0, 1):
        return int(value)
    fail(ja=f"{what} は 0 か 1 を返すはずですが、{type(value).__name__} が返りました",
         en=f"{what} should return 0 or 1, got a {type(value).__name__}")


def _tensor(value: Any, what: str) -> torch.Tensor:
    """``step`` on a tensor must give a tensor (the contract says so)."""
    if not isinstance(value, torch.Tensor):
        fail(ja=f"{what} はテンソルを返すはずですが、{type(value).__name__} が返りました",
             en=f"{what} should return a tensor, got a {type(value).__name__}")
    return value


def _values(value: Any, what: str, shape: tuple[int, ...]) -> torch.Tensor:
    """Values (a tensor, an array or nested lists) of ``shape``, as float64."""
    got = values.as_tensor(value, what=what, dtype=torch.float64)
    if tuple(got.shape) != shape:
        fail(ja=f"{what} の形が {shape} になりません（{tuple(got.shape)} でした）",
             en=f"{what} should have shape {shape} (got {tuple(got.shape)})")
    return got


def _scalar(value: Any, what: str) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.item())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    fail(ja=f"{what} は 1 つの数（0 次元テンソル）を返すはずです",
         en=f"{what} should return a single number (a 0-d tensor)")


def _truth_table(submission: Any, name: str) -> list[int]:
    gate = submission.function(name)
    return [_bit(gate(a, b), f"{name}({a}, {b})") for a, b in INPUTS]


# ---------------------------------------------------------------- reading function text
#
# ``submission.source(name)`` is untrusted text: it is parsed, never run. A function is a
# ``def``, a lambda bound to the name, or (``AND = make_gate(...)``) a call of a factory
# whose returned function is read instead: a function the factory returns, the
# ``__call__`` of a class (``AND = Gate(...)``), or what ``functools.partial`` makes.
# Helpers it calls by a bare name are read the same way (at most _MAX_FUNCTIONS per
# check); what cannot be read counts as unknown, which never satisfies a structure
# requirement.

_MAX_FUNCTIONS = source.MAX_FUNCTIONS
_BUILTINS = source.BUILTINS
_NUMBER_WRAPPERS = frozenset({"int", "bool", "float"})                  # int(AND(a, b))
_SEQUENCES = frozenset({"tuple", "list"})               # tuple(g(*x) for g in layer)
# builtins that only read what they are given (a generator: at once)
_READ_ONLY_CALLS = frozenset({*_SEQUENCES, "len", "sum", "max", "min", "any", "all", "sorted",
                              *_NUMBER_WRAPPERS, "print", "str", "repr", "format"})
_VALUE_METHODS = frozenset({"item", "int", "long", "bool", "float", "double", "squeeze",
                            "reshape", "view", "flatten", "clone", "detach", "cpu", "to",
                            "type", "astype"})                          # AND(a, b).item()
_VALUE_FUNCTIONS = frozenset({"as_tensor", "tensor", "asarray", "array", "int64", "int32",
                              "float32", "float64"})                    # torch.as_tensor(...)
_APPENDERS = frozenset({"append", "extend", "insert", "add"})           # outs.append(g(a, b))
_OPAQUE = ast.Constant(value=None)   # a value the reader does not follow (a for target)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


@dataclass
class _Function:
    """One function's text: parameters, assignments, returns, local functions."""

    name: str
    node: ast.AST
    params: set[str] = field(default_factory=set)
    assigns: dict[str, list[ast.expr]] = field(default_factory=dict)
    returns: list[ast.expr] = field(default_factory=list)
    local: dict[str, _Function] = field(default_factory=dict)
    factory: ast.expr | None = None       # ``AND = make_gate(...)``: the call
    method: bool = False                  # a method: its first parameter is the instance
    instance_call: _Function | None = None  # a class: what calling an instance runs
    methods: dict[str, _Function] = field(default_factory=dict)   # a class: its methods
    data: ast.expr | None = None          # ``GATES = {"and": AND, ...}``: a container
    siblings: dict[str, _Function] = field(default_factory=dict)  # a method's class's methods
    comprehended: set[str] = field(default_factory=set)  # a comprehension's variables
    parents: dict[int, ast.AST] | None = None   # of the nodes of ``node``, made when needed


def _target_pairs(node: ast.Assign | ast.AnnAssign) -> list[tuple[str, ast.expr]]:
    """``(name, value)`` for each plain name the assignment binds, element by element
    where a tuple is unpacked from a tuple literal; otherwise the whole value."""
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    value = node.value
    if value is None:
        return []
    pairs: list[tuple[str, ast.expr]] = []
    for target in targets:
        if isinstance(target, ast.Name):
            pairs.append((target.id, value))
        elif isinstance(target, (ast.Tuple, ast.List)):
            parts = value.elts if isinstance(value, (ast.Tuple, ast.List)) and len(
                value.elts) == len(target.elts) else [value] * len(target.elts)
            for elt, part in zip(target.elts, parts, strict=True):
                inner = elt.value if isinstance(elt, ast.Starred) else elt
                if isinstance(inner, ast.Name):
                    pairs.append((inner.id, part))
    return pairs


def _function_of(name: str, node: ast.AST, *, method: bool = False) -> _Function:
    fn = _Function(name=name, node=node, method=method)
    args = node.args if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                          ast.Lambda)) else None
    if args is not None:
        fn.params = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
        fn.params |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    # ``[gate(*x) for gate in layer]``: ``gate`` is the layer's, not a global of that name
    fn.comprehended = {n.id for comp in ast.walk(node) if isinstance(comp, _COMPREHENSIONS)
                       for g in comp.generators for n in ast.walk(g.target)
                       if isinstance(n, ast.Name)}
    if isinstance(node, ast.Lambda):
        fn.returns.append(node.body)
        return fn
    body = node.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else []
    for stmt in _own_statements(body):
        _record(fn, stmt)
    return fn


def _own_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """Every statement of a function body, nested blocks included, local function
    bodies excluded (their returns are theirs)."""
    out: list[ast.stmt] = []
    for stmt in body:
        out.append(stmt)
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for attr in ("body", "orelse", "finalbody"):
            out.extend(_own_statements(getattr(stmt, attr, []) or []))
        for handler in getattr(stmt, "handlers", []) or []:
            out.extend(_own_statements(handler.body))
        for case in getattr(stmt, "cases", []) or []:
            out.extend(_own_statements(case.body))
    return out


def _record(fn: _Function, stmt: ast.stmt) -> None:
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        fn.local[stmt.name] = _function_of(stmt.name, stmt)
    elif isinstance(stmt, ast.Return) and stmt.value is not None:
        fn.returns.append(stmt.value)
    elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        for name, value in _target_pairs(stmt):
            if isinstance(value, ast.Lambda):
                fn.local[name] = _function_of(name, value)
            else:
                fn.assigns.setdefault(name, []).append(value)
        _record_stored_into(fn, stmt)
    elif isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
        fn.assigns.setdefault(stmt.target.id, []).append(
            ast.BinOp(left=ast.Name(id=stmt.target.id, ctx=ast.Load()), op=stmt.op,
                      right=stmt.value))
    elif isinstance(stmt, ast.AugAssign):
        _record_stored_into(fn, stmt)
    elif isinstance(stmt, (ast.For, ast.AsyncFor)):
        for node in ast.walk(stmt.target):
            if isinstance(node, ast.Name):
                # the loop variable takes the values of the iterable: follow for origins
                fn.assigns.setdefault(node.id, []).append(ast.Subscript(
                    value=stmt.iter, slice=_OPAQUE, ctx=ast.Load()))
    elif isinstance(stmt, (ast.With, ast.AsyncWith)):
        for item in stmt.items:
            if isinstance(item.optional_vars, ast.Name):
                fn.assigns.setdefault(item.optional_vars.id, []).append(item.context_expr)
    elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        call = stmt.value
        if (isinstance(call.func, ast.Attribute) and call.func.attr in _APPENDERS
                and isinstance(call.func.value, ast.Name)):
            fn.assigns.setdefault(call.func.value.id, []).extend(call.args)


def _record_stored_into(fn: _Function, stmt: ast.Assign | ast.AnnAssign | ast.AugAssign
                        ) -> None:
    """``outs[0] = v`` or ``ns.v = v`` (not on the method's own instance): ``v`` is one
    more value the container holds."""
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
    for target in targets:
        for node in ast.walk(target):
            if isinstance(node, (ast.Subscript, ast.Attribute)) and stmt.value is not None:
                root = _root_of(node)
                if root is not None and root != _self_name(fn):
                    fn.assigns.setdefault(root, []).append(stmt.value)


def _root_of(node: ast.expr) -> str | None:
    while isinstance(node, (ast.Subscript, ast.Attribute)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _definition(name: str, text: str) -> _Function | None:
    """The function ``name`` is, from its source text (see the section comment)."""
    tree = source.parse(text)
    if tree is None:
        return None
    # the def of that name first (another def: the text of a function a factory made)
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if defs:
        return _function_of(name, min(defs, key=lambda n: n.name != name))
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    if classes:   # ``AND = Gate(...)``: an instance is called through ``__call__``
        cls = min(classes, key=lambda n: n.name != name)
        methods = {n.name: _function_of(f"{cls.name}.{n.name}", n,
                                        method=not _static(n))
                   for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        for method in methods.values():   # ``return self.forward(a, b)``
            method.siblings = methods
        return _Function(name=name, node=cls, instance_call=methods.get("__call__"),
                         methods=methods)
    bound = [(target, value) for stmt in tree.body if isinstance(stmt, (ast.Assign, ast.AnnAssign))
             for target, value in _target_pairs(stmt)]
    for _, value in sorted(bound, key=lambda pair: pair[0] != name):
        if isinstance(value, ast.Lambda):
            return _function_of(name, value)
        if isinstance(value, (ast.Dict, ast.List, ast.Tuple)):
            return _Function(name=name, node=value, data=value)
        if isinstance(value, ast.Call):
            return _Function(name=name, node=value, factory=value)
    lambdas = [n for n in ast.walk(tree) if isinstance(n, ast.Lambda)]
    return _function_of(name, lambdas[0]) if lambdas else None


def _static(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A ``@staticmethod``: no instance comes first among its parameters."""
    return any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list)


class _Reader:
    """Student functions by name, read once per check from ``submission.source``."""

    def __init__(self, submission: Any):
        self.submission = submission
        self.cache: dict[str, _Function | None] = {}
        self.truncated = False   # a helper was left unread: it could hold anything

    def main(self, name: str) -> _Function:
        """The checked function itself: an unreadable one fails the check."""
        fn = self.helper(name, required=True)
        if fn is None:
            fail(ja=f"{name} のコードを読み取れませんでした（def か lambda で定義してください）",
                 en=f"could not read {name}'s code (define it with def or lambda)")
        return fn

    def helper(self, name: str, *, required: bool = False) -> _Function | None:
        if name not in self.cache:
            if len(self.cache) >= _MAX_FUNCTIONS:
                self.truncated = True
                return None
            try:
                text = self.submission.source(name)
            except (StudentError, SourceUnavailable):
                if required:
                    raise
                text = ""
            found = _definition(name, text) if text else None
            self.cache[name] = _unrolled(found, self) if found is not None else None
        return self.cache[name]


# ---- loops over a literal list, written out
#
# ``for layer in LAYERS: x = [g(*x) for g in layer]`` (a network of gates, layer by
# layer) is read as the straight-line code it runs: each pass written out with the
# element it takes and every assignment a new name (``x#2``), so what is returned is the
# last pass's value, not any value ``x`` ever held. Only where that is exactly what
# runs: a function of plain assignments to names, ``print`` calls and ``for`` loops over
# a literal list or tuple (in the text, in a local, or a global whose text is one), and
# nothing that could see a name's earlier value later (a lambda, a nested ``def``, a
# walrus, a generator not consumed at once, an item or attribute stored, ``global``).
# Anything else is read as before (every value a name holds, in any order).
_MAX_WRITTEN = 64   # statements written out
_MAX_ITEMS = 16


def _unrolled(fn: _Function, reader: _Reader) -> _Function:
    node = fn.node
    if fn.method or not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) \
            or not any(isinstance(stmt, ast.For) for stmt in node.body):
        return fn
    body = _Unroller(reader, node, fn.params).body(node.body)
    if body is None:
        return fn
    flat = ast.FunctionDef(name=node.name, args=node.args, body=body, decorator_list=[],
                           returns=None)
    return _function_of(fn.name, flat)


class _Unroller:
    def __init__(self, reader: _Reader, node: ast.FunctionDef | ast.AsyncFunctionDef,
                 params: set[str]):
        self.reader = reader
        self.local = params | {n.id for n in ast.walk(node) if isinstance(n, ast.Name)
                               and not isinstance(n.ctx, ast.Load)}
        self.version: dict[str, int] = {}
        self.values: dict[str, ast.expr] = {}   # a written-out name's value

    def body(self, stmts: list[ast.stmt]) -> list[ast.stmt] | None:
        out: list[ast.stmt] = []
        for index, stmt in enumerate(stmts):
            if isinstance(stmt, ast.For):
                items = self._items(stmt)
                if items is None or not all(_plain(inner) for inner in stmt.body):
                    return None
                for item in items:
                    out.append(self._assign([stmt.target], item))
                    out += [self._write(inner) for inner in stmt.body]
            elif isinstance(stmt, ast.Return) and index == len(stmts) - 1:
                out.append(ast.Return(value=self._read(stmt.value) if stmt.value else None))
            elif _plain(stmt):
                out.append(self._write(stmt))
            else:
                return None
            if len(out) > _MAX_WRITTEN:
                return None
        return out

    def _items(self, stmt: ast.For) -> list[ast.expr] | None:
        """The elements the loop takes, as expressions of this function's scope."""
        if stmt.orelse or not isinstance(stmt.target, ast.Name) or not _safe(stmt.iter):
            return None
        held: ast.expr | None = stmt.iter
        if isinstance(held, ast.Name) and held.id in self.version:
            held = self.values.get(_ssa(held.id, self.version[held.id]))
            inside = True
        elif isinstance(held, ast.Name) and held.id not in self.local:
            data = self.reader.helper(held.id)   # a global: its text, a literal list
            held = data.data if data is not None else None
            inside = False
        else:
            held, inside = (self._read(held), True) if held is not None else (None, True)
        if not isinstance(held, (ast.List, ast.Tuple)) or len(held.elts) > _MAX_ITEMS \
                or any(isinstance(e, ast.Starred) for e in held.elts):
            return None
        if not inside and any(isinstance(n, ast.Name) and n.id in self.local
                              for e in held.elts for n in ast.walk(e)):
            return None   # a global's element names what a local of this function shadows
        return [copy.deepcopy(e) for e in held.elts]

    def _write(self, stmt: ast.stmt) -> ast.stmt:
        if isinstance(stmt, ast.Assign):
            return self._assign(stmt.targets, self._read(stmt.value))
        if isinstance(stmt, ast.AugAssign):
            assert isinstance(stmt.target, ast.Name)
            value = ast.BinOp(left=self._read(ast.Name(id=stmt.target.id, ctx=ast.Load())),
                              op=stmt.op, right=self._read(stmt.value))
            return self._assign([stmt.target], value)
        if isinstance(stmt, ast.Expr):
            return ast.Expr(value=self._read(stmt.value))
        return stmt   # pass

    def _assign(self, targets: list[ast.expr], value: ast.expr) -> ast.Assign:
        """``value`` (already read) bound to new versions of the targets' names."""
        new = [self._store(t) for t in targets]
        if len(new) == 1 and isinstance(new[0], ast.Name):
            self.values[new[0].id] = value
        return ast.Assign(targets=new, value=value, lineno=0)

    def _store(self, target: ast.expr) -> ast.expr:
        if isinstance(target, (ast.Tuple, ast.List)):
            return type(target)(elts=[self._store(e) for e in target.elts], ctx=ast.Store())
        assert isinstance(target, ast.Name)
        self.version[target.id] = self.version.get(target.id, 0) + 1
        return ast.Name(id=_ssa(target.id, self.version[target.id]), ctx=ast.Store())

    def _read(self, expr: ast.expr) -> ast.expr:
        return _Renamer(self.version).visit(copy.deepcopy(expr))


def _ssa(name: str, version: int) -> str:
    return f"{name}#{version}"   # never a name of the student's


def _plain(stmt: ast.stmt) -> bool:
    """A statement the written-out form keeps exactly: a plain assignment to names, an
    augmented one, a ``print`` call, a docstring, ``pass``."""
    if isinstance(stmt, ast.Assign):
        names_only = all(isinstance(n, (ast.Name, ast.Tuple, ast.List))
                         for t in stmt.targets for n in ast.walk(t)
                         if not isinstance(n, ast.expr_context))
        return names_only and _safe(stmt.value)
    if isinstance(stmt, ast.AugAssign):
        return isinstance(stmt.target, ast.Name) and _safe(stmt.value)
    if isinstance(stmt, ast.Expr):
        value = stmt.value
        return (isinstance(value, ast.Constant) and isinstance(value.value, str)) or (
            isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
            and value.func.id == "print" and _safe(value))
    return isinstance(stmt, ast.Pass)


def _safe(expr: ast.expr) -> bool:
    """Nothing in ``expr`` reads a name later than where it stands: no lambda, walrus,
    ``yield`` or ``await``, and a generator only as what a consumer takes at once."""
    consumed = {id(node.args[0]) for node in ast.walk(expr) if isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name) and node.func.id in _READ_ONLY_CALLS
                and len(node.args) == 1 and not node.keywords}
    return not any(isinstance(n, (ast.Lambda, ast.NamedExpr, ast.Yield, ast.YieldFrom,
                                  ast.Await)) or (isinstance(n, ast.GeneratorExp)
                                                  and id(n) not in consumed)
                   for n in ast.walk(expr))


class _Renamer(ast.NodeTransformer):
    """Reads of a written-out name become its current version; a comprehension's own
    variables stay as they are."""

    def __init__(self, version: dict[str, int]):
        self.version = version
        self.bound: list[set[str]] = []

    def visit_Name(self, node: ast.Name) -> ast.Name:
        if isinstance(node.ctx, ast.Load) and node.id in self.version \
                and not any(node.id in names for names in self.bound):
            return ast.Name(id=_ssa(node.id, self.version[node.id]), ctx=ast.Load())
        return node

    def _comprehension(self, node: Any) -> Any:
        first = node.generators[0]
        first.iter = self.visit(first.iter)   # evaluated outside the comprehension
        self.bound.append({n.id for g in node.generators for n in ast.walk(g.target)
                           if isinstance(n, ast.Name)})
        for index, generator in enumerate(node.generators):
            if index:
                generator.iter = self.visit(generator.iter)
            generator.ifs = [self.visit(test) for test in generator.ifs]
        if isinstance(node, ast.DictComp):
            node.key, node.value = self.visit(node.key), self.visit(node.value)
        else:
            node.elt = self.visit(node.elt)
        self.bound.pop()
        return node

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _comprehension


@dataclass(frozen=True)
class _Scope:
    """A function being read, and what its parameters were called with (if known)."""

    fn: _Function
    bindings: tuple[tuple[str, ast.expr, _Scope | None], ...] = ()

    def binding(self, name: str) -> tuple[ast.expr, _Scope | None] | None:
        for key, expr, scope in self.bindings:
            if key == name:
                return expr, scope
        return None


def _bind(fn: _Function, call: ast.Call | None, caller: _Scope | None) -> _Scope:
    if call is None or caller is None or not isinstance(fn.node, (
            ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        return _Scope(fn)
    args = fn.node.args
    names = [a.arg for a in [*args.posonlyargs, *args.args]][1 if fn.method else 0:]
    pairs = [(n, a, caller) for n, a in zip(names, call.args, strict=False)
             if not isinstance(a, ast.Starred)]
    pairs += [(k.arg, k.value, caller) for k in call.keywords if k.arg in fn.params]
    return _Scope(fn, tuple(pairs))


class _Flow:
    """Where a function's values come from, by reading its text (and its helpers')."""

    def __init__(self, reader: _Reader, gates: frozenset[str]):
        self.reader, self.gates = reader, gates
        self._busy: set[tuple[int, int]] = set()
        self._raw_busy: set[tuple[int, int, int]] = set()

    def _callee(self, func: ast.expr, scope: _Scope, depth: int = 0
                ) -> tuple[str | None, _Scope | None]:
        """A called name: a gate (``("AND", None)``) or a function to read (scope)."""
        if isinstance(func, ast.Subscript) and depth <= 8:   # ``GATES["and"](a, b)``
            element = self._element(func, scope)
            return self._callee(element, scope, depth + 1) if element else (None, None)
        sibling = _sibling(func, scope.fn)
        if sibling is not None:
            return None, _Scope(sibling)
        held = _held(func, scope)   # ``self.output``: what ``__init__`` stored there
        if held is not None and depth <= 8:
            return self._callee(held[0], held[1], depth + 1)
        method = self._bound_method(func, scope) if depth <= 8 else None
        if method is not None:   # ``and_neuron.fire``, ``Gates.AND``
            return None, method
        if not isinstance(func, ast.Name) or depth > 8:
            return None, None
        name, fn = func.id, scope.fn
        if name in fn.local:
            return None, _Scope(fn.local[name])
        if name in fn.assigns:   # an alias: ``gate = perceptron``
            sources = fn.assigns[name]
            if len(sources) == 1 and isinstance(sources[0], ast.Name):
                return self._callee(sources[0], scope, depth + 1)
            return None, None
        bound = scope.binding(name)
        if bound is not None:
            expr, caller = bound
            return self._callee(expr, caller, depth + 1) if caller is not None else (None, None)
        if name in fn.params or name in fn.comprehended:
            return None, None
        if name in self.gates:
            return name, None
        if name in _BUILTINS:
            return None, None
        helper = self.reader.helper(name)
        if helper is None:
            return None, None
        return None, _Scope(helper)

    def _bound_method(self, func: ast.expr, scope: _Scope) -> _Scope | None:
        """``neuron.fire`` with a global ``neuron = Neuron([5, 5], 9)`` of the notebook's
        plain class: its method ``fire`` on that instance, knowing what ``__init__``
        stored in it; ``Gates.AND`` with ``AND`` a static method of the notebook's class:
        that function. Else None."""
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
            return None
        name = func.value.id
        if not _global(name, scope):
            return None
        holder = self.reader.helper(name)
        if holder is None:
            return None
        if holder.methods:   # the class itself: only a static method is a plain function
            static = holder.methods.get(func.attr)
            return _Scope(static) if static is not None and not static.method else None
        if not isinstance(holder.factory, ast.Call):
            return None
        _, made_by = self._callee(holder.factory.func, _Scope(holder))
        method = made_by.fn.methods.get(func.attr) if made_by is not None else None
        if method is None or not method.method or _reshapes_instances(made_by.fn):
            return None
        return _instance_scope(method, holder.factory, _Scope(holder))

    def _data(self, name: str, scope: _Scope) -> _Function | None:
        """The container a global ``name`` is bound to (``GATES = {...}``), if any."""
        if not _global(name, scope) or name in self.gates:
            return None
        helper = self.reader.helper(name)
        return helper if helper is not None and helper.data is not None else None

    def _element(self, sub: ast.Subscript, scope: _Scope) -> ast.expr | None:
        """``GATES["and"]`` / ``LAYER[0]``: the expression a literal container holds there."""
        if not (isinstance(sub.value, ast.Name) and isinstance(sub.slice, ast.Constant)):
            return None
        sources = scope.fn.assigns.get(sub.value.id, [])
        held = sources[0] if len(sources) == 1 else None
        if held is None:
            data = self._data(sub.value.id, scope)
            held = data.data if data is not None else None
        key = sub.slice.value
        if isinstance(held, ast.Dict):
            found = [v for k, v in zip(held.keys, held.values, strict=True)
                     if isinstance(k, ast.Constant) and k.value == key]
            return found[-1] if found else None
        if isinstance(held, (ast.List, ast.Tuple)) and isinstance(key, int) \
                and not isinstance(key, bool) and -len(held.elts) <= key < len(held.elts):
            element = held.elts[key]
            return None if isinstance(element, ast.Starred) else element
        return None

    def reach(self, fn: _Function) -> list[_Function]:
        """``fn`` and every student function it calls, directly or through helpers (and
        the containers of functions it reads, ``GATES["and"]``, ``for g in LAYER``)."""
        found, queue = [fn], [fn]
        while queue:
            current = queue.pop()
            for node in ast.walk(current.node):
                if isinstance(node, ast.Call):
                    _, target = self._callee(node.func, _Scope(current))
                    if target is not None and target.fn not in found:
                        found.append(target.fn)
                        queue.append(target.fn)
                held = node.value if isinstance(node, ast.Subscript) else getattr(
                    node, "iter", None)
                if isinstance(held, ast.Name):
                    data = self._data(held.id, _Scope(current))
                    if data is not None and data not in found:
                        found.append(data)
            queue.extend(f for f in current.local.values() if f not in found)
            found.extend(f for f in current.local.values() if f not in found)
        return found

    def _returns(self, scope: _Scope, call: ast.Call | None, caller: _Scope | None
                 ) -> tuple[_Scope, list[ast.expr]]:
        fn = scope.fn
        if fn.factory is not None:   # ``AND = make_gate(...)``: read the made function
            made = self.made_function(fn.factory, _Scope(fn))
            if made is None:
                return scope, []
            fn, scope = made.fn, made
        inner = _bind(fn, call, caller)
        return _Scope(fn, inner.bindings + scope.bindings), fn.returns

    def made_function(self, call: ast.expr, scope: _Scope) -> _Scope | None:
        """The function a factory call returns (``def gate...: ...; return gate``)."""
        if not isinstance(call, ast.Call):
            return None
        if _is_partial(call):
            return _Scope(_function_of("<partial>", _partial_lambda(call)), scope.bindings)
        _, target = self._callee(call.func, scope)
        if target is None:
            return None
        if target.fn.instance_call is not None:   # a class: its instances' ``__call__``
            return _instance_scope(target.fn.instance_call, call, scope)
        factory = _bind(target.fn, call, scope)
        for expr in target.fn.returns:
            if isinstance(expr, ast.Lambda):
                return _Scope(_function_of("<lambda>", expr), factory.bindings)
            if isinstance(expr, ast.Name) and expr.id in target.fn.local:
                return _Scope(target.fn.local[expr.id], factory.bindings)
        return None

    def tops(self, expr: ast.expr, scope: _Scope, depth: int = 0
             ) -> list[tuple[str, ast.Call | None, _Scope]]:
        """Where the *value* of ``expr`` comes from: ``(gate, its call, scope)`` for a gate
        called at the top (through variables, helpers, ``int(...)``, ``.item()``), or
        ``("?", None, scope)`` for anything else (an operator, a constant, unknown)."""
        unknown: list[tuple[str, ast.Call | None, _Scope]] = [("?", None, scope)]
        key = (id(expr), id(scope.fn))
        if depth > 24 or key in self._busy:
            return unknown
        self._busy.add(key)
        try:
            return self._tops(expr, scope, depth) or unknown
        finally:
            self._busy.discard(key)

    def _tops(self, expr: ast.expr, scope: _Scope, depth: int
              ) -> list[tuple[str, ast.Call | None, _Scope]]:
        fn = scope.fn
        if isinstance(expr, ast.Call):
            func = expr.func
            if isinstance(func, ast.Name) and func.id in _NUMBER_WRAPPERS | _SEQUENCES \
                    and len(expr.args) == 1 and func.id not in fn.params \
                    and func.id not in fn.assigns:
                return self.tops(expr.args[0], scope, depth + 1)
            if isinstance(func, ast.Attribute) and _sibling(func, fn) is None \
                    and _held(func, scope) is None:
                if func.attr in _VALUE_METHODS:
                    return self.tops(func.value, scope, depth + 1)
                if func.attr in _VALUE_FUNCTIONS and expr.args:
                    return self.tops(expr.args[0], scope, depth + 1)
                if self._bound_method(func, scope) is None:
                    return []
            gate, target = self._callee(func, scope)
            if gate is not None:
                return [(gate, expr, scope)]
            if target is None:
                return []
            inner, returns = self._returns(target, expr, scope)
            return [t for r in returns for t in self.tops(r, inner, depth + 1)]
        if isinstance(expr, ast.Name):
            if expr.id in fn.assigns and _changeable(fn, expr.id):
                return []
            if expr.id in fn.assigns:
                return [t for v in fn.assigns[expr.id] for t in self.tops(v, scope, depth + 1)]
            bound = scope.binding(expr.id)
            if bound is not None and bound[1] is not None:
                return self.tops(bound[0], bound[1], depth + 1)
            return []
        if isinstance(expr, ast.IfExp) and _same_bit(expr):   # ``1 if AND(a, b) else 0``
            test = expr.test
            return self.tops(test.left if isinstance(test, ast.Compare) else test, scope,
                             depth + 1)
        if isinstance(expr, ast.IfExp):
            return [*self.tops(expr.body, scope, depth + 1),
                    *self.tops(expr.orelse, scope, depth + 1)]
        if isinstance(expr, ast.Subscript) and expr.slice is not _OPAQUE:
            return self.tops(expr.value, scope, depth + 1)
        if isinstance(expr, (ast.ListComp, ast.GeneratorExp)):
            return [t for call in self._layer_calls(expr, scope)
                    for t in self.tops(call, scope, depth + 1)]
        return []

    def _layer_calls(self, comp: ast.ListComp | ast.GeneratorExp, scope: _Scope
                     ) -> list[ast.Call]:
        """``[g(*x) for g in (NAND, OR)]`` as the calls it makes, ``NAND(*x)`` and
        ``OR(*x)``: one generator over a literal list or tuple (or a name holding one),
        no condition, each element called with the same arguments; else none."""
        if len(comp.generators) != 1:
            return []
        generator, elt = comp.generators[0], comp.elt
        if generator.ifs or not isinstance(generator.target, ast.Name) \
                or not isinstance(elt, ast.Call) or not isinstance(elt.func, ast.Name) \
                or elt.func.id != generator.target.id:
            return []
        held: ast.expr | None = generator.iter
        if isinstance(held, ast.Name):
            sources = scope.fn.assigns.get(held.id, [])
            data = self._data(held.id, scope) if not sources else None
            held = sources[0] if len(sources) == 1 else data.data if data else None
        if not isinstance(held, (ast.List, ast.Tuple)) \
                or any(isinstance(e, ast.Starred) for e in held.elts):
            return []
        return [ast.Call(func=e, args=elt.args, keywords=elt.keywords) for e in held.elts]

    def origins(self, expr: ast.expr, scope: _Scope, depth: int = 0) -> set[str]:
        """The gates the value of ``expr`` depends on, however it was combined."""
        key = (id(expr), id(scope.fn))
        if depth > 24 or key in self._busy:
            return set()
        self._busy.add(key)
        try:
            found: set[str] = set()
            picked: set[int] = set()   # ``GATES["nand"]`` is NAND, not all of GATES
            for node in ast.walk(expr):
                element = self._element(node, scope) if isinstance(node, ast.Subscript) else None
                if element is not None:
                    found |= self.origins(element, scope, depth + 1)
                    picked.add(id(node.value))
            for node in ast.walk(expr):
                held = _held(node, scope) if isinstance(node, ast.Attribute) else None
                if held is not None:   # ``for g in self.hidden``
                    found |= self.origins(held[0], held[1], depth + 1)
                if isinstance(node, ast.Name) and id(node) not in picked:
                    found |= self._name_origins(node, scope, depth)
                elif isinstance(node, ast.Call):
                    gate, target = self._callee(node.func, scope)
                    if gate is None and target is not None:
                        inner, returns = self._returns(target, node, scope)
                        for r in returns:
                            found |= self.origins(r, inner, depth + 1)
            return found
        finally:
            self._busy.discard(key)

    def raw(self, expr: ast.expr, scope: _Scope, depth: int = 0) -> bool:
        """Whether the value of ``expr`` may take its function's inputs (parameters no
        call binds) otherwise than through a gate's call: ``NAND(a, b) * 0 + abs(a - b)``
        does (XOR by arithmetic, the gate only decoration), ``int(NAND(a, b))`` or a
        hidden layer's list ``[g(a, b) for g in HIDDEN]`` does not."""
        key = (id(expr), id(scope.fn), -1)
        if depth > 24 or key in self._raw_busy:
            return False
        self._raw_busy.add(key)
        try:
            return any(self._raw_node(node, scope, depth)
                       for node in self._outside_gates(expr, scope))
        finally:
            self._raw_busy.discard(key)

    def _outside_gates(self, expr: ast.expr, scope: _Scope) -> list[ast.AST]:
        """The nodes of ``expr`` outside the arguments of a call of a gate (by name, from
        a container, or a comprehension's variable over gates) or of a student function
        (whose returns ``_raw_node`` reads instead)."""
        over_gates: set[str] = set()
        found: list[ast.AST] = []
        stack: list[ast.AST] = [expr]
        while stack:
            node = stack.pop()
            found.append(node)
            if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
                over_gates |= {n.id for gen in node.generators if self.origins(gen.iter, scope)
                               for n in ast.walk(gen.target) if isinstance(n, ast.Name)}
            if isinstance(node, ast.Call):
                gate, target = self._callee(node.func, scope)
                if gate is not None or target is not None or self.origins(node.func, scope) \
                        or (isinstance(node.func, ast.Name) and node.func.id in over_gates):
                    continue
                if any(self._gate_references(arg, scope) for arg in node.args):
                    # ``map(lambda g: g(a, b), (NAND, OR))``: the lambda's parameters are gates
                    over_gates |= {a.arg for arg in node.args if isinstance(arg, ast.Lambda)
                                   for a in arg.args.args}
            stack.extend(ast.iter_child_nodes(node))
        return found

    def _gate_references(self, expr: ast.expr, scope: _Scope) -> bool:
        """``expr`` names gates as functions (``(NAND, OR)``, ``HIDDEN``), calling none."""
        return not any(isinstance(n, ast.Call) for n in ast.walk(expr)) \
            and bool(self.origins(expr, scope))

    def _raw_node(self, node: ast.AST, scope: _Scope, depth: int) -> bool:
        fn = scope.fn
        if isinstance(node, ast.Call):
            gate, target = self._callee(node.func, scope)
            if gate is not None or target is None:
                return False
            inner, returns = self._returns(target, node, scope)
            return any(self.raw(r, inner, depth + 1) for r in returns)
        held = _held(node, scope) if isinstance(node, ast.Attribute) else None
        if held is not None:
            return self.raw(held[0], held[1], depth + 1)
        if not isinstance(node, ast.Name) or not isinstance(node.ctx, ast.Load):
            return False
        if node.id in fn.assigns:
            return _changeable(fn, node.id) or any(self.raw(v, scope, depth + 1)
                                                   for v in fn.assigns[node.id])
        bound = scope.binding(node.id)
        if bound is not None:
            return bound[1] is not None and self.raw(bound[0], bound[1], depth + 1)
        return node.id in fn.params and node.id != _self_name(fn)

    def _name_origins(self, node: ast.Name, scope: _Scope, depth: int) -> set[str]:
        fn, name = scope.fn, node.id
        if name in fn.assigns:
            return {g for v in fn.assigns[name] for g in self.origins(v, scope, depth + 1)}
        bound = scope.binding(name)
        if bound is not None:
            return self.origins(bound[0], bound[1], depth + 1) if bound[1] is not None else set()
        if name in fn.local:
            return {g for r in fn.local[name].returns
                    for g in self.origins(r, _Scope(fn.local[name]), depth + 1)}
        if name in self.gates:
            return set() if name in fn.params or name in fn.comprehended else {name}
        data = self._data(name, scope)   # ``for g in HIDDEN``: every gate it holds
        return self.origins(data.data, _Scope(data), depth + 1) if data and data.data else set()


# a list of values can be changed after it was made by whatever gets hold of it:
# ``print(hidden.insert(0, (a + b) % 2))``, ``operator.setitem(signals, 0, ...)``, a
# helper that writes into its argument
_READ_ONLY_METHODS = _VALUE_METHODS | {"tolist", "numpy", "sum", "size", "dim", "numel",
                                       "index", "count", "copy", "get", "keys", "values",
                                       "items", "max", "min", "mean", "abs", "argmax",
                                       "unsqueeze", "t", "tensor", "eq", "ne"}


def _changeable(fn: _Function, name: str) -> bool:
    """Whether a local could be changed in place after it got its value: a method call
    on it other than one that only reads (``h.add_(...)``, ``h.insert(...)``; not
    ``h.item()``); and for a local bound to a new list, dict or set (``x = [...]``, a
    comprehension, ``list(...)``), any use but unpacking (``*x``), an item read or
    stored (``x[0]``: stores are read as values it holds), a statement
    ``x.append(...)`` (read the same way), iterating over it, ``+``, returning it, or a
    builtin that only reads it (``tuple(x)``)."""
    listed = any(isinstance(stmt, (ast.Assign, ast.AnnAssign)) and _container(stmt.value)
                 and len(_targets(stmt)) == 1 and isinstance(_targets(stmt)[0], ast.Name)
                 and _targets(stmt)[0].id == name for stmt in ast.walk(fn.node))
    if fn.parents is None:
        fn.parents = {id(child): node for node in ast.walk(fn.node)
                      for child in ast.iter_child_nodes(node)}
    parents = fn.parents
    for node in ast.walk(fn.node):
        if not (isinstance(node, ast.Name) and node.id == name
                and isinstance(node.ctx, ast.Load)):
            continue
        parent = parents.get(id(node))
        call = parents.get(id(parent)) if isinstance(parent, ast.Attribute) else None
        if isinstance(call, ast.Call) and call.func is parent:   # a method of the local
            assert isinstance(parent, ast.Attribute)
            appended = listed and parent.attr in _APPENDERS \
                and isinstance(parents.get(id(call)), ast.Expr)
            if parent.attr not in _READ_ONLY_METHODS and not appended:
                return True
        elif listed and not _read_only(node, parents):
            return True
    return False


def _container(value: ast.expr | None) -> bool:
    """A new list, dict or set: ``[...]``, ``{...}``, a comprehension, ``list(...)``."""
    return isinstance(value, (ast.List, ast.ListComp, ast.Dict, ast.DictComp, ast.Set,
                              ast.SetComp)) or (
        isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
        and value.func.id in ("list", "dict", "set"))


def _targets(stmt: ast.Assign | ast.AnnAssign) -> list[ast.expr]:
    return list(stmt.targets) if isinstance(stmt, ast.Assign) else [stmt.target]


def _read_only(node: ast.Name, parents: dict[int, ast.AST]) -> bool:
    parent = parents.get(id(node))
    if isinstance(parent, (ast.Starred, ast.BinOp, ast.Return, ast.FormattedValue)):
        return True   # ``print(f"{hidden}")``
    if isinstance(parent, ast.Subscript):
        return parent.value is node
    if isinstance(parent, ast.comprehension):
        return parent.iter is node
    if isinstance(parent, ast.Attribute):   # an attribute read; methods: _changeable
        return True
    if not (isinstance(parent, ast.Call) and node in parent.args):
        return False
    func = parent.func   # ``print(hidden)``, ``torch.tensor(hidden)``: read, not changed
    return (isinstance(func, ast.Name) and func.id in _READ_ONLY_CALLS) or (
        isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
        and func.attr in _VALUE_FUNCTIONS)


def _global(name: str, scope: _Scope) -> bool:
    """Whether ``name`` in the function being read is a global of the notebook's: not
    bound by the function (local, assigned, a parameter, a comprehension's variable), by
    the call being followed, nor a built-in."""
    fn = scope.fn
    return not (name in fn.local or name in fn.assigns or name in fn.params
                or name in fn.comprehended or name in _BUILTINS
                or scope.binding(name) is not None)


def _sibling(func: ast.expr, fn: _Function) -> _Function | None:
    """``self.forward`` called in a method: the class's own ``forward``."""
    node = fn.node
    if not (fn.method and isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
            and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.args.args):
        return None
    return fn.siblings.get(func.attr) if func.value.id == node.args.args[0].arg else None


def _self_name(fn: _Function) -> str | None:
    node = fn.node
    if fn.method and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.args.args:
        return node.args.args[0].arg
    return None


def _held(func: ast.expr, scope: _Scope) -> tuple[ast.expr, _Scope] | None:
    """``self.output`` in a method of an instance whose ``__init__`` stored an argument
    there: that argument, in the scope of the call that made the instance."""
    if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
            and func.value.id == _self_name(scope.fn)):
        return None
    bound = scope.binding(f".{func.attr}")
    return (bound[0], bound[1]) if bound is not None and bound[1] is not None else None


def _instance_scope(call_fn: _Function, call: ast.Call, scope: _Scope) -> _Scope:
    """``__call__`` of the instance ``call`` makes, knowing what its ``__init__`` stored in
    ``self.<name>`` (``TwoLayerNet(hidden=[NAND, OR], output=AND)``)."""
    init = call_fn.siblings.get("__init__")
    self_name = _self_name(init) if init is not None else None
    if init is None or self_name is None:
        return _Scope(call_fn)
    made = _bind(init, call, scope)
    held = [(f".{target.attr}", value, made) for stmt in _own_statements(init.node.body)
            if isinstance(stmt, ast.Assign) for target, value in _attribute_pairs(stmt)
            if isinstance(target.value, ast.Name) and target.value.id == self_name]
    return _Scope(call_fn, tuple(held))


def _reshapes_instances(cls: _Function) -> bool:
    """Whether the class's methods may make an instance run other code than the class's
    methods (red-team pass of 2026-12-05): an attribute stored under a method's name
    (``self.fire = self.guess``), ``__class__`` or ``__dict__`` touched, ``setattr``,
    ``vars``."""
    hooks = {*cls.methods, "__class__", "__dict__", "__setattr__", "__getattribute__"}
    for node in ast.walk(cls.node):
        if isinstance(node, ast.Attribute) and (node.attr in {"__class__", "__dict__"} or (
                node.attr in hooks and not isinstance(node.ctx, ast.Load))):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("setattr", "delattr", "vars"):
            return True
    return False


def _attribute_pairs(stmt: ast.Assign) -> list[tuple[ast.Attribute, ast.expr]]:
    """``(self.x, value)`` for each attribute ``stmt`` sets (``self.a, self.b = a, b`` too)."""
    pairs: list[tuple[ast.Attribute, ast.expr]] = []
    for target in stmt.targets:
        if isinstance(target, ast.Attribute):
            pairs.append((target, stmt.value))
        elif isinstance(target, (ast.Tuple, ast.List)) and isinstance(
                stmt.value, (ast.Tuple, ast.List)) and len(target.elts) == len(stmt.value.elts):
            pairs += [(t, v) for t, v in zip(target.elts, stmt.value.elts, strict=True)
                      if isinstance(t, ast.Attribute)]
    return pairs


def _constant(node: ast.expr, value: int) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) in (int, bool, float) \
        and node.value == value


def _same_bit(expr: ast.IfExp) -> bool:
    """``1 if x else 0`` (also ``x == 1``, ``x != 0``, ``x > 0``, ``x >= 1``): the bit
    ``x`` is, for a gate's 0 or 1."""
    test = expr.test
    if isinstance(test, ast.Compare):
        if len(test.ops) != 1:
            return False
        op, right = test.ops[0], test.comparators[0]
        if not ((isinstance(op, ast.Eq) and _constant(right, 1)) or (isinstance(op, ast.GtE)
                and _constant(right, 1)) or (isinstance(op, (ast.NotEq, ast.Gt))
                and _constant(right, 0))):
            return False
    return _constant(expr.body, 1) and _constant(expr.orelse, 0)


def _is_partial(call: ast.Call) -> bool:
    """``partial(f, ...)`` or ``functools.partial(f, ...)`` with ``f`` given plainly."""
    func = call.func
    named = (isinstance(func, ast.Name) and func.id == "partial") or (
        isinstance(func, ast.Attribute) and func.attr == "partial")
    return named and bool(call.args) and not isinstance(call.args[0], ast.Starred)


def _partial_lambda(call: ast.Call) -> ast.Lambda:
    """``partial(f, *given, **fixed)`` as the function it makes:
    ``lambda *args, **kwargs: f(*given, *args, **fixed, **kwargs)``."""
    rest = ast.Name(id="args", ctx=ast.Load())
    more = ast.keyword(arg=None, value=ast.Name(id="kwargs", ctx=ast.Load()))
    given = [*call.args[1:], ast.Starred(value=rest, ctx=ast.Load())]
    body = ast.Call(func=call.args[0], args=given, keywords=[*call.keywords, more])
    arguments = ast.arguments(posonlyargs=[], args=[], vararg=ast.arg(arg="args"), kwonlyargs=[],
                              kw_defaults=[], kwarg=ast.arg(arg="kwargs"), defaults=[])
    return ast.Lambda(args=arguments, body=body)


def _returns_of(flow: _Flow, fn: _Function) -> tuple[_Scope, list[ast.expr]]:
    return flow._returns(_Scope(fn), None, None)


def _output_layer(flow: _Flow, fn: _Function) -> list[tuple[str, ast.Call | None, _Scope]]:
    """Where each value ``fn`` returns comes from (see ``_Flow.tops``); none: unknown."""
    scope, returns = _returns_of(flow, fn)
    return [t for r in returns for t in flow.tops(r, scope)] or [("?", None, scope)]


def _all_nodes(fns: list[_Function]) -> list[ast.AST]:
    return [n for fn in fns for n in ast.walk(fn.node)]


def _names_used(fns: list[_Function]) -> set[str]:
    """Every bare name read and every attribute named in these functions' text."""
    used: set[str] = set()
    for node in _all_nodes(fns):
        if isinstance(node, ast.Name):
            used.add(node.id)
        elif isinstance(node, ast.Attribute):
            used.add(node.attr)
    return used


# ---------------------------------------------------------------- step and perceptron

@pytest.mark.points(1)
def test_step_numbers(submission):
    step = submission.function("step")
    for u, want in [(0.25, 1), (7, 1), (-0.5, 0), (0, 0), (0.0, 0), (-3, 0), (1e-9, 1)]:
        got = step(u)
        # the contract says int; a bool is Python's int 0/1 too
        if not isinstance(got, int):
            fail(ja="Python の数を渡したとき step は int を返すはずです"
                    f"（{type(got).__name__} が返りました）",
                 en=f"step on a Python number should return an int (got {type(got).__name__})")
        if got != want:
            fail(ja=f"step({u}) は {want} になるはずです", en=f"step({u}) should be {want}")


@pytest.mark.points(1)
def test_step_tensor(submission):
    step = submission.function("step")
    for shape in [(9,), (4, 5), (2, 3, 3)]:
        u = torch.randn(*shape, generator=data.generator(sum(shape)))
        u.view(-1)[0] = 0.0
        got = _tensor(step(u), "step(テンソル)")
        if tuple(got.shape) != shape:
            fail(ja=f"形 {shape} のテンソルには同じ形のテンソルを返してください"
                    f"（{tuple(got.shape)} でした）",
                 en=f"a tensor of shape {shape} should give the same shape "
                    f"(got {tuple(got.shape)})")
        if not torch.equal(got.to(torch.int64), (u > 0).to(torch.int64)):
            fail(ja="テンソルの各要素に階段関数（u > 0 なら 1、それ以外 0）を適用してください",
                 en="apply the step function (1 where u > 0, else 0) to every element")


@pytest.mark.points(1)
def test_perceptron_single(submission):
    perceptron = submission.function("perceptron")
    g = data.generator(131)
    for _ in range(6):
        x = torch.randint(-3, 4, (3,), generator=g).to(torch.float64)
        w = torch.randint(-4, 5, (3,), generator=g).to(torch.float64)
        threshold = float(torch.randint(-5, 6, (1,), generator=g)) + 0.5
        want = ref.perceptron(x, w, threshold)
        if _bit(perceptron(x, w, threshold), "perceptron") != want:
            fail(ja="入力 1 つ（形 (n,)）の perceptron が step(w・x − threshold) と一致しません",
                 en="perceptron on one input (shape (n,)) does not equal step(w·x − threshold)")
    # exactly on the threshold: w·x − threshold = 0 is not positive
    x, w = torch.tensor([2.0, -1.0, 3.0], dtype=torch.float64), torch.tensor(
        [1.0, 4.0, 2.0], dtype=torch.float64)
    if _bit(perceptron(x, w, 4.0), "perceptron") != 0:
        fail(ja="w・x − threshold が 0 のときは 0 を返してください（0 は正ではありません）",
             en="perceptron should give 0 when w·x − threshold is 0 (0 is not positive)")
    if _bit(perceptron([1, 1], [5, 5], 9), "perceptron") != 1:
        fail(ja="perceptron はリストの入力も受け付けてください",
             en="perceptron should accept lists as inputs")


@pytest.mark.points(1)
def test_perceptron_batch(submission):
    perceptron = submission.function("perceptron")
    g = data.generator(132)
    x = torch.randint(-3, 4, (11, 4), generator=g).to(torch.float64)
    w = torch.randn(4, generator=g, dtype=torch.float64)
    got = _values(perceptron(x, w, 0.3), "perceptron(形 (N, n) の x)", (11,))
    if not torch.equal(got.to(torch.int64), ref.perceptron(x, w, 0.3)):
        fail(ja="各行 x[i] について step(w・x[i] − threshold) を計算してください",
             en="compute step(w·x[i] − threshold) for every row x[i]")


# ---------------------------------------------------------------- gates

def _check_gate(submission: Any, name: str) -> None:
    want = [getattr(ref, name)(a, b) for a, b in INPUTS]
    got = _truth_table(submission, name)
    if got != want:
        fail(ja=f"{name} の真理値表が違います（入力 (0,0), (1,0), (0,1), (1,1) に対して {got}）",
             en=f"{name}'s truth table is wrong (inputs (0,0), (1,0), (0,1), (1,1) gave {got})")


@pytest.mark.points(1)
def test_and(submission):
    _check_gate(submission, "AND")


@pytest.mark.points(1)
def test_or(submission):
    _check_gate(submission, "OR")


@pytest.mark.points(1)
def test_nand(submission):
    _check_gate(submission, "NAND")


# the gate's logic done before the perceptron (``perceptron([a and b], [1], 0.5)``)
_LOGIC = (ast.BoolOp, ast.Compare, ast.BitAnd, ast.BitOr, ast.BitXor, ast.Not)
# what packs a gate's inputs for the perceptron without computing on them
_WIRING = frozenset({"tensor", "as_tensor", "asarray", "array", "stack", "hstack", "vstack",
                     "column_stack", "row_stack", "cat", "concatenate", "Tensor",
                     "FloatTensor", "DoubleTensor", "LongTensor", "atleast_1d", "atleast_2d",
                     "list", "tuple", "unsqueeze", "transpose", "t", "T", "tolist",
                     *_NUMBER_WRAPPERS, *_VALUE_METHODS, *_VALUE_FUNCTIONS})


def _computes_on_inputs(flow: _Flow, expr: ast.expr, scope: _Scope, depth: int = 0) -> bool:
    """Whether ``expr`` (an argument of the gate's perceptron call) computes on the gate's
    inputs, itself or through its variables and helpers: ``[a * b, 0]``, ``[max(a, b)]``,
    ``v = 1 - a * b`` (the gate done by arithmetic, the perceptron only a threshold);
    not ``[a, b]``, ``torch.tensor([a, b]).float()`` or ``[-5, -5]``."""
    if depth > 12:
        return False
    for node in ast.walk(expr):
        if isinstance(node, ast.Call):
            gate, target = flow._callee(node.func, scope)
            if gate is None and target is not None:   # the student's helper: its returns
                inner, returns = flow._returns(target, node, scope)
                if any(_computes_on_inputs(flow, r, inner, depth + 1) for r in returns):
                    return True
                continue
        if isinstance(node, ast.expr) and _operation(node) and flow.raw(node, scope):
            return True
        if isinstance(node, ast.Name) and node.id in scope.fn.assigns and any(
                _computes_on_inputs(flow, v, scope, depth + 1)
                for v in scope.fn.assigns[node.id] if v is not expr):
            return True
    return False


def _operation(node: ast.AST) -> bool:
    if isinstance(node, (ast.BinOp, ast.IfExp, ast.BoolOp, ast.Compare)):
        return True
    if isinstance(node, ast.UnaryOp):
        return not isinstance(node.operand, ast.Constant)
    if isinstance(node, ast.Call):
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        return name not in _WIRING
    return False


@pytest.mark.points(1)
def test_gates_use_perceptron(submission):
    reader = _Reader(submission)
    for name in ("AND", "OR", "NAND"):
        flow = _Flow(reader, frozenset({"perceptron"}))
        gate = reader.main(name)
        outputs = _output_layer(flow, gate)
        arguments = [(arg, scope) for _, call, scope in outputs if call is not None
                     for arg in [*call.args, *(k.value for k in call.keywords)]]
        logic = any(isinstance(node, _LOGIC) for arg, _ in arguments for node in ast.walk(arg)) \
            or any(_computes_on_inputs(flow, arg, scope) for arg, scope in arguments)
        run_time = source.RUN_TIME in _library_calls(reader, flow.reach(gate))
        if {g for g, _, _ in outputs} != {"perceptron"} or logic or run_time:
            fail(ja=f"{name} は perceptron を 1 回呼び、その結果を返すように作ってください"
                    + ("（実行時に決まる名前を使っています）" if run_time else ""),
                 en=f"{name} should return the result of one call of perceptron"
                    + (" (it uses a name decided at run time)" if run_time else ""))


@pytest.mark.points(1)
def test_xor_truth_table(submission):
    got = _truth_table(submission, "XOR")
    if got != [0, 1, 1, 0]:
        fail(ja=f"XOR の真理値表が違います（{got}、正しくは [0, 1, 1, 0]）",
             en=f"XOR's truth table is wrong ({got}, expected [0, 1, 1, 0])")


_NOT_GATES = (ast.BitXor, ast.NotEq, ast.IsNot)
_NOT_GATE_NAMES = frozenset({"ne", "not_equal", "__ne__", "__xor__", "is_not"})


def _library_calls(reader: _Reader, fns: list[_Function]) -> set[str]:
    """Attribute names (``torch.logical_xor``, ``operator.ne``) and bare calls of
    functions whose text cannot be read (``from operator import xor``): library code,
    not the student's own variables or helpers."""
    local = {n for fn in fns for n in (*fn.params, *fn.assigns, *fn.local, *fn.comprehended)}
    found: set[str] = set()
    for node in _all_nodes(fns):
        if isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id not in local and reader.cache.get(node.func.id) is None:
            found.add(node.func.id)
    # ``differ = operator.ne`` at top level: what the name was assigned or imported from
    return found | source.outside_names(reader.submission, {fn.name: fn.node for fn in fns},
                                        local=local)


@pytest.mark.points(2)
def test_xor_built_from_gates(submission):
    reader = _Reader(submission)
    xor = reader.main("XOR")
    flow = _Flow(reader, frozenset({"AND", "NAND", "OR"}))
    outputs = _output_layer(flow, xor)
    read = flow.reach(xor)
    used = _names_used(read)
    missing = sorted({"AND", "NAND", "OR"} - used)
    if missing:
        fail(ja="XOR は NAND・OR・AND を組み合わせて作ってください"
                f"（{', '.join(missing)} を使っていません）",
             en=f"build XOR from NAND, OR and AND (it does not use {', '.join(missing)})")
    operators = any(isinstance(n, _NOT_GATES) for n in _all_nodes(read))
    if operators or any("xor" in n.lower() or n in _NOT_GATE_NAMES or n == source.RUN_TIME
                        for n in _library_calls(reader, read)):
        fail(ja="XOR に != や ^ などの演算は使わず、ゲートの組み合わせだけで作ってください",
             en="build XOR from the gates only, without !=, ^ or xor functions")
    if {gate for gate, _, _ in outputs} != {"AND"}:
        fail(ja="XOR の出力は AND の結果にしてください（出力層は AND です）",
             en="XOR should return AND's result (the output layer is AND)")
    for _, call, scope in outputs:
        inputs, each = set(), []
        for arg in [*call.args, *(k.value for k in call.keywords)] if call else []:
            found = flow.origins(arg.value if isinstance(arg, ast.Starred) else arg, scope)
            inputs |= found
            each.append(bool(found & {"NAND", "OR"}))
        # every input of the output AND comes from the hidden layer (not ``(a + b) % 2``),
        # and only from it (not ``NAND(a, b) * 0 + abs(a - b)``)
        raw = any(flow.raw(arg.value if isinstance(arg, ast.Starred) else arg, scope)
                  for arg in [*call.args, *(k.value for k in call.keywords)]) if call else False
        if not {"NAND", "OR"} <= inputs or not all(each) or raw:
            fail(ja="出力層の AND には、隠れ層の NAND(a, b) と OR(a, b) の結果を入れてください",
                 en="the output AND should take the hidden layer's NAND(a, b) and OR(a, b)")


# ---------------------------------------------------------------- activations

_TORCH = {"sigmoid": torch.sigmoid, "relu": torch.relu, "tanh": torch.tanh}
# What the notebook forbids, and the same function under its other names; never a
# building block the notebook leaves allowed (torch.logsumexp is no softmax: a
# softmax written as exp(a - logsumexp(a)) is one from its formula).
_SIGMOIDS = {"sigmoid", "sigmoid_", "expit", "Sigmoid", "logistic", "silu", "logsigmoid",
             "LogSigmoid"}
_FORBIDDEN = {
    "sigmoid": _SIGMOIDS,
    "relu": {"relu", "relu_", "ReLU", "relu6", "threshold", "hardtanh", "leaky_relu",
             "leaky_relu_", "LeakyReLU", "prelu", "PReLU", "rrelu", "RReLU"},
    "tanh": {"tanh", "tanh_", "Tanh", *_SIGMOIDS},   # tanh(u) = 2 sigmoid(2u) - 1
    "softmax": {"softmax", "log_softmax", "Softmax", "LogSoftmax", "softmin",
                "Categorical", "gumbel_softmax"},
}
# The same functions behind other doors, searched in the lower-case names of what the
# library gives (``F.glu`` is a sigmoid gate, ``F.elu(u, alpha=0)`` a ReLU, ``u -
# F.tanhshrink(u)`` a tanh, a distribution's ``probs`` or ``mean`` from logits a sigmoid
# or softmax): never the student's own names, never an elementary function (``exp``,
# ``clamp``, ``where``, ``logsumexp``).
# An activation from a library's derivative is no formula either: softmax is the gradient
# of logsumexp, sigmoid that of softplus.
_DISTRIBUTIONS = (r"distributions", r"probs", r"bernoulli", r"binomial", r"categorical",
                  r"multinomial", r"logits_to")
# (not ``requires_grad``, ``enable_grad``, ``is_grad_enabled`` nor the module's name:
# ``torch.autograd.grad`` is still ``grad``)
_AUTOGRAD = (r"(?<!no_)(?<!set_)(?<!requires_)(?<!enable_)(?<!is_)(?<!auto)grad", r"jac",
             r"backward", r"vjp", r"jvp", r"hessian")
# So is a loss that holds one (red-team pass of 2026-12-05): exp(−softplus(−u)) and
# exp(−binary_cross_entropy_with_logits(u, 1)) are a sigmoid, exp(−soft_margin_loss(u, 1))
# too, exp(−cross_entropy(...)) a softmax, margin_ranking_loss(u, 0, −1) a ReLU.
# Their classes too (a fourth pass: ``nn.BCEWithLogitsLoss(reduction="none")``,
# ``nn.SoftMarginLoss``, ``nn.CrossEntropyLoss`` per column).
_LOSSES = (r"cross_?entropy", r"soft_?margin", r"bce", r"with_?logits", r"nll")
# Attention is a softmax (over ``(u, 0)`` a sigmoid); a recurrent cell's gates are
# sigmoids and tanhs (``nn.RNNCell`` with unit weights is a tanh, ``torch.lstm_cell`` a
# sigmoid); ``mish`` holds a tanh (a fifth pass, 2026-12-05).
_LAYERS = (r"attention", r"transformer", r"multihead", r"rnn", r"lstm", r"gru")
_SIGMOID_FAMILY = (r"sigmoid", r"expit", r"logistic", r"silu", r"glu", r"softmax",
                   r"softmin", r"softplus", r"mish", *_LOSSES, *_DISTRIBUTIONS, *_AUTOGRAD,
                   *_LAYERS)
_FAMILIES = {
    "sigmoid": (*_SIGMOID_FAMILY, r"tanh"),   # sigmoid(u) = (1 + tanh(u / 2)) / 2
    "relu": (r"relu", r"elu", r"threshold", r"hardtanh", r"softplus", r"shrink", r"margin",
             r"hinge", *_AUTOGRAD),
    "tanh": (r"tanh", *_SIGMOID_FAMILY),
    "softmax": (r"softmax", r"softmin", r"gumbel", *_LOSSES, *_DISTRIBUTIONS, *_AUTOGRAD,
                *_LAYERS),
}


def _library_names(submission: Any, name: str) -> list[str]:
    """Forbidden library functions ``name`` uses, in its text or in a helper it calls.

    ``torch.sigmoid(u)``, ``F.sigmoid``, ``u.sigmoid()``, ``f = torch.sigmoid`` and
    ``from torch import sigmoid`` (inside the function) all name ``sigmoid``; so does a
    library function of the same family (``_FAMILIES``: ``F.tanhshrink``, a
    distribution's ``probs``). A function whose text can be read, called or handed on
    (``torch.vmap(helper)``), is the student's own (its text is read in turn), as is a
    bare call of ``name`` itself (recursion) unless imported under it.
    """
    reader = _Reader(submission)
    read, used, library = _read_own(reader, name)
    # not its own methods read from its own objects (``self.sigmoid``); what a top-level
    # name was bound to (``s = torch.sigmoid``)
    library = (library - source.own_attributes(read)) | source.outside_names(submission, read)
    # a global of the notebook's own data is no library function, whatever its name (a
    # ``threshold = 0.0`` of the perceptron's in relu)
    used = {n for n in used if submission.origin(n) is not None}
    found = (used | library) & {*_FORBIDDEN[name], source.RUN_TIME}
    found |= source.prohibited(submission, read, (), _FAMILIES[name], used=library)
    return sorted(found | ({source.TOO_MANY} if reader.truncated else set()))


def _read_own(reader: _Reader, name: str) -> tuple[dict[str, ast.AST], set[str], set[str]]:
    """``name``'s text and its own helpers' (by name); every name they read or import,
    and of those what a library gives (attributes, imports)."""
    flow = _Flow(reader, frozenset())
    queue, own, used, library = [reader.main(name)], {name}, set(), set()
    read: dict[str, ast.AST] = {}
    while queue:
        current = queue.pop()
        read[current.name] = current.node
        imported = {alias.asname or alias.name: alias.name
                    for node in ast.walk(current.node)
                    if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
        library |= {n.split(".")[-1] for n in imported.values()}
        for node in ast.walk(current.node):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                if node.id in own or node.id in imported or node.id in _BUILTINS:
                    continue
                _, target = flow._callee(node, _Scope(current))
                if target is not None and target.fn.factory is None:
                    own.add(node.id)
                    queue.append(target.fn)
        # a global name it reads, or an import: not its own locals (``threshold = 0.0``
        # in relu is a number, whatever its name)
        global_reads = set(source.free_names(current.node))
        for node in ast.walk(current.node):
            if isinstance(node, ast.Attribute):
                library.add(node.attr)
            elif isinstance(node, ast.Name) and (
                    node.id in imported or (node.id not in own and node.id in global_reads)):
                used.add(node.id)
    return read, used, library


def _check_activation(submission: Any, name: str) -> None:
    f = submission.function(name)
    for i, shape in enumerate([(17,), (4, 6), (2, 3, 5)]):
        u = (torch.rand(*shape, generator=data.generator(200 + i)) * 40 - 20).to(torch.float32)
        got = _values(f(u), name, shape)
        want = _TORCH[name](u.double())
        if not torch.allclose(got, want, atol=1e-6, rtol=1e-5) or got.isnan().any():
            fail(ja=f"{name} の値が式と一致しない入力があります",
                 en=f"{name} disagrees with its formula on some inputs")


@pytest.mark.points(1)
def test_sigmoid(submission):
    _check_activation(submission, "sigmoid")


@pytest.mark.points(1)
def test_relu(submission):
    _check_activation(submission, "relu")


@pytest.mark.points(1)
def test_tanh(submission):
    _check_activation(submission, "tanh")


@pytest.mark.points(1)
def test_activations_from_formulas(submission):
    u = torch.tensor([-2.0, 0.0, 3.0])
    for name in ("sigmoid", "relu", "tanh"):
        used = _library_names(submission, name)
        if used:
            ja, en = source.listed(used)
            fail(ja=f"{name} は式から書いてください（{ja} は使わないこと）",
                 en=f"write {name} from its formula (do not use {en})")
        # the formula must also be there: a stub that only raises earns nothing here
        got = _values(submission.function(name)(u), name, (3,))
        if not torch.allclose(got, _TORCH[name](u.double()), atol=1e-6):
            fail(ja=f"{name} の値が式と一致しません", en=f"{name} disagrees with its formula")


# ---------------------------------------------------------------- softmax, cross-entropy

DECK_LOGITS = [3.0, -1.5, 0.2, 2.3, 3.5, 2.0, -2.2, 2.1, 1.0, 2.5]
DECK_SOFTMAX = [0.2110, 0.0023, 0.0128, 0.1048, 0.3479, 0.0776, 0.0012, 0.0858, 0.0286, 0.1280]


@pytest.mark.points(1)
def test_softmax_deck_example(submission):
    softmax = submission.function("softmax")
    got = _values(softmax(torch.tensor(DECK_LOGITS)), "softmax", (10,))
    if not all(values.within(float(v), e, 5e-5)
               for v, e in zip(got.tolist(), DECK_SOFTMAX, strict=True)):
        fail(ja="講義の例 [3.0, -1.5, …] のソフトマックスが 0.2110, 0.0023, … になりません",
             en="the deck's example [3.0, -1.5, …] does not give 0.2110, 0.0023, …")
    # the deck's numbers are an example: other vectors must come out right too
    g = data.generator(302)
    for n in (10, 7, 13):
        a = torch.randn(n, generator=g) * 3
        got = _values(softmax(a), "softmax", (n,))
        if not torch.allclose(got, torch.softmax(a.double(), dim=0), atol=1e-6):
            fail(ja="講義の例以外の入力で、ソフトマックスの値が正しくありません",
                 en="softmax gives wrong values on inputs other than the deck's example")


@pytest.mark.points(1)
def test_softmax_rows(submission):
    softmax = submission.function("softmax")
    a = torch.randn(6, 9, generator=data.generator(301), dtype=torch.float64) * 4
    got = _values(softmax(a), "softmax", (6, 9))
    if not torch.allclose(got, torch.softmax(a, dim=1), atol=1e-6):
        fail(ja="2 次元の入力では各行ごとにソフトマックスを計算してください",
             en="for a 2-D input, apply softmax to each row")
    used = _library_names(submission, "softmax")
    if used:
        ja, en = source.listed(used)
        fail(ja=f"softmax は式から書いてください（{ja} は使わないこと）",
             en=f"write softmax from its formula (do not use {en})")


@pytest.mark.points(1)
def test_softmax_stable(submission):
    softmax = submission.function("softmax")
    got = _values(softmax([1000.0, 1001.0]), "softmax", (2,))
    big = torch.tensor([[1000.0, 1001.0, 998.0], [-1000.0, -1003.0, -999.0], [800.0, -800.0, 0.0]])
    rows = _values(softmax(big), "softmax", (3, 3))
    if got.isnan().any() or rows.isnan().any() or rows.isinf().any():
        fail(ja="大きな入力で nan になります。最大値を引いてから exp を計算しましょう",
             en="large inputs give nan: subtract the maximum before exp")
    # 1e-4, not 1e-6: near 1000 a float32 is exact to 6e-5 only, so a softmax through
    # log-sum-exp (exp(a - logsumexp(a))) is that far off in float32 and still right;
    # what is wrong (uniform, by columns, overflowed) is off by far more
    if not (torch.allclose(got, torch.softmax(torch.tensor([1000.0, 1001.0]).double(), 0),
                           atol=1e-4)
            and torch.allclose(rows, torch.softmax(big.double(), dim=1), atol=1e-4)):
        fail(ja="大きな入力でのソフトマックスの値が正しくありません",
             en="softmax of large inputs gives wrong values")


def _probabilities(g: torch.Generator, n: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilities ``(n, k)`` and one-hot targets, float64."""
    y = torch.softmax(torch.randn(n, k, generator=g, dtype=torch.float64) * 2, dim=1)
    t = torch.nn.functional.one_hot(torch.randint(0, k, (n,), generator=g), k)
    return y, t.to(torch.float64)


@pytest.mark.points(1)
def test_cross_entropy_deck_example(submission):
    ce = submission.function("cross_entropy")
    got = _scalar(ce(torch.tensor([0.2, 0.7, 0.1]), torch.tensor([0.0, 1.0, 0.0])), "cross_entropy")
    if not values.within(got, 0.357, 5e-4):
        fail(ja="講義の例 y=(0.2, 0.7, 0.1), t=(0, 1, 0) は 0.357 になるはずです"
                f"（{got:.4f} でした）",
             en="the deck's example y=(0.2, 0.7, 0.1), t=(0, 1, 0) should give 0.357 "
                f"(got {got:.4f})")
    # the deck's number is an example: other single samples must come out right too
    y, t = _probabilities(data.generator(402), 4, 5)
    for i in range(len(y)):
        got = _scalar(ce(y[i], t[i]), "cross_entropy")
        if not math.isclose(got, float(ref.cross_entropy(y[i], t[i])), rel_tol=1e-5):
            fail(ja="講義の例以外の入力で、交差エントロピー誤差 −Σ t log y の値が正しくありません",
                 en="cross_entropy gives wrong values on inputs other than the deck's example")


@pytest.mark.points(1)
def test_cross_entropy_batch(submission):
    ce = submission.function("cross_entropy")
    y, t = _probabilities(data.generator(401), 8, 5)
    want = float(ref.cross_entropy(y, t))
    got = _scalar(ce(y, t), "cross_entropy")
    if not math.isclose(got, want, rel_tol=1e-5):
        fail(ja="バッチ (N, K) では各データの −Σ t log y の平均を返してください",
             en="for a batch (N, K), return the mean over the rows of −Σ t log y")
    single = _scalar(ce(y[3], t[3]), "cross_entropy")
    if not math.isclose(single, float(ref.cross_entropy(y[3], t[3])), rel_tol=1e-5):
        fail(ja="形 (K,) の入力（データ 1 つ）でも正しく計算してください",
             en="a single sample of shape (K,) should work too")
