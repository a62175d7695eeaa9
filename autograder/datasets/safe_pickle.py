"""Unpickling dataset files that users hand us, without running code from them.

``mnist.pkl.gz`` and CIFAR-10's batch files are pickles, and ``autograder data import``
takes whatever file it is given. A plain ``pickle.load`` would call any function the file
names (``os.system`` and friends). This unpickler resolves only the handful of globals
that numpy arrays need and refuses every other one before anything is called.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from ..core.errors import DatasetError
from ..core.i18n import tr


def _latin1_encode(obj: object, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    # Python 3 writes bytes into protocol-2 pickles as _codecs.encode(text, "latin1");
    # any other codec is refused rather than looked up by a name taken from the file.
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1") or errors != "strict":
        raise ValueError(f"refused _codecs.encode(..., {encoding!r}, {errors!r})")
    return obj.encode("latin1")


def _allowed() -> dict[tuple[str, str], Callable[..., Any] | type]:
    # Take numpy's helpers from numpy itself, so that no private module name is imported.
    reconstruct: Callable[..., Any] = np.zeros(1).__reduce__()[0]  # type: ignore[assignment]
    frombuffer: Callable[..., Any] = np.zeros(1).__reduce_ex__(5)[0]  # type: ignore[assignment]
    table: dict[tuple[str, str], Callable[..., Any] | type] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }
    for core in ("numpy.core", "numpy._core"):  # numpy 1 and numpy 2 spellings
        table[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        table[(f"{core}.numeric", "_frombuffer")] = frombuffer
    return table


_ALLOWED = _allowed()


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """``find_class`` answers only from ``_ALLOWED``; every other global is refused."""

    def __init__(self, file: Readable, *, where: str) -> None:
        super().__init__(file, encoding="latin1")
        self.where = where

    def find_class(self, module: str, name: str) -> Any:
        found = _ALLOWED.get((module, name))
        if found is None:
            raise DatasetError(
                tr(ja=f"安全のため読み込みを拒否しました: ファイルが {module}.{name} "
                      "を呼び出そうとしています(データセットには不要なものです)",
                   en=f"refused for safety: the file refers to {module}.{name}, "
                      "which a dataset never needs"),
                where=self.where,
                hint=tr(ja="公式のデータセットファイルを使ってください",
                        en="use the official dataset file"),
            )
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise DatasetError(tr(ja="外部参照を含むピクルは読み込みません",
                              en="pickles with persistent references are refused"),
                           where=self.where)


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...
    def readline(self, size: int = -1, /) -> bytes: ...


def safe_load(file: Readable, *, where: str) -> Any:
    """Unpickle plain data and numpy arrays from ``file``; anything else → DatasetError."""
    try:
        return _ArrayOnlyUnpickler(file, where=where).load()
    except DatasetError:
        raise
    except Exception as exc:  # any failure of untrusted bytes means "not a valid file"
        raise DatasetError(
            tr(ja=f"ピクルとして読めません(壊れているか途中で切れています): {exc}",
               en=f"cannot be read as a pickle (corrupt or truncated): {exc}"),
            where=where,
        ) from exc


class LimitedReader:
    """A read-only file that refuses to yield more than ``limit`` bytes (gzip bombs)."""

    def __init__(self, raw: Readable, *, limit: int, where: str) -> None:
        self._raw = raw
        self._left = limit
        self._limit = limit
        self._where = where

    def _take(self, data: bytes) -> bytes:
        self._left -= len(data)
        if self._left < 0:
            raise DatasetError(
                tr(ja=f"展開後のサイズが上限 {self._limit:,} バイトを超えます",
                   en=f"expands beyond the limit of {self._limit:,} bytes"),
                where=self._where,
                hint=tr(ja="本物のデータセットファイルか確かめてください",
                        en="check that this is the real dataset file"),
            )
        return data

    def read(self, size: int = -1) -> bytes:
        want = self._left + 1 if size is None or size < 0 else min(size, self._left + 1)
        return self._take(self._raw.read(want))

    def readline(self, size: int = -1) -> bytes:
        want = self._left + 1 if size is None or size < 0 else min(size, self._left + 1)
        return self._take(self._raw.readline(want))

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)
