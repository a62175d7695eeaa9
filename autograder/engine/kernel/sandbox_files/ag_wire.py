"""Kernel-side bridge, part 1: pristine references and the answers' wire format.

Imported by ``ag_bridge`` (itself imported by ``ag_startup`` before any student code
runs), so the references below are taken from the interpreter as it started:

- the built-in types from literals (``(0).__class__``), never from ``builtins``, and the
  callables the bridge uses (``open``, ``os.open``, ``getattr``, ``eval``, ...) captured
  once: a notebook that later rebinds ``builtins.type``/``isinstance``/``open`` or
  ``json.dumps`` cannot change how requests are read or answers encoded. ``ag_requests``
  and ``ag_bridge`` bind these names with ``from ag_wire import ...`` at their own import,
  so they hold the same pristine objects.
- exact built-in types only (``type(x) is int``, never ``isinstance``): an ``int``
  subclass with a rigged ``__eq__`` becomes a handle, not a number.

Here: the errors a request can end with (``_Refusal``, ``_StudentFailure``), the JSON
writer (ASCII only, written here rather than with ``json``), the encoder of answers
(plain data to wire nodes, arrays inline or as ``<rid>-<n>.npy``) and the table of
handles on objects that are not plain data. The wire grammar is in ``ag_bridge``.
"""

import os as _os
import sys as _sys

# ``OrderedDict`` and ``defaultdict`` are dictionaries too (a student's ``params`` may be
# either): their C types, taken from ``_collections`` itself, cannot be changed by a
# notebook, and only these exact types are read as dictionaries (never a subclass).
from _collections import OrderedDict as _OrderedDict
from _collections import defaultdict as _defaultdict
from typing import Any

# Pristine built-in types, even if the notebook rebound the names in ``builtins``.
_type: Any = (0).__class__.__class__
_int: Any = (0).__class__
_float: Any = (0.0).__class__
_str: Any = "".__class__
_bool: Any = True.__class__
_list: Any = [].__class__
_tuple: Any = ().__class__
_dict: Any = {}.__class__
_BaseException: type[BaseException] = BaseException
_KeyboardInterrupt: type[BaseException] = KeyboardInterrupt

# Captured once: rebinding these later in the notebook does not reach the bridge.
_open = open
_os_open = _os.open
_O_NEW = _os.O_WRONLY | _os.O_CREAT | _os.O_EXCL | getattr(_os, "O_NOFOLLOW", 0)
_callable = callable
_iter = iter
_next = next
_getattr = getattr
_eval = eval
_exec = exec

_INF = 1e999
_ALLOWED_DTYPES = ("bool", "uint8", "int8", "int16", "int32", "int64",
                   "float16", "float32", "float64")
_WIDEN = {"uint16": "int64", "uint32": "int64"}
_MAX_HANDLES = 100_000
_TEXT_LIMIT = 2000

_HANDLES: dict[int, Any] = {}
_NEXT_ID = [1]


class _Escapes(dict):
    """``str.translate`` table producing JSON string escapes (ASCII output only)."""

    def __missing__(self, cp: int) -> str:
        if cp < 0x10000:
            return f"\\u{cp:04x}"
        cp -= 0x10000
        return f"\\u{0xD800 + (cp >> 10):04x}\\u{0xDC00 + (cp & 0x3FF):04x}"


_ESC = _Escapes()
for _cp in range(0x20, 0x7F):
    _ESC[_cp] = chr(_cp)
_ESC[0x22] = '\\"'
_ESC[0x5C] = "\\\\"


# ---------------------------------------------------------------- how a request fails

class _Refusal(Exception):
    """The request cannot be answered; ``kind`` tells the grader why."""

    def __init__(self, kind: str, message: str, type_name: str = "") -> None:
        Exception.__init__(self, message)
        self.kind, self.message, self.type_name = kind, message, type_name


class _StudentFailure(Exception):
    def __init__(self, exc: BaseException) -> None:
        Exception.__init__(self)
        self.exc = exc


