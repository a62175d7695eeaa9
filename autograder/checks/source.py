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
import importlib.util
import re
import sys
import textwrap
import types
from collections.abc import Container, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from ..engine.bridge.notebook_source import (
    RUN_TIME,
    assignment_pairs,
    dotted_name,
    list_fillings,
    run_at_definition,
)
from ..engine.bridge.submission import SourceUnavailable, StudentError
from .outcomes import fail

if TYPE_CHECKING:
    from ..engine.bridge.submission import Submission

BUILTINS = frozenset(dir(builtins))
MAX_FUNCTIONS = 48
# what a check reports where it stopped reading before the end: a helper left unread
# could hold anything, so a prohibition cannot be shown to hold
TOO_MANY = "<too many functions>"
# calls and attributes that reach a name computed at run time (``operator.attrgetter(
# "sig" + "moid")(torch)``), or what a function's annotations hold (``f.__annotations__``)
# (a red-team pass of 2026-12-05 reached ``torch.func.grad`` through ``getattr_static``,
# ``pkgutil.resolve_name``, ``pickle.loads`` and ``sys.modules``)
# A fourth pass (2026-12-05) reached ``torch.sigmoid`` by a string through
# ``pydoc.locate``, ``string.Formatter().get_field``, ``timeit``'s code strings and a C
# library's ``tanh``: what turns a string, a file or a C symbol into an object, or lists
# torch's functions to pick one from (``torch.overrides``), is reflection too
_BY_NAME = frozenset({"import_module", "attrgetter", "methodcaller", "get_type_hints",
                      "getmembers", "getmembers_static", "getattr_static", "resolve_name",
                      "loads", "Unpickler", "find_class", "exec_module", "module_from_spec",
                      "spec_from_file_location", "spec_from_loader", "find_spec",
                      "load_module", "run_module", "run_path", "locate", "get_field",
                      "ForwardRef", "evaluate_forward_ref", "load", "CompilationUnit",
                      "load_inline", "load_library", "LoadLibrary", "CDLL", "PyDLL", "cdll",
                      "pydll", "pythonapi", "CFUNCTYPE", "PYFUNCTYPE", "ctypeslib", "hub",
                      "overrides", "get_overridable_functions", "get_testing_overrides",
                      "cpp_extension", "measure", "register", "registry", "singledispatch",
                      "get_submodule", "get_parameter", "get_buffer"})
_REFLECTION_CALLS = frozenset({"eval", "exec", "compile", "globals", "locals", "vars",
                               "__import__", "get_annotations", *_BY_NAME})
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
# the same reached as attributes (``B.eval`` of an ``import builtins as B``), and what
# walks frames, closures and class trees to objects no text names (``e.__traceback__.
# tb_frame.f_globals``, ``f.__closure__[0].cell_contents``, ``object.__subclasses__()``):
# a third red-team pass reached inference mode's class and torch.func through each
_REFLECTION_ATTRIBUTES = frozenset({
    "__dict__", "__getattribute__", "__getattr__", "__globals__", "__builtins__",
    *(_REFLECTION_CALLS - {"compile"}), "getattr", "tb_frame", "tb_next", "f_back",
    "f_locals", "f_globals", "f_builtins", "gi_frame", "cr_frame", "ag_frame", "__closure__",
    "cell_contents", "__subclasses__", "__traceback__", "_getframe", "currentframe",
    "__mro__", "__bases__", "__base__", "__code__", "__defaults__", "__kwdefaults__",
    "__func__", "__self__", "__wrapped__", "__reduce__", "__reduce_ex__"})
# the libraries (and parts of them) a text that computes by hand may reach: arithmetic on
# tensors and arrays, loops, numbers and a progress bar. Any other library may hold the
# forbidden function under a name no list knows (``scipy.signal.lfilter`` convolves,
# ``scipy.ndimage.grey_dilation`` max-pools, ``pydoc.locate`` turns a string into
# ``torch.sigmoid``): a fourth red-team pass reached each
BY_HAND_MODULES = ("torch", "numpy", "math", "cmath", "collections", "functools", "itertools",
                   "operator", "typing", "dataclasses", "copy", "numbers", "time", "random",
                   "statistics", "decimal", "fractions", "enum", "abc", "contextlib",
                   "warnings", "tqdm", "types.SimpleNamespace", "sys.float_info",
                   "sys.maxsize", "__future__")
# parts of those libraries that build functions from strings, files or graphs, or list
# the library's functions: never a by-hand text's (``torch.fx``'s ``call_method("sig" +
# "moid")``, ``numpy.f2py``)
_DOORS = ("torch.fx", "torch.jit", "torch.package", "torch.hub", "torch.library",
          "torch.overrides", "torch.utils.cpp_extension", "torch.utils.benchmark",
          "torch.utils.collect_env", "torch.export", "torch.compiler", "numpy.f2py",
          "numpy.ctypeslib", "numpy.lib.format", "numpy.lib.npyio", "numpy.testing")
