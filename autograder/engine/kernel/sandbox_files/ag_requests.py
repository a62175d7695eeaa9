"""Kernel-side bridge, part 2: what each grader request does.

Names are looked up in the user namespace (IPython's ``user_ns``, else ``__main__``),
arguments are rebuilt from the request's wire nodes (``_decode``: plain data, handles,
names, arrays from ``.npy`` files, modules, functions a test cell wrote), and one
handler per operation (``_OPS``) runs student code through ``ag_wire._student`` and
encodes the result with ``ag_wire._Encoder``. Every pristine reference used here comes
from ``ag_wire``, bound at import (before any student code runs).
"""

import sys as _sys
from typing import Any

from ag_code import (
    CACHE_TAG,
    defaults_same,
    describe,
    hooked,
    inference_mode,
    path_prints,
    same_object,
    shadowed,
    torch_intercepted,
    traced,
    watched,
)
from ag_wire import (
    _bool,
    _callable,
    _dict,
    _Encoder,
    _eval,
    _exec,
    _float,
    _getattr,
    _handle,
    _int,
    _iter,
    _list,
    _next,
    _open,
    _Refusal,
    _store,
    _str,
    _student,
    _StudentFailure,
    _text,
    _tuple,
    _type,
    _type_name,
)

_MISSING = object()
_id = id   # taken before any student code runs


# ---------------------------------------------------------------- decoding requests

def _decode(node: Any, request: dict[str, Any]) -> Any:
    t = _type(node)
    if node is None or t is _bool or t is _int or t is _float or t is _str:
        return node
    if t is _list:
        return [_decode(x, request) for x in node]
    tag = node["t"]
    if tag == "tuple":
        return _tuple(_decode(x, request) for x in node["v"])
    if tag == "dict":
        return {_decode(k, request): _decode(v, request) for k, v in node["v"]}
    if tag == "remote":
        return _handle(node["id"])
    if tag == "name":
        return _lookup(node["v"])
    if tag == "array":
        return _load_array(node, request)
    if tag == "module":
        return _import(node["v"])
    if tag == "fn":
        return _define(node, request)
    raise _Refusal("bridge", f"unknown tag {tag!r}")


def _import(name: str) -> Any:
    __import__(name)
    return _sys.modules[name]


def _define(node: dict[str, Any], request: dict[str, Any]) -> Any:
    """A function the grader's test cell wrote, defined here over the student's names
    (with the grader's values for the names it bound itself)."""
    namespace = _dict(_user_ns())
    for key, value in node["env"]:
        namespace[key] = _decode(value, request)
    if node["kind"] == "lambda":
        return _eval(node["src"], namespace)
    _exec(node["src"], namespace)
    return namespace[node["name"]]


def _load_array(node: dict[str, Any], request: dict[str, Any]) -> Any:
    import numpy as np

    if "data" in node:
        arr = np.array(node["data"], dtype=node["dtype"]).reshape(node["shape"])
    else:
        with _open(request["dir"] + "/" + node["file"], "rb") as fh:
            arr = np.load(fh, allow_pickle=False)
    if node["kind"] == "ndarray":
        return arr
    import torch

    return torch.from_numpy(arr)


# ---------------------------------------------------------------- namespace

def _user_ns() -> dict[str, Any]:
    ipython: Any = _sys.modules.get("IPython")
    get = _getattr(ipython, "get_ipython", None)
    shell = get() if _callable(get) else None
    ns: Any = _getattr(shell, "user_ns", None)
    if _type(ns) is _dict:
        return ns
    return _sys.modules["__main__"].__dict__


def _lookup(name: str) -> Any:
    head, *rest = name.split(".")
    obj = _user_ns().get(head, _MISSING)
    if obj is _MISSING:
        raise _Refusal("missing", head)
    for i, part in enumerate(rest):
        obj = _student(_getattr, obj, part, _MISSING)
        if obj is _MISSING:
            raise _Refusal("missing", ".".join([head, *rest[: i + 1]]))
    return obj