def _student(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run student code; anything it raises becomes a student error."""
    try:
        return fn(*args, **kwargs)
    except _KeyboardInterrupt:
        raise
    except _BaseException as exc:  # SystemExit from student code is a student error too
        raise _StudentFailure(exc) from None


def _text(value: Any, limit: int = _TEXT_LIMIT) -> str:
    return value[:limit] if _type(value) is _str else "?"


def _type_name(obj: Any) -> str:
    try:
        return _text(_type(obj).__qualname__, 200)
    except Exception:
        return "?"


def _exc_text(exc: BaseException) -> tuple[str, str]:
    """The nearest built-in exception class's name, and no text: the grader shows only
    that (the message of an exception raised by student code is the student's)."""
    try:
        for cls in _type(exc).__mro__:
            if _getattr(cls, "__module__", None) == "builtins":
                return _text(cls.__name__, 200), ""
    except Exception:
        pass
    return "Exception", ""


# ---------------------------------------------------------------- JSON writer

def _json(node: Any, out: list[str]) -> None:
    t = _type(node)
    if node is None:
        out.append("null")
    elif t is _bool:
        out.append("true" if node else "false")
    elif t is _int:
        out.append(_int.__repr__(node))
    elif t is _float:
        if node != node:
            out.append("NaN")
        elif node == _INF or node == -_INF:
            out.append("Infinity" if node > 0 else "-Infinity")
        else:
            out.append(_float.__repr__(node))
    elif t is _str:
        out.append('"' + _str.translate(node, _ESC) + '"')
    elif t is _list:
        out.append("[")
        for item in node:
            _json(item, out)
            out.append(",")
        _close(out, "]")
    elif t is _dict:
        out.append("{")
        for key, item in _dict.items(node):
            _json(key, out)
            out.append(":")
            _json(item, out)
            out.append(",")
        _close(out, "}")
    else:
        raise _Refusal("bridge", "internal: unexpected node " + _type_name(node))


def _close(out: list[str], closing: str) -> None:
    if out[-1] == ",":
        out[-1] = closing
    else:
        out.append(closing)


# ---------------------------------------------------------------- encoding answers

class _Encoder:
    def __init__(self, request: dict[str, Any], remote_ok: bool) -> None:
        limits = request.get("limits", {})
        self.rid = request["rid"]
        self.dir = request["dir"]
        self.remote_ok = remote_ok
        self.max_bytes = limits.get("max_bytes", 256 << 20)
        self.max_depth = limits.get("max_depth", 32)
        self.max_nodes = limits.get("max_nodes", 200_000)
        self.inline = limits.get("inline", 64)
        self.nodes = 0
        self.bytes = 0
        self.files = 0
        self.np: Any = _sys.modules.get("numpy")
        self.torch: Any = _sys.modules.get("torch")

    def count(self, nbytes: int) -> None:
        self.bytes += nbytes
        if self.bytes > self.max_bytes:
            raise _Refusal("limit", f"the value is larger than {self.max_bytes} bytes")

    def enc(self, obj: Any, depth: int = 0) -> Any:
        self.nodes += 1
        if self.nodes > self.max_nodes:
            raise _Refusal("limit", f"the value has more than {self.max_nodes} elements")
        if depth > self.max_depth:
            raise _Refusal("limit", f"the value is nested deeper than {self.max_depth}")
        t = _type(obj)
        if obj is None or t is _bool or t is _float:
            return obj
        if t is _int:
            if _int.bit_length(obj) > 4096:
                raise _Refusal("limit", "an integer has more than 4096 bits")
            return obj
        if t is _str:
            self.count(_str.__len__(obj))
            return obj
        if t is _list:
            return [self.enc(x, depth + 1) for x in _list.copy(obj)]
        if t is _tuple:
            return {"t": "tuple", "v": [self.enc(x, depth + 1) for x in obj]}
        if t is _dict or t is _OrderedDict or t is _defaultdict:
            return self.mapping(obj, t, depth)
        return self.special(obj, t, depth)

    def mapping(self, obj: dict[Any, Any], t: Any, depth: int) -> Any:
        items = _list(t.items(obj))  # the C type's own order (``move_to_end``)
        for key, _ in items:
            if _type(key) is not _str and _type(key) is not _int:
                return self.remote(obj)
        return {"t": "dict", "v": [[self.enc(k, depth + 1), self.enc(v, depth + 1)]
                                   for k, v in items]}

    def special(self, obj: Any, t: type, depth: int) -> Any:
        np, torch = self.np, self.torch
        if np is not None:
            if t is np.ndarray:
                return self.array(obj, "ndarray")
            if t in _np_scalar_types(np):
                return self.enc(obj.item(), depth)
        if torch is not None:
            if t is torch.Tensor or t is torch.nn.Parameter:
                return self.array(obj, "tensor")
            if t is torch.Size:
                return {"t": "tuple", "v": [self.enc(_int(x), depth + 1) for x in obj]}
            if t is torch.device or t is torch.dtype:
                return _str(obj)
        return self.remote(obj)

    def remote(self, obj: Any) -> dict[str, Any]:
        if not self.remote_ok:
            raise _Refusal("notplain", "not plain data", _type_name(obj))
        return {"t": "remote", "id": _store(obj), "type": _type_name(obj)}

    def array(self, obj: Any, kind: str) -> Any:
        arr = _to_numpy(obj, kind, self.torch)
        if arr is None:
            return self.remote(obj)
        if _sys.modules.get("numpy") is None:
            # a tensor is involved, so numpy (torch's companion) is fair game
            __import__("numpy")
        self.np = _sys.modules["numpy"]
        name = arr.dtype.name
        if name in _WIDEN:
            arr, name = arr.astype(_WIDEN[name]), _WIDEN[name]
        if name not in _ALLOWED_DTYPES or arr.dtype.fields is not None:
            return self.remote(obj)
        arr = arr if arr.flags.c_contiguous else arr.copy(order="C")
        self.count(arr.nbytes)
        node = {"t": "array", "kind": kind, "dtype": name,
                "shape": [_int(s) for s in arr.shape]}
        if arr.size <= self.inline:
            node["data"] = arr.ravel().tolist()
        else:
            node["file"] = self.save(arr)
        return node

    def save(self, arr: Any) -> str:
        name = f"{self.rid}-{self.files}.npy"
        self.files += 1
        fd = _os_open(self.dir + "/" + name, _O_NEW, 0o644)
        with _open(fd, "wb") as fh:
            self.np.save(fh, arr, allow_pickle=False)
        return name


def _np_scalar_types(np: Any) -> tuple[type, ...]:
    return (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
            np.uint32, np.float16, np.float32, np.float64)


def _to_numpy(obj: Any, kind: str, torch: Any) -> Any:
    """Plain numeric ndarray for an exact tensor/ndarray, or None (then: a handle)."""
    if kind == "ndarray":
        return None if obj.dtype.hasobject else obj
    if obj.layout is not torch.strided or obj.is_quantized or obj.is_complex():
        return None
    try:
        t = obj.detach()
        if t.dtype is torch.bfloat16:
            t = t.float()
        return t.cpu().resolve_conj().resolve_neg().numpy()
    except Exception:
        return None


# ---------------------------------------------------------------- handles

def _store(obj: Any) -> int:
    if _HANDLES.__len__() >= _MAX_HANDLES:
        raise _Refusal("limit", "too many objects kept for the grader")
    ident = _NEXT_ID[0]
    _NEXT_ID[0] = ident + 1
    _HANDLES[ident] = obj
    return ident


def _handle(ident: int) -> Any:
    if ident not in _HANDLES:
        raise _Refusal("bridge", f"unknown handle {ident} (released or from another kernel)")
    return _HANDLES[ident]