# the same functions under another name (``ev = eval``, ``from operator import
# attrgetter as pick``, ``builtins.getattr``)
_REFLECTIVE = _REFLECTION_CALLS | {"getattr"}
_BUILTIN_GENERICS = frozenset({"list", "dict", "tuple", "set", "frozenset", "type"})
# what reads a function's annotations or signature back, in attributes' lower-case names
_ANNOTATION_READERS = re.compile(r"annotat|getfullargspec|getargspec|signature|getcallargs")


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

    ``name`` may be a ``def``, a lambda, or what ``functools.partial`` or a call of the
    student's own factory or class makes (``max_pool2d = partial(pool2d, mode="max")``,
    ``max_pool2d = Pool(...)``; also one part of ``a, b = ..., ...``); a helper is a
    function called by a bare name, given to ``partial``, or named as a value (``f =
    helper``, ``torch.vmap(helper)``) that is not a builtin or in ``skip`` (functions
    judged by checks of their own), read the same way, or a class. A helper whose text
    cannot be read is left out (library code, not the student's). ``name`` itself must
    be readable: a missing definition raises the bridge's error, a text that is none of
    these fails the check, and so does a function with more helpers than ``limit`` (or
    more names to look up than four times that): an unread helper could hold anything.
    """
    trees: dict[str, ast.Module] = {}
    queue, seen, lookups = [name], {name, *skip}, 0
    while queue:
        if lookups >= 4 * limit or len(trees) >= limit:
            fail(ja=f"{name} から呼ぶ関数が多すぎて読み切れません（{limit} 個まで）",
                 en=f"{name} uses too many functions to read (at most {limit})")
        current = queue.pop(0)
        lookups += 1
        try:
            text = submission.source(current)
        except (StudentError, SourceUnavailable):
            if current == name:
                raise
            continue
        tree = _readable(parse(text), current, helper=current != name)
        if tree is None:
            if current == name:
                fail(ja=f"{name} のコードを読み取れませんでした（def で定義してください）",
                     en=f"could not read {name}'s code (define it with def)")
            continue
        trees[current] = tree
        for callee in _callees(tree):
            if callee not in seen and callee not in BUILTINS:
                seen.add(callee)
                queue.append(callee)
    if name not in trees or not _made_by_own_code(trees[name], trees):
        fail(ja=f"{name} のコードを読み取れませんでした（def で定義してください）",
             en=f"could not read {name}'s code (define it with def)")
    return trees


def _readable(tree: ast.Module | None, name: str, *, helper: bool) -> ast.Module | None:
    """The text to read for ``name``: a function, a class (a helper), or the expression
    an assignment binds to ``name`` where it is a lambda or a call (``partial``, a
    factory, a class)."""
    if tree is None or not tree.body:
        return None
    first = tree.body[0]
    if is_function(tree) and not isinstance(first, ast.Assign):
        return tree
    if isinstance(first, ast.ClassDef):
        return tree if helper else None
    part = _bound_part(first, name) if isinstance(first, (ast.Assign, ast.AnnAssign)) else None
    if isinstance(part, ast.Lambda):
        return ast.Module(body=[ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())],
                                           value=part, lineno=1)], type_ignores=[])
    if isinstance(part, ast.Call):
        return ast.Module(body=[ast.Expr(value=part)], type_ignores=[])
    return None


def _bound_part(stmt: ast.Assign | ast.AnnAssign, name: str) -> ast.expr | None:
    """The expression ``stmt`` binds to ``name`` (element-wise for ``a, b = x, y``)."""
    targets: list[ast.expr] = list(stmt.targets) if isinstance(stmt, ast.Assign) \
        else [stmt.target]
    if stmt.value is None:
        return None
    return next((part for bound, part in assignment_pairs(targets, stmt.value)
                 if bound == name), None)


def _callees(tree: ast.Module) -> list[str]:
    """Names ``tree`` calls barely, functions it hands to ``partial``, then every other
    global name it reads (a helper handed on as a value: ``np.vectorize(cell)``); not a
    name the function around the call binds itself (a nested ``def layer`` is read as
    part of it, never a global ``layer = nn.Conv2d(...)`` of the notebook's)."""
    local = {id(node): scope for node, scope in _calls(tree)}
    found = []
    for node in ast.walk(tree):   # breadth first: the order of ``read_functions``
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Name) and node.func.id not in local[id(node)]:
            found.append(node.func.id)
        if _is_partial(node) and isinstance(node.args[0], ast.Name) \
                and node.args[0].id not in local[id(node)]:
            found.append(node.args[0].id)
    return found + free_names(tree)


def _is_partial(call: ast.Call) -> bool:
    func = call.func
    named = (isinstance(func, ast.Name) and func.id == "partial") or (
        isinstance(func, ast.Attribute) and func.attr == "partial")
    return named and bool(call.args)


def _made_by_own_code(tree: ast.Module, trees: Mapping[str, ast.Module]) -> bool:
    """A function, or a call of ``partial`` or of a factory or class read among
    ``trees`` (not a call of library code: ``max_pool2d = np.vectorize(...)``)."""
    first = tree.body[0]
    if not isinstance(first, ast.Expr) or not isinstance(first.value, ast.Call):
        return True
    call = first.value
    return _is_partial(call) or (isinstance(call.func, ast.Name) and call.func.id in trees)


def outside_names(submission: Submission, trees: Mapping[str, ast.AST], *,
                  local: Iterable[str] = ()) -> set[str]:
    """What these texts reach beyond the student's readable code, as far as the notebook's
    text tells: for a global name they call or read (``s(u)``, ``f = s``) that the
    notebook binds without a text, the last part of what it was imported as or assigned
    from (``sigmoid`` for ``s = torch.sigmoid`` or ``from torch import sigmoid as s``);
    for an object they reach into, what its statement names; ``RUN_TIME`` where only
    running the notebook decides it (``s = [torch.sigmoid][0]``), and for a name
    computed in the text (``getattr(torch, "sig" + "moid")``, ``eval``, ``globals()``,
    ``__dict__``). A constant ``getattr(m, "name")`` names ``name``. ``local``: names the
    caller knows to be bound by the texts' own scopes (a factory's parameters, which its
    inner function, read as a text of its own, calls). A global list they only fill
    (``_filled_lists``) reaches nothing."""
    found: set[str] = set()
    own = {*trees, *local, *_filled_lists(submission, trees)}
    hints = _type_hints(submission, trees)
    reads = {node.id for tree in trees.values() for node, scope in _scoped(tree)
             if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
             and node.id not in scope and id(node) not in hints}
    for name in reads - own:
        found |= _origin_word(submission.origin(name))
    for root in _attribute_roots_of(trees, skip=hints) - own:
        found |= _held_names(submission, root)
    for tree in trees.values():
        for node in ast.walk(tree):
            found |= _computed(node)
        found |= _handed_on(tree)
    return found


def _handed_on(tree: ast.AST) -> set[str]:
    """``RUN_TIME`` where ``getattr`` or a kin is used as a value rather than called
    (``[getattr][0](m, "gr" + "ad")``, ``reduce(getattr, names, m)``), or ``sys.modules``
    is read (a module by the string naming it; ``model.modules()`` is a call)."""
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    for node, local in _scoped(tree):
        if id(node) in called:
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) \
                and node.id in _REFLECTIVE and node.id not in local:
            return {RUN_TIME}
        if isinstance(node, ast.Attribute) and node.attr == "modules":
            return {RUN_TIME}
    return set()


