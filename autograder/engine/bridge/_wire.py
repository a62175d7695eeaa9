"""The wire format: grader values out as JSON nodes and ``.npy`` files, answers back in.

Nothing is unpickled: an answer is JSON plus ``.npy`` files read with
``numpy.load(allow_pickle=False)``, validated node by node (depth, size, dtype, shape).
"""

from __future__ import annotations

import io
import math
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...core.errors import BridgeError
from ._errors import NotPlainData, ValueTooLarge, clip
from ._remote import KernelFunction, KernelModule, Owner, Remote, RemoteFunction

if TYPE_CHECKING:
    import numpy as np

ALLOWED_DTYPES = frozenset({"bool", "uint8", "int8", "int16", "int32", "int64",
                            "float16", "float32", "float64"})

def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """Read a file the kernel wrote, refusing links, devices, FIFOs and oversize files."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise BridgeError(f"no answer file from the kernel ({exc.strerror})",
                          where=path.name) from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise BridgeError("answer is not a regular file", where=path.name)
        if info.st_size > max_bytes:
            raise BridgeError(f"answer file is larger than {max_bytes} bytes", where=path.name)
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise BridgeError(f"answer file is larger than {max_bytes} bytes", where=path.name)
    return data


# ---------------------------------------------------------------- grader → kernel

def _literal(obj: Any) -> str:
    """Python source for a request built from dict/list/str/int/float/bool/None."""
    if obj is None or isinstance(obj, (bool, int, str)):
        return repr(obj)
    if isinstance(obj, float):
        if math.isnan(obj):
            return "(1e999-1e999)"
        if math.isinf(obj):
            return "(1e999)" if obj > 0 else "(-1e999)"
        return repr(obj)
    if isinstance(obj, list):
        return "[" + ", ".join(_literal(x) for x in obj) + "]"
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in obj.items()) + "}"
    raise TypeError(f"not a request literal: {type(obj).__name__}")


class _Outgoing:
    """Encodes grader values as wire nodes; large arrays go to ``<rid>-in-<n>.npy``."""

    def __init__(self, owner: Owner, rid: str):
        self.owner, self.rid, self.files = owner, rid, 0

    def enc(self, obj: Any, depth: int = 0) -> Any:
        if depth > self.owner.limits.max_depth:
            raise ValueError("argument nested too deeply for the bridge")
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return int(obj)
        if isinstance(obj, float):
            return float(obj)
        if isinstance(obj, Remote):
            self.owner._own(obj)
            return {"t": "remote", "id": obj.id}
        if isinstance(obj, RemoteFunction):
            return {"t": "name", "v": obj.name}
        if isinstance(obj, KernelFunction):
            return {"t": "fn", "kind": obj.kind, "name": obj.name, "src": obj.source,
                    "env": [[k, self.enc(v, depth + 1)] for k, v in obj.env]}
        if isinstance(obj, KernelModule):
            return {"t": "module", "v": obj.name}
        if isinstance(obj, list):
            return [self.enc(x, depth + 1) for x in obj]
        if isinstance(obj, tuple):
            return {"t": "tuple", "v": [self.enc(x, depth + 1) for x in obj]}
        if isinstance(obj, dict):
            return self.mapping(obj, depth)
        return self.array_or_scalar(obj)

    def mapping(self, obj: dict[Any, Any], depth: int) -> dict[str, Any]:
        for key in obj:
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise TypeError(f"dict keys sent to the kernel must be str or int: {key!r}")
        return {"t": "dict", "v": [[k, self.enc(v, depth + 1)] for k, v in obj.items()]}

    def array_or_scalar(self, obj: Any) -> Any:
        import numpy as np

        if isinstance(obj, np.generic):
            return self.enc(obj.item())
        if isinstance(obj, np.ndarray):
            return self.array(obj, "ndarray")
        torch = _torch_if_loaded()
        if torch is not None and isinstance(obj, torch.Tensor):
            tensor = obj.detach().cpu().resolve_conj().resolve_neg()
            if tensor.dtype is torch.bfloat16:
                tensor = tensor.float()
            return self.array(tensor.contiguous().numpy(), "tensor")
        raise TypeError(f"cannot send a {type(obj).__name__} to the kernel")

    def array(self, arr: np.ndarray, kind: str) -> dict[str, Any]:
        import numpy as np

        if arr.dtype.name not in ALLOWED_DTYPES:
            raise TypeError(f"cannot send an array of dtype {arr.dtype} to the kernel")
        arr = arr if arr.flags.c_contiguous else arr.copy(order="C")
        node: dict[str, Any] = {"t": "array", "kind": kind, "dtype": arr.dtype.name,
                                "shape": list(arr.shape)}
        if arr.size <= self.owner.limits.inline:
            node["data"] = arr.ravel().tolist()
            return node
        name = f"{self.rid}-in-{self.files}.npy"
        self.files += 1
        self.owner._touch(self.rid, name)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(Path(self.owner.kernel.exchange_dir) / name, flags, 0o644)
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, arr, allow_pickle=False)
        node["file"] = name
        return node


def _torch_if_loaded() -> Any:
    import sys

    return sys.modules.get("torch")


# ---------------------------------------------------------------- kernel → grader

_TAG_KEYS = {"tuple": {"t", "v"}, "dict": {"t", "v"}, "remote": {"t", "id", "type"}}


class _Incoming:
    """Validates one answer's value node by node and rebuilds it (arrays → tensors)."""

    def __init__(self, owner: Owner, rid: str, what: str, remote_ok: bool):
        self.owner, self.rid, self.what, self.remote_ok = owner, rid, what, remote_ok
        self.limits = owner.limits
        self.nodes = 0
        self.bytes = 0
        self.file_prefix = rid + "-"

    def fail(self, message: str) -> BridgeError:
        return BridgeError(f"invalid value from the kernel: {message}", where=self.what)

    def count(self, nbytes: int) -> None:
        self.bytes += nbytes
        if self.bytes > self.limits.max_bytes:
            raise ValueTooLarge(f"more than {self.limits.max_bytes} bytes", what=self.what)

    def value(self, node: Any, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > self.limits.max_nodes or depth > self.limits.max_depth:
            raise ValueTooLarge("too many elements or nested too deeply", what=self.what)
        kind = type(node)
        if node is None or kind in (bool, int, float):
            return node
        if kind is str:
            self.count(len(node))
            return node
        if kind is list:
            return [self.value(x, depth + 1) for x in node]
        if kind is not dict:
            raise self.fail(f"unexpected {kind.__name__}")
        return self.tagged(node, depth)

    def tagged(self, node: dict[str, Any], depth: int) -> Any:
        tag = node.get("t")
        if tag == "array":
            return self.array(node)
        if tag not in _TAG_KEYS or set(node) != _TAG_KEYS[tag]:
            raise self.fail(f"unknown or malformed tag {clip(str(tag), 40)!r}")
        if tag == "remote":
            return self.remote(node)
        if type(node["v"]) is not list:
            raise self.fail(f"{tag} without a list")
        if tag == "tuple":
            return tuple(self.value(x, depth + 1) for x in node["v"])
        return self.mapping(node["v"], depth)

    def mapping(self, pairs: list[Any], depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for pair in pairs:
            if type(pair) is not list or len(pair) != 2 or type(pair[0]) not in (str, int):
                raise self.fail("malformed dict entry")
            if pair[0] in out:
                raise self.fail("duplicate dict key")
            out[self.value(pair[0], depth + 1)] = self.value(pair[1], depth + 1)
        return out

    def remote(self, node: dict[str, Any]) -> Remote:
        if type(node["id"]) is not int or type(node["type"]) is not str:
            raise self.fail("malformed remote handle")
        if not self.remote_ok:
            raise NotPlainData("not plain data", what=self.what, type_name=node["type"])
        return Remote(self.owner, node["id"], clip(node["type"], 120), self.what)

    def array(self, node: dict[str, Any]) -> Any:
        import numpy as np
        import torch

        dtype, shape = self.array_header(node)
        numel = math.prod(shape)
        self.count(numel * np.dtype(dtype).itemsize)
        if "data" in node:
            arr = self.inline(node["data"], dtype, shape, numel)
        else:
            arr = self.from_file(node["file"], dtype, shape)
        if not arr.dtype.isnative:
            arr = arr.astype(arr.dtype.newbyteorder("="))
        if self.owner.native_arrays and node["kind"] == "ndarray":
            return arr
        return torch.from_numpy(arr)

    def array_header(self, node: dict[str, Any]) -> tuple[str, tuple[int, ...]]:
        keys = set(node) - {"data", "file"}
        if keys != {"t", "kind", "dtype", "shape"} or len(set(node) & {"data", "file"}) != 1:
            raise self.fail("malformed array")
        dtype, shape = node["dtype"], node["shape"]
        if node["kind"] not in ("tensor", "ndarray") or dtype not in ALLOWED_DTYPES:
            raise self.fail(f"array of unsupported dtype {clip(str(dtype), 40)!r}")
        if type(shape) is not list or len(shape) > 32 or not all(
                type(s) is int and 0 <= s < 2**40 for s in shape):
            raise self.fail("malformed array shape")
        return dtype, tuple(shape)

    def inline(self, data: Any, dtype: str, shape: tuple[int, ...], numel: int) -> np.ndarray:
        import numpy as np

        wanted: tuple[type, ...] = (bool,) if dtype == "bool" else \
            (float,) if dtype.startswith("float") else (int,)
        if type(data) is not list or len(data) != numel or not all(
                type(x) in wanted for x in data):
            raise self.fail("inline array data does not match its dtype and shape")
        try:
            return np.array(data, dtype=dtype).reshape(shape)
        except (OverflowError, ValueError):
            raise self.fail("inline array values out of range for their dtype") from None

    def answer_file(self, name: str) -> bool:
        """``<rid>-<n>.npy`` (1 to 6 ASCII digits): a file of this answer's."""
        digits = name[len(self.file_prefix):-4]
        return (name.startswith(self.file_prefix) and name.endswith(".npy")
                and 1 <= len(digits) <= 6 and digits.isascii() and digits.isdigit())

    def from_file(self, name: Any, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
        import numpy as np

        if type(name) is not str or not self.answer_file(name):
            raise self.fail("array file name does not belong to this answer")
        self.owner._touch(self.rid, name)
        nbytes = math.prod(shape) * np.dtype(dtype).itemsize
        data = read_regular_file(Path(self.owner.kernel.exchange_dir) / name, nbytes + 65536)
        return _parse_npy(data, dtype, shape, fail=self.fail)


def _parse_npy(data: bytes, dtype: str, shape: tuple[int, ...], *, fail: Any) -> np.ndarray:
    """An ``.npy`` image checked against the dtype and shape its JSON node declared."""
    import numpy as np
    from numpy.lib import format as npy

    fh = io.BytesIO(data)
    try:
        version = npy.read_magic(fh)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"version {version}")
        header = npy.read_array_header_1_0(fh) if version == (1, 0) else \
            npy.read_array_header_2_0(fh)
    except (ValueError, OSError, SyntaxError) as exc:
        raise fail(f"unreadable .npy header ({clip(str(exc), 80)})") from None
    found_shape, fortran, found_dtype = header
    if found_dtype.name != dtype or found_dtype.hasobject or tuple(found_shape) != shape:
        raise fail("array file does not match its declared dtype and shape")
    nbytes = math.prod(shape) * found_dtype.itemsize
    if len(data) - fh.tell() != nbytes:
        raise fail("array file has the wrong size for its header")
    flat = np.frombuffer(data, dtype=found_dtype, count=math.prod(shape), offset=fh.tell())
    return flat.reshape(shape, order="F" if fortran else "C").copy()
