"""What a name runs, as fingerprints of its code (the bridge's ``codes`` request).

Structure checks read the notebook's *text* (``notebook_source``); behaviour checks run
the kernel's *object*. Where the two differ (a name rebound through ``exec`` or
``globals()``, a function's ``__code__`` or defaults replaced by reflection, an input
transformer that rewrites later cells, a decoy after a statement that stopped the cell),
the text describes something that does not run. The grader therefore also compiles the
text itself and compares fingerprints of the code objects with the ones this module
reports for the live objects; a text whose fingerprint is not the running one earns
nothing (``autograder/engine/bridge/code_identity.py``).

This is a restriction only: the kernel's answer can take a text away, never give one
(a kernel that lies here can at most keep what its text already earned). The grader
loads this very file by path to compute its own side, so both sides have one definition
of a fingerprint. It imports only the standard library, and reads student objects
without running their code: exact built-in types only, attributes of C types only.
"""

import builtins as _builtins_module
import collections as _collections
import functools as _functools
import hashlib as _hashlib
import sys as _sys
from typing import Any

_type: Any = (0).__class__.__class__
_int: Any = (0).__class__
_float: Any = (0.0).__class__
_complex: Any = (0j).__class__
_str: Any = "".__class__
_bytes: Any = b"".__class__
_bool: Any = True.__class__
_none: Any = None.__class__
_ellipsis: Any = (...).__class__
_list: Any = [].__class__
_tuple: Any = ().__class__
_dict: Any = {}.__class__
_frozenset: Any = frozenset().__class__
_function: Any = (lambda: 0).__class__
_code: Any = (lambda: 0).__code__.__class__
_method: Any = (lambda: 0).__get__(0).__class__
_staticmethod: Any = staticmethod
_classmethod: Any = classmethod
_property: Any = property
_partial: Any = _functools.partial
_lru_wrapper: Any = _functools.lru_cache(lambda: 0).__class__
_getset: Any = _type.__dict__["__dict__"].__class__
_sha256 = _hashlib.sha256
_repr = repr
_sorted = sorted
_callable = callable
_len = len
_range = range
_set = set
_dict_get = _dict.get
_proxy_get: Any = _type.__dict__.__class__.get   # a class's ``__dict__`` (mappingproxy)
_module: Any = _sys.__class__
_module_dict: Any = _module.__dict__["__dict__"].__get__   # a module's own ``__dict__``
_MODULES = _sys.modules   # the interpreter's table, as the kernel started

_type_flags: Any = _type.__dict__["__flags__"].__get__
_member: Any = _type.__dict__["__basicsize__"].__class__   # a C struct member's descriptor
_HEAPTYPE = 1 << 9        # a class made by a ``class`` statement, not a C type
_TYPE_SUBCLASS = 1 << 31  # the object is a class of a metaclass (``Py_TPFLAGS_TYPE_SUBCLASS``)
NATIVE_FUNCTION = "native:fn:"   # a C function inside an object, by the name it carries

_gettrace = _sys.gettrace
_getprofile = _sys.getprofile
_setprofile = _sys.setprofile
# what ``collections.namedtuple``'s generated methods hold, as the kernel started: their
# module's globals, ``__new__``'s ``_tuple_new``, and the objects their closures capture
_COLLECTIONS = _collections.__dict__
_TUPLE_NEW = _tuple.__new__
_GENERATED_HELD = (len, _TUPLE_NEW, map, dict, zip, _tuple)
_get_tool = getattr(getattr(_sys, "monitoring", None), "get_tool", None)   # 3.12+
_BUILTINS = _builtins_module.__dict__
_PRISTINE = dict(_BUILTINS)   # as the kernel started, before any student code
_MISSING = object()
_MAX_SHADOWED = 200

_LITERALS = (_int, _float, _complex, _str, _bytes, _bool, _none, _ellipsis)
_FLAGS = 0xFFFF           # co_flags without the ``__future__`` bits a cell may inherit
_MAX_DEPTH = 20           # nested code objects
_MAX_SEEN = 300           # objects one description visits
CACHE_TAG = _sys.implementation.cache_tag   # bytecode of another Python is not comparable


def literal(value: Any) -> str:
    """A constant as text, for exact built-in literal types only ("?" otherwise)."""
    t = _type(value)
    for known in _LITERALS:   # by identity: a metaclass's ``__eq__`` is student code
        if t is known:
            return t.__name__ + ":" + _repr(value)
    if t is _tuple:
        return "(" + ",".join([literal(v) for v in value]) + ")"
    if t is _frozenset:
        return "{" + ",".join(_sorted([literal(v) for v in value])) + "}"
    return "?"