def _type_hints(submission: Submission, trees: Mapping[str, ast.AST]) -> set[int]:
    """The nodes (ids) of annotations no call of the texts' functions evaluates: a local
    variable's in a function (``grads: Params = {}``: never evaluated), and a bare name
    annotating a parameter or the result of a function the texts define at their top, or
    of their classes' methods (``params: Params`` with ``Params = Dict[str,
    torch.Tensor]``; ``_plain_hint``: typing's generics over such names too): evaluated
    once where the ``def`` runs, running no code of the notebook's, and kept in
    ``__annotations__``, which only reflection reads (``_reflective_attribute``).
    Anything else in such an annotation (``STASH[G]``, ``A | B``) may run the notebook's
    code where the ``def`` runs, and is read."""
    found = {id(n) for tree in trees.values() for function in ast.walk(tree)
             if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
             for stmt in _own_scope(function) if isinstance(stmt, ast.AnnAssign)
             for n in ast.walk(stmt.annotation)}
    for tree in trees.values():
        body = tree.body if isinstance(tree, ast.Module) else [tree]
        methods = [m for c in body if isinstance(c, ast.ClassDef) for m in c.body]
        for function in [*body, *methods]:
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            a = function.args
            hints = [x.annotation for x in (*a.posonlyargs, *a.args, *a.kwonlyargs,
                                            a.vararg, a.kwarg) if x is not None]
            for hint in (*hints, function.returns):
                if hint is not None and _plain_hint(submission, hint):
                    found |= {id(n) for n in ast.walk(hint)}
    return found


def _plain_hint(submission: Submission, node: ast.expr) -> bool:
    """An annotation whose evaluation runs no code of the notebook's: a name or a
    string, a library's attribute (``torch.Tensor``), and a subscript of typing's or of
    a built-in generic (``Tuple[Params, List[float]]``, ``dict[str, Tensor]``) over such
    annotations."""
    if isinstance(node, ast.Name) or (isinstance(node, ast.Constant)
                                      and isinstance(node.value, (str, type(None)))):
        return True
    if isinstance(node, (ast.Tuple, ast.List)):
        return all(_plain_hint(submission, e) for e in node.elts)
    if isinstance(node, ast.Attribute):
        return _library_path(submission, node) is not None
    if isinstance(node, ast.Subscript):
        base = node.value.id if isinstance(node.value, ast.Name) else None
        generic = (base in _BUILTIN_GENERICS and submission.origin(base) is None) or \
            (_library_path(submission, node.value) or "").startswith("typing.")
        return generic and _plain_hint(submission, node.slice)
    return False