def _target(request: dict[str, Any]) -> Any:
    target = request["target"]
    if "remote" in target:
        return _handle(target["remote"])
    return _lookup(target["name"])


# ---------------------------------------------------------------- operations

def _op_probe(request: dict[str, Any]) -> Any:
    try:
        obj = _lookup(request["name"])
    except _Refusal as exc:
        if exc.kind != "missing":
            raise
        return {"defined": False, "callable": False, "type": ""}
    return {"defined": True, "callable": _callable(obj), "type": _type_name(obj)}


def _op_value(request: dict[str, Any]) -> Any:
    return _Encoder(request, request.get("remote_ok", False)).enc(_lookup(request["name"]))


def _op_evaluate(request: dict[str, Any]) -> Any:
    value = _student(_eval, request["expr"], _user_ns())
    return _Encoder(request, request.get("remote_ok", False)).enc(value)


def _op_call(request: dict[str, Any]) -> Any:
    fn = _target(request)
    if not _callable(fn):
        raise _Refusal("notcallable", "not callable", _type_name(fn))
    args = _decode(request.get("args", []), request)
    kwargs = {k: _decode(v, request) for k, v in request.get("kwargs", [])}
    if request.get("autograd", True) is False:
        return _without_autograd(lambda: _Encoder(request, True).enc(
            _student(fn, *args, **kwargs)))
    return _Encoder(request, True).enc(_student(fn, *args, **kwargs))


def _without_autograd(run: Any) -> Any:
    """``run()`` (the call and the encoding of its answer) in torch's inference mode, on
    before and after as torch's own C function tells, with no torch mode that could run
    other code on each torch call and no trace, profile or monitoring hook that could on
    each Python call; and on at every call and return the call makes (``watched``: a mode
    left and entered again between the checks is seen): autograd records nothing in this
    thread, so what the call returns was computed without it (docs/security.md,
    "Autograd switched off")."""
    found = inference_mode()
    if found is None or torch_intercepted() or hooked():
        raise _Refusal("autograd", "autograd cannot be switched off in this kernel")
    guard_class, enabled = found
    guard = _student(guard_class, True)
    _student(lambda: guard.__enter__())
    try:
        if enabled() is not True:
            raise _Refusal("autograd", "autograd cannot be switched off in this kernel")
        result, left = watched(run, enabled)
        if left or enabled() is not True or torch_intercepted() or hooked():
            raise _Refusal("autograd", "autograd was switched back on during the call")
        return result
    finally:
        _student(lambda: guard.__exit__(None, None, None))


def _op_attr(request: dict[str, Any]) -> Any:
    obj = _target(request)
    value = _student(_getattr, obj, request["name"], _MISSING)
    if value is _MISSING:
        raise _Refusal("missing", request["name"])
    return _Encoder(request, True).enc(value)


def _torch_module(obj: Any) -> Any:
    torch = _sys.modules.get("torch")
    if torch is None or torch.nn.Module not in _type(obj).__mro__:
        raise _Refusal("notmodel", "not a torch.nn.Module", _type_name(obj))
    return torch


def _op_model(request: dict[str, Any]) -> Any:
    model = _target(request)
    torch = _torch_module(model)
    _student(model.eval)
    count = _student(lambda: sum(p.numel() for p in model.parameters()))
    modules: list[list[str]] = []
    for name, sub in _student(lambda: _list(model.named_modules())):
        if modules.__len__() >= 10_000:
            break
        modules.append([_text(name, 300), _type_name(sub), _text(_student(sub.extra_repr), 500)])
    example = _decode(request["example"], request)
    output = _forward(model, example, torch)
    encoder = _Encoder(request, False)
    return {"handle": _store(model), "num_parameters": encoder.enc(count),
            "modules": modules, "output": encoder.enc(output)}