def _form(code: Any, depth: int) -> str:
    consts = [_form(c, depth + 1) if _type(c) is _code and depth < _MAX_DEPTH else literal(c)
              for c in code.co_consts]
    names = [literal(n) for n in (*code.co_names, "|", *code.co_varnames, "|",
                                  *code.co_freevars, "|", *code.co_cellvars)]
    return "<" + "/".join([
        literal(code.co_name), literal(code.co_qualname), literal(code.co_argcount),
        literal(code.co_posonlyargcount), literal(code.co_kwonlyargcount),
        literal(code.co_flags & _FLAGS), code.co_code.hex(), ",".join(consts),
        ",".join(names)]) + ">"


def fingerprint(code: Any) -> str:
    """A code object's fingerprint: its bytecode, constants (nested code included),
    names and signature shape; not its file name, line numbers or ``__future__`` flags."""
    return _sha256(_form(code, 0).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _default(value: Any) -> str:
    """A default value: a literal, or the fingerprint of a function's code."""
    if _type(value) is _function:
        return "code:" + fingerprint(value.__code__)
    return literal(value)


def _defaults(fn: Any) -> list[str]:
    found = [_default(v) for v in (fn.__defaults__ or ())]
    kw = fn.__kwdefaults__
    if _type(kw) is _dict:
        pairs = [[k, v] for k, v in kw.items() if _type(k) is _str]
        found += [k + "=" + _default(v) for k, v in _sorted(pairs)]   # keys are unique
    return found


def shadowed(namespace: Any) -> list[str]:
    """Built-in names the notebook's namespace holds, or that ``builtins`` no longer
    maps to what it did at start (``int = pick``; ``exec("builtins.int = ...")``)."""
    found = [name for name in namespace if _type(name) is _str and name in _PRISTINE
             and not (name.startswith("__") and name.endswith("__"))]
    found += [name for name, value in _PRISTINE.items()
              if _dict_get(_BUILTINS, name, _MISSING) is not value]
    return _sorted(_set(found))[:_MAX_SHADOWED]


def traced() -> bool:
    """A trace function is installed: it may rewrite any function's locals as it runs."""
    return _gettrace() is not None


def watched(run: Any, check: Any) -> tuple[Any, bool]:
    """``run()`` with ``check()`` made at every call and return of this thread (Python
    and C functions alike); the result, and whether ``check()`` ever failed or the watch
    was replaced. A mode left and entered again inside ``run`` (``_InferenceMode(False)``)
    cannot call anything while it is left without being seen."""
    failed: list[bool] = []

    def watch(frame: Any, event: Any, arg: Any) -> None:
        if not failed and check() is not True:
            failed.append(True)

    _setprofile(watch)
    try:
        result = run()
    finally:
        replaced = _getprofile() is not watch
        _setprofile(None)
    return result, replaced or bool(failed)


def hooked() -> bool:
    """A trace or profile function is installed in this thread, or a ``sys.monitoring``
    tool (Python 3.12+): code of the notebook's runs on every call and return."""
    tools = [_get_tool(i) for i in _range(6)] if _get_tool is not None else []
    return _gettrace() is not None or _getprofile() is not None or any(
        t is not None for t in tools)


def _as_generated(fn: Any) -> bool:
    """False for a function that looks like one ``collections.namedtuple`` generates but
    holds something else: a ``__new__`` over a namespace other than its own (only
    ``_tuple_new``, the real ``tuple.__new__``, and empty builtins), or a function over
    collections' globals capturing anything but numbers, strings and the builtins the
    generated methods capture. True for every other function (not namedtuple's)."""
    space, cells = fn.__globals__, fn.__closure__ or ()
    if _type(space) is _dict and "_tuple_new" in space:
        held = _dict_get(space, "__builtins__")
        return _len(space) == 3 and _dict_get(space, "_tuple_new") is _TUPLE_NEW \
            and "__name__" in space and _type(held) is _dict and _len(held) == 0 and not cells
    if space is not _COLLECTIONS:
        return True
    return all(_generated_held(_contents(cell)) for cell in cells)


def _generated_held(value: Any) -> bool:
    """A number, a string, a tuple of strings, or a builtin namedtuple's closures hold."""
    t = _type(value)
    if t is _int or t is _str:
        return True
    if t is _tuple:
        return all(_type(part) is _str for part in value)
    return any(value is held for held in _GENERATED_HELD)


class _Walk:
    """The code reachable from one object, without running any of the student's code."""

    def __init__(self, namespace: Any):
        self.namespace = namespace
        self.codes: list[str] = []
        self.instance_methods: list[list[str]] = []   # of the classes of instances met
        self.foreign: list[str] = []   # functions over another module's globals
        self.seen = 0

    def function(self, fn: Any) -> str:
        digest = fingerprint(fn.__code__)
        if fn.__globals__ is not self.namespace and not _as_generated(fn):
            # namedtuple's code over other globals or captured objects: not what it makes
            digest = "changed:" + digest
        self.codes.append(digest)
        if fn.__globals__ is not self.namespace:
            self.foreign.append(digest)
        return digest

    def methods(self, cls: Any) -> list[list[str]]:
        """``[name, fingerprint]`` of the functions a class's own dictionary holds."""
        found = []
        for name, value in _class_dict(cls).items():
            if _type(name) is not _str:
                continue
            t = _type(value)
            if t is _staticmethod or t is _classmethod:
                value, t = value.__func__, _type(value.__func__)
            if t is _function:
                found.append([name, self.function(value)])
            elif t is _property:
                found += [[name + "." + part, self.function(f)]
                          for part, f in (("fget", value.fget), ("fset", value.fset),
                                          ("fdel", value.fdel)) if _type(f) is _function]
            elif _callable(value):   # ``__call__ = staticmethod(operator.ne)``: C code
                self.codes.append("native:" + name)
                found.append([name, "native"])
        return _sorted(found)

    def user_class(self, cls: Any) -> bool:
        """A class the notebook defined (its module is the notebook's namespace)."""
        if _type(cls) is not _type:
            return False
        module, here = _proxy_get(cls.__dict__, "__module__"), _dict_get(self.namespace, "__name__")
        return _type(module) is _str and _type(here) is _str and module == here

    def inside(self, obj: Any, depth: int) -> bool:
        """Record the code inside ``obj``; False for a callable with none (C code)."""
        self.seen += 1
        if depth > 4 or self.seen > _MAX_SEEN:
            return True
        t = _type(obj)
        if t is _function:
            self.function(obj)
            for cell in obj.__closure__ or ():   # a factory's captured functions
                self.inside(_contents(cell), depth + 1)
            self.inside(_dict_get(obj.__dict__, "__wrapped__"), depth + 1)
            return True
        if t is _lru_wrapper:
            return self.inside(_dict_get(obj.__dict__, "__wrapped__"), depth + 1)
        if t is _method:
            return self.inside(obj.__func__, depth + 1)
        if t is _partial:
            for part in (*obj.args, *obj.keywords.values()):
                self.inside(part, depth + 1)
            return self.inside(obj.func, depth + 1)
        if t is _list or t is _tuple:
            for part in obj:
                self.inside(part, depth + 1)
            return True
        if t is _dict:
            for part in obj.values():
                self.inside(part, depth + 1)
            return True
        if t is _type:
            self.methods(obj)
            return True
        if self.user_class(t):
            return self.instance(obj, t, depth)
        name = _native_name(obj) if _callable(obj) else None
        if name is not None:   # ``torch.exp`` in a container: which one it is
            self.codes.append(NATIVE_FUNCTION + name)
        return not _callable(obj)

    def instance(self, obj: Any, cls: Any, depth: int) -> bool:
        for base in cls.__mro__:
            if self.user_class(base):
                self.instance_methods += self.methods(base)
        slot = _proxy_get(cls.__dict__, "__dict__")
        if _type(slot) is _getset:
            state = slot.__get__(obj)
            if _type(state) is _dict:
                for part in state.values():
                    self.inside(part, depth + 1)
        return True


def _native_name(obj: Any) -> Any:
    """The name a C function carries (``exp`` for ``torch.exp``, ``special_expit`` for
    ``torch.special.expit``), read through its C type's own descriptor so that no
    student code runs; None for anything else."""
    t = _type(obj)
    if _type_flags(t) & _HEAPTYPE:
        return None
    getter = _proxy_get(t.__dict__, "__name__")
    if _type(getter) is not _getset and _type(getter) is not _member:
        return None
    name = getter.__get__(obj, t)
    return name if _type(name) is _str else None


def _contents(cell: Any) -> Any:
    """A closure cell's value (None while it is empty)."""
    try:
        return _cell_contents.__get__(cell)
    except ValueError:
        return None


_closure: Any = (lambda x: lambda: x)(0).__closure__
_cell_contents: Any = _closure[0].__class__.__dict__["cell_contents"]


def same_object(obj: Any, path: Any) -> Any:
    """Whether ``obj`` is the object the dotted ``path`` names (``torch.exp``: the
    ``exp`` of the loaded module ``torch``; one word: a built-in), read from module and
    class dictionaries only, so none of the student's code runs; None where the path
    does not lead there that way (an attribute a class inherits, a module not loaded),
    and where a class's own attribute is not ``obj`` itself (a static or class method
    is another object in the class's dictionary than what reading it gives)."""
    if _type(path) is not _str:
        return None
    parts = path.split(".")
    for cut in _range(_len(parts), 0, -1):
        found = _dict_get(_MODULES, ".".join(parts[:cut]), _MISSING)
        if found is not _MISSING:
            break
    else:
        cut, found = 1, _dict_get(_BUILTINS, parts[0], _MISSING)
    in_class = False
    for part in parts[cut:]:
        if _type(found) is _module:
            space = _module_dict(found)
            found = _dict_get(space, part, _MISSING) if _type(space) is _dict else _MISSING
        elif _type(found) is _type:
            found, in_class = _proxy_get(found.__dict__, part, _MISSING), True
        else:
            return None
        if found is _MISSING:
            return None
    return True if found is obj else None if in_class else False


_mro: Any = _type.__dict__["__mro__"].__get__
_class_dict: Any = _type.__dict__["__dict__"].__get__   # a class's own, whatever its metaclass
_qualname: Any = _type.__dict__["__qualname__"].__get__
_type_module: Any = _type.__dict__["__module__"].__get__
_MAX_PATHS = 2_000


def resolve(path: Any) -> Any:
    """What the dotted library ``path`` leads to as Python reads it (``torch.nn.functional.
    relu``: the loaded top-level module, then each part from a module's own dictionary,
    or a class's and its bases'; a submodule not in its parent's dictionary from
    ``sys.modules``), so that none of the student's code runs; ``_MISSING`` where that
    does not lead anywhere."""
    if _type(path) is not _str:
        return _MISSING
    parts = path.split(".")
    found = _dict_get(_MODULES, parts[0], _MISSING)
    for index in _range(1, _len(parts)):
        part = parts[index]
        if _type(found) is _module:
            space = _module_dict(found)
            step = _dict_get(space, part, _MISSING) if _type(space) is _dict else _MISSING
            if step is _MISSING:
                step = _dict_get(_MODULES, ".".join(parts[:index + 1]), _MISSING)
        elif _type(found) is _type or _type_flags(_type(found)) & _TYPE_SUBCLASS:
            step = _MISSING
            for base in _mro(found):
                step = _proxy_get(_class_dict(base), part, _MISSING)
                if step is not _MISSING:
                    break
        else:
            return _MISSING
        if step is _MISSING:
            return _MISSING
        found = step
    return found


def library_print(obj: Any) -> Any:
    """What a library object is, comparable between two processes that loaded the same
    library (the grader holds its own, untouched): a module's name, a C function's type
    and name, a Python function's code fingerprint, defaults and globals' module, a
    class's module and name; for anything else its type (``data:``). The grader compares
    only where its own side is a module or C code, so a Python function torch rewraps as
    it runs, a constant or a flag the library sets never counts."""
    t = _type(obj)
    if t is _staticmethod or t is _classmethod:
        obj, t = obj.__func__, _type(obj.__func__)
    if t is _module:
        space = _module_dict(obj)
        name = _dict_get(space, "__name__") if _type(space) is _dict else None
        return "module:" + literal(name)
    if t is _function:
        home = _dict_get(obj.__globals__, "__name__")
        return ("code:" + fingerprint(obj.__code__) + "|" + literal(home) + "|"
                + ",".join(_defaults(obj)))
    if t is _type or _type_flags(t) & _TYPE_SUBCLASS:
        name = literal(_type_module(obj)) + "." + literal(_qualname(obj))
        return ("class:" if _type_flags(obj) & _HEAPTYPE else "ctype:") + name
    callable_ = _callable(obj)   # a variable: the object's type stays Any for mypy
    if not callable_:   # where the grader has a module here, a namespace put in its place
        return "data:" + literal(_type_module(t)) + "." + literal(_qualname(t))
    native = _native_name(obj)
    if native is not None:
        return "native:" + _qualname(t) + ":" + native
    if t is _partial:
        return "partial:" + _repr(library_print(obj.func))
    if t is _method:
        return "method:" + _repr(library_print(obj.__func__))
    kind = "object:" + literal(_type_module(t)) + "." + literal(_qualname(t))
    # numpy's dispatchers (``np.sum``) hold their function; Cython's carry a name
    for part in ("_implementation", "__qualname__"):
        inner = _own_field(obj, t, part)
        if inner is not _MISSING:
            return kind + ":" + (literal(inner) if _type(inner) is _str
                                 else _repr(library_print(inner)))
    return kind


def _own_field(obj: Any, t: Any, name: str) -> Any:
    """``obj``'s field ``name`` read through a C descriptor in its type's own dictionary
    (no student code runs); ``_MISSING`` where there is none."""
    getter = _proxy_get(_class_dict(t), name)
    if _type(getter) is not _getset and _type(getter) is not _member:
        return _MISSING
    try:
        return getter.__get__(obj, t)
    except (TypeError, AttributeError):   # a descriptor of another type, copied in
        return _MISSING


def path_prints(paths: Any) -> dict[str, Any]:
    """``library_print`` of what each dotted path leads to (``resolve``); None where it
    leads nowhere."""
    found: dict[str, Any] = {}
    if _type(paths) is not _list:
        return found
    for path in paths[:_MAX_PATHS]:
        if _type(path) is _str:
            obj = resolve(path)
            found[path] = None if obj is _MISSING else library_print(obj)
    return found


def _torch_c_entry(name: Any) -> Any:
    """What ``torch._C``'s own dictionary holds under ``name``; None where torch is not
    loaded or it holds nothing."""
    module = _dict_get(_MODULES, "torch._C")
    space = _module_dict(module) if _type(module) is _module else None
    return _dict_get(space, name) if _type(space) is _dict else None


def _torch_c(name: Any) -> Any:
    """torch's C function ``name`` from ``torch._C``'s own dictionary, where it is still
    the C function of that name; None otherwise."""
    fn = _torch_c_entry(name)
    return fn if fn is not None and _native_name(fn) == name else None


def inference_mode() -> Any:
    """torch's inference-mode guard class (``_InferenceMode``, as torch._C's own dictionary
    holds it: what it does is told by the next) and the C function that says whether
    inference mode is on (``is_inference_mode_enabled``, only where it is still torch's);
    None where either is missing, torch not loaded included."""
    guard = _torch_c_entry("_InferenceMode")
    enabled = _torch_c("is_inference_mode_enabled")
    return None if guard is None or enabled is None else (guard, enabled)


def torch_intercepted() -> bool:
    """Whether torch's functions may run someone else's code on every call: a torch
    function mode other than torch's own default-device one (``torch.device(...)``,
    ``set_default_device``) or any dispatch mode left active; True also where torch's
    functions that tell are not torch's. False where torch is not loaded."""
    if _type(_dict_get(_MODULES, "torch._C")) is not _module:
        return False
    count, at = _torch_c("_len_torch_function_stack"), _torch_c("_get_function_stack_at")
    dispatch = _torch_c("_len_torch_dispatch_stack")
    if count is None or at is None or dispatch is None:
        return True
    device = resolve("torch.utils._device.DeviceContext")
    if dispatch() != 0:
        return True
    return any(_type(at(i)) is not device for i in _range(count()))


def defaults_same(fn: Any, paths: Any) -> dict[str, Any]:
    """``same_object`` for the defaults of function ``fn`` named in ``paths`` (``"0"``:
    the first positional default, a keyword-only argument by its name)."""
    found: dict[str, Any] = {}
    if _type(fn) is not _function or _type(paths) is not _dict:
        return found
    positional, keywords = fn.__defaults__, fn.__kwdefaults__
    positional = positional if _type(positional) is _tuple else ()
    for key, path in paths.items():
        if _type(key) is not _str:
            continue
        if key.isdigit() and _int(key) < _len(positional):
            found[key] = same_object(positional[_int(key)], path)
        elif _type(keywords) is _dict and key in keywords:
            found[key] = same_object(_dict_get(keywords, key), path)
    return found


def describe(obj: Any, namespace: Any) -> dict[str, Any]:
    """What the grader compares with the text: the object's kind, its own code (a
    function), its methods (a class), the code reachable inside it, and which of that
    code runs over other global names than the notebook's."""
    walk = _Walk(namespace)
    t = _type(obj)
    out: dict[str, Any] = {"kind": "data"}
    if t is _function:
        out = {"kind": "function", "code": walk.function(obj), "defaults": _defaults(obj)}
    elif t is _type:
        out = {"kind": "class", "methods": walk.methods(obj)}
    if not walk.inside(obj, 0):
        out = {"kind": "native"}
    elif out["kind"] == "data" and walk.instance_methods:
        out["methods"] = _sorted(walk.instance_methods)
    out["codes"] = _sorted(_set(walk.codes))
    out["foreign"] = _sorted(_set(walk.foreign))
    return out