def _library_path(submission: Submission, node: ast.expr) -> str | None:
    """The dotted library path a name or an attribute chain of one stands for by the
    notebook's text (``typing.Dict`` for ``Dict`` after ``from typing import Dict``), or
    None (the notebook's own, or decided at run time)."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    origin = submission.origin(node.id) if isinstance(node, ast.Name) else None
    if origin is None or origin == RUN_TIME:
        return None
    return ".".join([origin, *reversed(parts)])


def _own_scope(function: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[ast.AST]:
    """The nodes of a function's own scope: not inside the functions, lambdas and classes
    it defines."""
    stack: list[ast.AST] = list(function.body)
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                                 ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))


def _filled_lists(submission: Submission, trees: Mapping[str, ast.AST]) -> set[str]:
    """Global names these texts use only to fill a list (``LOSSES.append(v)``, the
    result dropped) and to return it, where the notebook's text shows that list
    (``holds_list``): the call runs list's own method, no code of the notebook's or a
    library's, whatever it stores."""
    receivers = {id(name): name.id for tree in trees.values() for name in list_fillings(tree)}
    returned = {id(node) for tree in trees.values() for stmt in ast.walk(tree)
                if isinstance(stmt, ast.Return) and stmt.value is not None
                for node in (stmt.value.elts if isinstance(stmt.value, ast.Tuple)
                             else [stmt.value])}   # ``return params, LOSSES``
    other = {node.id for tree in trees.values() for node, local in _scoped(tree)
             if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
             and node.id not in local and id(node) not in receivers.keys() | returned}
    return {name for name in set(receivers.values()) - other if submission.holds_list(name)}


def prohibited(submission: Submission, trees: Mapping[str, ast.AST], names: Iterable[str],
               families: Iterable[str] = (), *, used: Iterable[str] | None = None,
               local: Iterable[str] = (),
               modules: tuple[str, ...] | None = BY_HAND_MODULES) -> set[str]:
    """What of a prohibition these texts (``read_functions``) may use: each of ``names``
    among what they take from a library (``used``, by default ``library_names``) and
    what they reach beyond their own code (``outside_names``); a name of a library
    function, or the whole dotted name a global was imported or assigned from, matching
    one of ``families`` (regular expressions, searched in the lower-case name: ``conv(?!
    er)`` is every convolution, ``mkldnn_convolution`` and ``conv_tbc`` included); and
    ``RUN_TIME``; a library's private part (``torch._decomp``, ``_C``: its tables hold
    every function under no public name); and what they reach outside ``modules``
    (``outside_modules``; ``None``: not asked). Neither counts the texts' own methods
    and attributes read from their own objects only (``own_attributes``: a
    ``self.convolve`` of the student's). A list of names alone misses the library's
    other doors to the same function (``F.elu(u, alpha=0)`` is a ReLU)."""
    own = own_attributes(trees)
    taken = (library_names(trees) if used is None else set(used)) - own
    outside = outside_names(submission, trees, local=local)
    found = (taken | outside) & {*names, RUN_TIME}
    found |= {n for n in outside if _private(n)}
    if modules is not None:
        found |= outside_modules(submission, trees, modules, local=local)
    candidates = taken | outside | imported_names(trees) | \
        origin_paths(submission, trees, local=local)
    patterns = [re.compile(f) for f in families]
    matched = {n for n in candidates - {RUN_TIME} if any(p.search(n.lower()) for p in patterns)}
    words = found | {n for n in matched if "." not in n}
    # a dotted name only where its last part is not said already (``torch.sigmoid``)
    return words | {n for n in matched - words if n.rsplit(".", 1)[-1] not in words}


def outside_modules(submission: Submission, trees: Mapping[str, ast.AST],
                    modules: tuple[str, ...] = BY_HAND_MODULES, *,
                    local: Iterable[str] = ()) -> set[str]:
    """The dotted names these texts reach outside ``modules`` (each a module or a part
    of one: ``numpy`` allows ``numpy.fft``): what the globals they read were imported or
    assigned from, what they import, and modules reached through an allowed one's
    attributes (``torch.ctypes`` is ``ctypes``: ``module_hops``)."""
    paths = _reached_paths(submission, trees, local) | imported_paths(trees) | \
        module_hops(submission, trees)
    return {path for path in paths
            if not _within(path, modules) or _within(path, _DOORS) or _private(path)}


def _within(path: str, modules: Iterable[str]) -> bool:
    return any(path == m or path.startswith(m + ".") for m in modules)


def _private(path: str) -> bool:
    """A library's private part (``torch._decomp``, ``_C``): its tables hold every
    function under no public name."""
    return any(part.startswith("_") and not part.startswith("__") for part in path.split("."))