def _forward(model: Any, batch: Any, torch: Any) -> Any:
    params = _student(lambda: _list(model.parameters()))
    if params:
        first = params[0]
        batch = batch.to(device=first.device)
        if batch.is_floating_point() and first.is_floating_point():
            batch = batch.to(dtype=first.dtype)
    _student(model.eval)
    with torch.no_grad():
        return _student(model, batch)


def _op_forward(request: dict[str, Any]) -> Any:
    model = _handle(request["handle"])
    torch = _torch_module(model)
    output = _forward(model, _decode(request["input"], request), torch)
    return _Encoder(request, False).enc(output)


def _op_state_dict(request: dict[str, Any]) -> Any:
    """The model's tensors by name, each once: a layer registered under two names (``l1``
    and ``net.0`` of an ``nn.Sequential`` reusing it) is one layer, as ``parameters()``
    counts it, under the name it was registered by first."""
    model = _handle(request["handle"])
    _torch_module(model)
    items = _student(lambda: _list(model.state_dict(keep_vars=True).items()))
    seen, unique = {}, []   # literals: pristine whatever the notebook rebound
    for name, tensor in items:
        if _id(tensor) not in seen:
            seen[_id(tensor)] = True
            unique.append((name, tensor))
    return _Encoder(request, False).enc(_dict(unique))


def _op_item(request: dict[str, Any]) -> Any:
    obj = _target(request)
    key = _decode(request["key"], request)
    return _Encoder(request, True).enc(_student(lambda: obj[key]))


def _op_len(request: dict[str, Any]) -> Any:
    obj = _target(request)
    size = _student(lambda: obj.__len__())
    if _type(size) is not _int:
        raise _Refusal("notplain", "len() is not an int", _type_name(size))
    return size


def _op_iter(request: dict[str, Any]) -> Any:
    obj = _target(request)
    return _Encoder(request, True).remote(_student(_iter, obj))


def _op_next(request: dict[str, Any]) -> Any:
    """``[True, item]``, or ``[False, None]`` once the iterator is exhausted."""
    it = _target(request)
    try:
        item = _student(_next, it)
    except _StudentFailure as failure:
        if _type(failure.exc) is StopIteration:
            return [False, None]
        raise
    return [True, _Encoder(request, True).enc(item)]


def _op_release(request: dict[str, Any]) -> Any:
    return None


def _op_codes(request: dict[str, Any]) -> Any:
    """What each top-level name runs, as code fingerprints (``ag_code``); None for a name
    the namespace does not hold. For a name the notebook's text binds to a library
    object (``origins``: ``exp`` -> ``"torch.exp"``), also whether it still holds it; and
    so for the library objects a function's text gives as defaults (``defaults``); and
    what each dotted library path the texts read leads to (``paths``), for the grader to
    compare with its own libraries."""
    ns = _user_ns()
    found: dict[str, Any] = {}
    asked, defaults = request.get("origins"), request.get("defaults")
    origins: Any = asked if _type(asked) is _dict else {}
    default_paths: Any = defaults if _type(defaults) is _dict else {}
    for name in request["names"]:
        obj = ns.get(name, _MISSING)
        found[name] = None if obj is _MISSING else describe(obj, ns)
        if found[name] is not None and name in origins:
            found[name]["same"] = same_object(obj, origins[name])
        if found[name] is not None and name in default_paths:
            found[name]["default_same"] = defaults_same(obj, default_paths[name])
    return {"python": CACHE_TAG, "names": found, "shadowed": shadowed(ns), "traced": traced(),
            "paths": path_prints(request.get("paths")), "intercepted": torch_intercepted()}


_OPS = {"probe": _op_probe, "value": _op_value, "evaluate": _op_evaluate, "call": _op_call,
        "attr": _op_attr, "item": _op_item, "len": _op_len, "iter": _op_iter,
        "next": _op_next, "model": _op_model,
        "forward": _op_forward, "state_dict": _op_state_dict, "release": _op_release,
        "codes": _op_codes}