def _reached_paths(submission: Submission, trees: Mapping[str, ast.AST],
                   local: Iterable[str]) -> set[str]:
    """The library paths the globals these texts read stand for, followed along the
    attributes read from them (``timeit.default_timer`` for ``timeit.default_timer()``,
    ``numpy.exp`` for ``exp = np.exp``, ``torch.fx`` and ``torch.fx.Graph`` for
    ``torch.fx.Graph()``); a global read only through attributes is not itself one."""
    own = {*trees, *local}
    uses: dict[str, set[tuple[str, ...]]] = {}
    for tree in trees.values():
        roots = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        for node, scope in _scoped(tree):
            chain: tuple[str, ...] | None = None
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) \
                    and id(node) not in roots:
                chain = (node.id,)
            elif isinstance(node, ast.Attribute):
                chain = _attribute_chain(node)
            if chain is not None and chain[0] not in scope and chain[0] not in own:
                uses.setdefault(chain[0], set()).add(chain[1:])
    found: set[str] = set()
    for name, tails in uses.items():
        origin = submission.origin(name)
        path = _as_library(submission, origin) if origin not in (None, RUN_TIME) else None
        if path is not None:
            found |= {".".join((path, *tail)) for tail in tails}
    return found


def _as_library(submission: Submission, origin: str) -> str | None:
    """``origin`` (what a global was assigned from) as a library's dotted name: its
    first part followed where the notebook imported it under another name (``np.exp``
    is ``numpy.exp``); None where that first part is none of the notebook's imports nor
    a module (``cfg.eps`` of the student's own object)."""
    head, dot, rest = origin.partition(".")
    bound = submission.origin(head)
    if bound is not None and bound != RUN_TIME:
        return bound + dot + rest if bound != head else origin
    if head in sys.modules:
        return origin
    try:
        return origin if importlib.util.find_spec(head) is not None else None
    except (ImportError, ValueError):
        return None


def module_hops(submission: Submission, trees: Mapping[str, ast.AST]) -> set[str]:
    """The modules these texts reach as attributes of a module (``torch.ctypes``,
    ``plt.importlib``: a module imports others, and keeps them as attributes), by the
    names the grader's own copies give them. Only modules the grader has imported
    already are looked into (``sys.modules``): a student's text imports nothing here."""
    chains: dict[str, set[tuple[str, ...]]] = {}
    aliases = _import_aliases(trees)
    for tree in trees.values():
        for node, local in _scoped(tree):
            chain = _attribute_chain(node) if isinstance(node, ast.Attribute) else None
            if chain is not None and chain[0] not in trees \
                    and (chain[0] not in local or chain[0] in aliases):
                chains.setdefault(chain[0], set()).add(chain[1:])
    found: set[str] = set()
    for root, tails in chains.items():
        origin = aliases.get(root) or submission.origin(root)
        start = sys.modules.get(origin) if origin else None
        for tail in tails:
            found |= _modules_along(start, tail)
    return found


def _modules_along(module: object, tail: tuple[str, ...]) -> set[str]:
    """The modules met walking ``tail``'s attributes down from ``module``, as long as
    each step is a module (its own dictionary: no lazy import is started)."""
    found: set[str] = set()
    for attr in tail:
        if not isinstance(module, types.ModuleType):
            break
        module = vars(module).get(attr)
        if isinstance(module, types.ModuleType):
            found.add(module.__name__)
    return found


def _attribute_chain(node: ast.Attribute) -> tuple[str, ...] | None:
    """``("torch", "ctypes", "CDLL")`` for ``torch.ctypes.CDLL``; None where something
    other than names and attributes stands in it."""
    path = dotted_name(node)
    return None if path is None else tuple(path.split("."))


def _imports(trees: Mapping[str, ast.AST]) -> Iterator[tuple[str, str | None, str]]:
    """Each name the texts' own imports bind: the name, the module or object it is bound
    to (None for a relative import), and the whole dotted name imported. ``import
    torch.nn`` binds ``torch`` to ``torch`` and imports ``torch.nn``; ``import torch as
    t`` binds ``t`` to ``torch``; ``from torch.func import grad as g`` binds ``g`` to
    ``torch.func.grad``."""
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    head = alias.name.split(".")[0]
                    yield (alias.asname or head, alias.name if alias.asname else head,
                           alias.name)
            elif isinstance(node, ast.ImportFrom):
                absolute = bool(node.module) and not node.level
                prefix = f"{node.module}." if node.module else ""
                for alias in node.names:
                    yield (alias.asname or alias.name,
                           prefix + alias.name if absolute else None, prefix + alias.name)


def _import_aliases(trees: Mapping[str, ast.AST]) -> dict[str, str]:
    """What the texts' own imports bind, to the module named (``t`` to ``torch`` for
    ``import torch as t``, ``torch`` for ``import torch.nn``, ``nn`` to ``torch.nn``)."""
    return {name: bound for name, bound, _ in _imports(trees) if bound is not None}


def imported_names(trees: Mapping[str, ast.AST]) -> set[str]:
    """What the texts import inside themselves: each name's last part and its whole
    dotted name (``grad`` and ``torch.func.grad`` for ``from torch.func import grad as
    g``)."""
    paths = imported_paths(trees)
    return paths | {path.rsplit(".", 1)[-1] for path in paths}


def imported_paths(trees: Mapping[str, ast.AST]) -> set[str]:
    """The whole dotted names the texts import inside themselves (``torch.func.grad``
    for ``from torch.func import grad as g``, ``a.b`` for ``import a.b``)."""
    return {path for _, _, path in _imports(trees)}


def origin_paths(submission: Submission, trees: Mapping[str, ast.AST], *,
                 local: Iterable[str] = ()) -> set[str]:
    """The whole dotted names the globals these texts read were imported or assigned
    from (``torch.distributions.Bernoulli`` for ``Bernoulli``)."""
    own = {*trees, *local}
    names = {n for tree in trees.values() for n in free_names(tree)} - own
    found = {submission.origin(name) for name in names}
    return {origin for origin in found if origin is not None and origin != RUN_TIME}


def own_attributes(trees: Mapping[str, ast.AST]) -> set[str]:
    """Attribute names the texts themselves define (methods and class attributes of
    their classes, attributes they assign: ``self.kernel = ...``) and read only from
    their own objects: a method's instance (``self.convolve``), one of their classes
    (``K.f``) or what calling one makes (``Window(size).convert``, also kept in a local:
    ``bp = Backprop(p); bp.output_grad(...)``). Not a name read
    from anything else as well (``self.max_pool3d = F.max_pool3d``, ``G.max_pool3d``
    with ``G = torch.nn.functional``, ``u.sigmoid()`` on a parameter): there it is the
    library's, whatever the texts also define under that name."""
    classes = {n.name for tree in trees.values() for n in ast.walk(tree)
               if isinstance(n, ast.ClassDef)} | {name for name, tree in trees.items()
                                                  if _is_class_text(tree)}
    own_reads = {id(node) for node in _instance_reads(trees)} | \
        {id(node) for node in _made_instance_reads(trees, classes)}
    found: set[str] = set()
    foreign: set[str] = set()
    for tree in trees.values():
        for node, local in _scoped(tree):
            if isinstance(node, ast.ClassDef):
                found |= _stored(node.body)
            elif isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Load):
                found.add(node.attr)
            elif isinstance(node, ast.Attribute) and id(node) not in own_reads \
                    and not _own_class(node.value, classes, local):
                foreign.add(node.attr)
    return found - foreign


def _is_class_text(tree: ast.AST) -> bool:
    body = tree.body if isinstance(tree, ast.Module) else []
    return len(body) == 1 and isinstance(body[0], ast.ClassDef)


def _own_class(node: ast.expr, classes: set[str], local: frozenset[str]) -> bool:
    """``K`` or ``K(...)`` for a class ``K`` of the texts (not a local of that name)."""
    if isinstance(node, ast.Call):
        node = node.func
    return isinstance(node, ast.Name) and node.id in classes and node.id not in local


def _instance_reads(trees: Mapping[str, ast.AST]) -> Iterator[ast.Attribute]:
    """``self.x`` inside the methods of the texts' classes (not static ones), where
    ``self`` is the method's first parameter and nothing rebinds it."""
    for tree in trees.values():
        for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            for method in cls.body:
                if not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                        or not method.args.args or any(
                            isinstance(d, ast.Name) and d.id == "staticmethod"
                            for d in method.decorator_list):
                    continue
                instance = method.args.args[0].arg
                if instance in _stored(method.body):
                    continue
                yield from _reads_of(method.body, instance)


def _made_instance_reads(trees: Mapping[str, ast.AST], classes: set[str]
                         ) -> Iterator[ast.Attribute]:
    """``bp.x`` in a function where every binding of the local ``bp`` is ``bp =
    K(...)`` for a class ``K`` of the texts."""
    for tree in trees.values():
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            local = _defined_in(function)
            made, other = _instance_bindings(function.body, classes - local)
            for name in made - other - _parameters(function):
                yield from _reads_of(function.body, name)


def _instance_bindings(body: list[ast.stmt], classes: set[str]) -> tuple[set[str], set[str]]:
    """Names this scope binds only as ``name = K(...)`` (first) and in any other way
    (second); nested scopes are theirs."""
    made: set[str] = set()
    targets: set[int] = set()
    stack: list[ast.AST] = list(body)
    nodes: list[ast.AST] = []
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda,
                             *_COMPREHENSIONS)):
            nodes.append(node)   # it binds its own name here (a def/class), nothing else
            continue
        if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Call) \
                and isinstance(node.value.func, ast.Name) and node.value.func.id in classes:
            made.add(node.targets[0].id)
            targets.add(id(node.targets[0]))
        nodes.append(node)
        stack.extend(ast.iter_child_nodes(node))
    other: set[str] = set()
    for node in nodes:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda,
                             *_COMPREHENSIONS)):
            # a walrus in a comprehension or a default binds here: any, anywhere inside
            other |= {n.target.id for n in ast.walk(node)
                      if isinstance(n, ast.NamedExpr) and isinstance(n.target, ast.Name)}
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            other.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            other |= set(node.names)
        elif id(node) not in targets:
            other |= _binds(node)
    return made, other


def _parameters(function: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> set[str]:
    args = function.args
    return {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs,
                            *(x for x in (args.vararg, args.kwarg) if x is not None)]}


def _reads_of(body: list[ast.stmt], name: str) -> Iterator[ast.Attribute]:
    """``name.x`` read in ``body``, also in nested functions that do not bind ``name``."""
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) \
                and name in _defined_in(node):
            continue
        if isinstance(node, _COMPREHENSIONS) and name in _stored(node.generators):
            continue
        if isinstance(node, ast.ClassDef):
            continue
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load) \
                and isinstance(node.value, ast.Name) and node.value.id == name:
            yield node
        stack.extend(ast.iter_child_nodes(node))


def listed(names: Iterable[str]) -> tuple[str, str]:
    """``names`` for a message, Japanese and English (``RUN_TIME`` said in words)."""
    ordered = sorted(names)
    words = {RUN_TIME: ("実行時に決まる名前（getattr・eval など）",
                        "a name decided at run time (getattr, eval...)"),
             TOO_MANY: ("読み切れないほど多くの関数", "more functions than can be read")}
    ja = [words[n][0] if n in words else n for n in ordered]
    en = [words[n][1] if n in words else n for n in ordered]
    return "、".join(ja), ", ".join(en)


def _origin_word(origin: str | None) -> set[str]:
    """What an origin names for the prohibition lists: ``RUN_TIME``, or the last part
    of a dotted name (``sigmoid`` of ``torch.sigmoid``)."""
    if origin is None:
        return set()
    last = origin.rsplit(".", 1)[-1]
    return {RUN_TIME if origin == RUN_TIME or last in _REFLECTIVE else last}


def _attribute_roots_of(trees: Mapping[str, ast.AST], *,
                        skip: Container[int] = frozenset()) -> set[str]:
    """Global names these texts reach an attribute of (``lib`` in ``lib.s(u)`` or ``f =
    lib.s``), not their own bindings; not in the nodes ``skip`` holds (ids)."""
    found: set[str] = set()
    for tree in trees.values():
        for node, local in _scoped(tree):
            root = _root_name(node) if isinstance(node, ast.Attribute) \
                and id(node) not in skip else None
            if root is not None and root not in local and root not in trees:
                found.add(root)
    return found


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _held_names(submission: Submission, root: str) -> set[str]:
    """What calling through a global object may reach, by its text: ``RUN_TIME`` where
    the run decides what it is; for an object the notebook builds (``lib =
    SimpleNamespace(s=torch.sigmoid)``), the attributes its statement names and what the
    names it uses were imported as (``sigmoid``). A module (``torch.exp``) or a
    ``def``/``class`` adds nothing here; ``builtins`` is reflection (``builtins.eval``)."""
    origin = submission.origin(root)
    if origin is not None:   # ``builtins.getattr``, ``builtins.eval``: reflection
        return {RUN_TIME} if origin in (RUN_TIME, "builtins") else set()
    try:
        tree = parse(submission.source(root))
    except (StudentError, SourceUnavailable):
        return set()
    statement = tree.body[0] if tree is not None and tree.body else None
    if not isinstance(statement, (ast.Assign, ast.AnnAssign)) or statement.value is None:
        return set()
    found: set[str] = set()
    for node in ast.walk(statement.value):
        if isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.Name) and node.id != root:
            found |= _origin_word(submission.origin(node.id))   # an import, an alias
    return found


def _reflective_attribute(name: str) -> bool:
    """An attribute that reaches a name computed at run time or a function's annotations
    (read as ``x.name`` or as ``getattr(x, "name")`` alike)."""
    return name in _REFLECTION_ATTRIBUTES or bool(_ANNOTATION_READERS.search(name.lower()))


def _computed(node: ast.AST) -> set[str]:
    """What one node names by computing it: ``RUN_TIME``, a constant ``getattr``'s name."""
    if (isinstance(node, ast.Attribute) and _reflective_attribute(node.attr)) \
            or (isinstance(node, ast.Name) and node.id == "__builtins__"):
        return {RUN_TIME}
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        return set()
    if node.func.id in ("getattr", "hasattr") and len(node.args) >= 2:
        name = node.args[1]
        if isinstance(name, ast.Constant) and isinstance(name.value, str) \
                and not _reflective_attribute(name.value):
            return {name.value}
        return {RUN_TIME}
    return {RUN_TIME} if node.func.id in _REFLECTION_CALLS else set()


def names_read(trees: Mapping[str, ast.AST]) -> set[str]:
    """Every bare name these texts read or call (``forward`` in ``forward(X, p)``)."""
    return {n.id for t in trees.values() for n in ast.walk(t) if isinstance(n, ast.Name)}


def attribute_names(trees: Mapping[str, ast.AST]) -> set[str]:
    """Every attribute these texts name (``grad`` in ``torch.autograd.grad``)."""
    return {n.attr for t in trees.values() for n in ast.walk(t) if isinstance(n, ast.Attribute)}


def library_names(trees: Mapping[str, ast.AST]) -> set[str]:
    """What these texts may take from a library: every attribute named (``F.conv2d``,
    ``f = torch.conv2d``), the last part of every name imported inside them, and every
    function called by a bare name that is not one of ``trees`` or defined inside them
    (its text could not be read: not the student's own)."""
    used: set[str] = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                used.add(node.attr)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                used |= {alias.name.split(".")[-1] for alias in node.names}
        used |= _bare_calls(tree, own=set(trees))
    return used


def _bare_calls(tree: ast.AST, *, own: set[str]) -> set[str]:
    """Functions ``tree`` calls by a bare name that is neither in ``own`` nor defined
    inside the function that calls it (a nested ``def correlate`` in ``conv2d`` is the
    student's code, read as part of it, whatever its name)."""
    return {call.func.id for call, local in _calls(tree) if isinstance(call.func, ast.Name)
            and call.func.id not in own and call.func.id not in local}


def _calls(tree: ast.AST) -> Iterator[tuple[ast.Call, frozenset[str]]]:
    """Every call in ``tree``, with the names the functions around it bind themselves."""
    return ((node, local) for node, local in _scoped(tree) if isinstance(node, ast.Call))


def free_names(tree: ast.AST) -> list[str]:
    """The global names ``tree`` reads (calls or uses as values), in the order of the
    text: every name loaded that the functions around it do not bind themselves."""
    found = [(getattr(node, "lineno", 0), getattr(node, "col_offset", 0), node.id)
             for node, local in _scoped(tree)
             if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
             and node.id not in local]
    return list(dict.fromkeys(name for *_, name in sorted(found)))


def _scoped(tree: ast.AST) -> Iterator[tuple[ast.AST, frozenset[str]]]:
    """Every node of ``tree``, with the names the scopes around it bind themselves
    (functions, comprehensions, class bodies). What a ``def``, lambda or class evaluates
    where it is defined (decorators, default values, bases) is read in the scope around
    it: in ``def relu(u, threshold=threshold)`` the default is the global's."""
    stack: list[tuple[ast.AST, frozenset[str]]] = [(tree, frozenset())]
    while stack:
        node, outer = stack.pop()
        local = outer
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            local = outer | _defined_in(node)
        elif isinstance(node, _COMPREHENSIONS):
            local = outer | _stored(node.generators)
        elif isinstance(node, ast.ClassDef):
            local = outer | _stored(node.body)
        yield node, local
        around = {id(part) for part in run_at_definition(node)}
        stack.extend((child, outer if id(child) in around else local)
                     for child in _children(node))


def _children(node: ast.AST) -> Iterator[ast.AST]:
    """``ast.iter_child_nodes``, with what a function's ``arguments`` and a keyword
    argument hold as children of their own: a default and a class keyword's value are
    read in the enclosing scope (``run_at_definition``), the parameters in the function's."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.arguments):
            yield from (d for d in (*child.defaults, *child.kw_defaults) if d is not None)
            yield from (a for a in (*child.posonlyargs, *child.args, *child.kwonlyargs,
                                    *filter(None, (child.vararg, child.kwarg))))
        elif isinstance(child, ast.keyword):
            yield child.value
        else:
            yield child


def _stored(nodes: Iterable[ast.AST]) -> frozenset[str]:
    """Names bound by these nodes' own statements and targets (nested functions and
    classes bind their names only)."""
    found: set[str] = set()
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
            continue
        if isinstance(node, ast.Lambda):
            continue
        found |= _binds(node)
        stack.extend(ast.iter_child_nodes(node))
    return frozenset(found)


def _binds(node: ast.AST) -> set[str]:
    """The names one node binds: a stored name, an import, ``except ... as e``, a
    ``match`` capture."""
    if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
        return {node.id}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    if isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
        return {node.name}
    if isinstance(node, ast.MatchMapping) and node.rest:
        return {node.rest}
    return set()


def _defined_in(function: ast.AST) -> frozenset[str]:
    """The names a function binds in its own scope: its parameters, nested ``def``s, and
    what it assigns (a bare call of one of them is no global: ``f(v)`` with ``f`` a
    parameter; not what its own nested functions or classes bind)."""
    found = _parameters(function) if isinstance(
        function, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) else set()
    body = function.body if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) \
        else []
    return frozenset(found) | _stored(body)


__all__ = ["BUILTINS", "BY_HAND_MODULES", "MAX_FUNCTIONS", "RUN_TIME", "TOO_MANY",
           "attribute_names", "free_names", "imported_names", "is_function", "library_names",
           "listed", "module_hops", "names_read", "origin_paths", "outside_modules",
           "outside_names", "own_attributes", "parse", "prohibited", "read_functions"]
