"""MNIST-shaped data → torchvision's layout (``<folder>/raw/<four IDX files>``).

Two sources: the four IDX files (``.gz`` or not) and the classic ``mnist.pkl.gz``
(((train_x, train_y), (valid_x, valid_y), (test_x, test_y)), float32 pixels k/256).
torchvision's ``MNIST._check_exists`` only looks for the four uncompressed files, so
writing them is all it takes for ``MNIST(root, download=True)`` to stay offline.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..core.errors import DatasetError
from ..core.i18n import tr
from .catalog import IDX_GZ_MD5
from .safe_pickle import LimitedReader, safe_load

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension
SIDE = 28
COUNTS = {"train": 60_000, "test": 10_000}
RAW_NAMES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}
IDX_LIMIT = 16 + COUNTS["train"] * SIDE * SIDE
PICKLE_LIMIT = 320 * 2**20  # the real file expands to 220 MB
GZIP_MAGIC = b"\x1f\x8b"
_BLOCK = 5_000

U8 = npt.NDArray[np.uint8]


def open_maybe_gzip(path: Path) -> io.BufferedIOBase:
    with path.open("rb") as probe:
        is_gzip = probe.read(2) == GZIP_MAGIC
    return gzip.GzipFile(path, "rb") if is_gzip else path.open("rb")


def _corrupt(where: Path, exc: BaseException) -> DatasetError:
    return DatasetError(
        tr(ja=f"ファイルが壊れているか途中で切れています: {exc}",
           en=f"the file is corrupt or truncated: {exc}"),
        where=str(where),
        hint=tr(ja="ダウンロードし直してください", en="download it again"),
    )


def _bad(where: Path, ja: str, en: str) -> DatasetError:
    return DatasetError(tr(ja=ja, en=en), where=str(where),
                        hint=tr(ja="MNIST の元のファイルを使ってください",
                                en="use the original MNIST files"))


@dataclass(frozen=True)
class IdxPart:
    """One validated IDX file: which split and kind it is, and its uncompressed bytes."""

    path: Path
    split: str
    kind: str
    data: bytes


def read_idx(path: Path) -> IdxPart:
    try:
        with open_maybe_gzip(path) as raw:
            data = LimitedReader(raw, limit=IDX_LIMIT, where=str(path)).read()
    except (OSError, EOFError, ValueError) as exc:  # gzip.BadGzipFile, zlib.error, ...
        raise _corrupt(path, exc) from exc
    if len(data) < 8:
        raise _corrupt(path, EOFError(f"{len(data)} bytes"))
    magic, count = struct.unpack(">II", data[:8])
    split = next((s for s, n in COUNTS.items() if n == count), None)
    if magic not in (IMAGES_MAGIC, LABELS_MAGIC) or split is None:
        raise _bad(path, f"MNIST の IDX ファイルではありません(種類 {magic:#010x}, {count} 件)",
                   f"not an MNIST IDX file (magic {magic:#010x}, {count} items)")
    kind = "images" if magic == IMAGES_MAGIC else "labels"
    _check_idx_body(path, data, kind=kind, count=count)
    return IdxPart(path=path, split=split, kind=kind, data=data)


def _check_idx_body(path: Path, data: bytes, *, kind: str, count: int) -> None:
    if kind == "images":
        rows, cols = struct.unpack(">II", data[8:16]) if len(data) >= 16 else (0, 0)
        if (rows, cols) != (SIDE, SIDE):
            raise _bad(path, f"画像が {SIDE}×{SIDE} ではありません({rows}×{cols})",
                       f"images are not {SIDE}×{SIDE} ({rows}×{cols})")
        expected = 16 + count * SIDE * SIDE
    else:
        expected = 8 + count
    if len(data) != expected:
        raise _corrupt(path, EOFError(f"{len(data):,} bytes, expected {expected:,}"))
    if kind == "labels" and max(data[8:]) > 9:
        raise _bad(path, "ラベルが 0〜9 の範囲にありません", "labels are not all in 0..9")


def folder_for(paths: list[Path]) -> str:
    """MNIST or Fashion-MNIST, told apart by the md5 of the original downloads."""
    found = set()
    for path in paths:
        try:
            digest = hashlib.md5(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise _corrupt(path, exc) from exc
        found |= {folder for folder, table in IDX_GZ_MD5.items() if digest in table.values()}
    if len(found) > 1:
        raise DatasetError(tr(ja="MNIST と Fashion-MNIST のファイルが混ざっています",
                              en="MNIST and Fashion-MNIST files are mixed"),
                           where=", ".join(p.name for p in paths))
    return found.pop() if found else "MNIST"


def stage_idx(paths: list[Path], dest: Path, *, folder: str) -> dict[str, int]:
    """Validate the four IDX files and write them under ``dest/<folder>/raw``."""
    parts = [read_idx(p) for p in paths]
    by_role: dict[tuple[str, str], IdxPart] = {}
    for part in parts:
        twin = by_role.setdefault((part.split, part.kind), part)
        if twin is not part:
            raise DatasetError(tr(ja=f"同じ役割のファイルが二つあります: {twin.path.name}",
                                  en=f"two files with the same role: {twin.path.name}"),
                               where=str(part.path))
    missing = [RAW_NAMES[role] for role in RAW_NAMES if role not in by_role]
    if missing:
        raise DatasetError(
            tr(ja=f"MNIST の IDX ファイルが足りません: {', '.join(missing)}",
               en=f"MNIST IDX files are missing: {', '.join(missing)}"),
            where=", ".join(p.path.name for p in parts),
            hint=tr(ja="4 つのファイルを一度に指定してください",
                    en="give all four files in one call"))
    raw = dest / folder / "raw"
    raw.mkdir(parents=True)
    for role, part in by_role.items():
        (raw / RAW_NAMES[role]).write_bytes(part.data)
    return dict(COUNTS)


def idx_bytes(array: U8) -> bytes:
    """IDX encoding of a uint8 array of images (N, 28, 28) or labels (N,)."""
    magic = IMAGES_MAGIC if array.ndim == 3 else LABELS_MAGIC
    return struct.pack(f">{1 + array.ndim}I", magic, *array.shape) + array.tobytes()


def _pixels(x: Any, n: int, path: Path, part: str) -> U8:
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f" or x.shape != (n, SIDE * SIDE):
        shape = getattr(x, "shape", type(x).__name__)
        raise _bad(path, f"{part} の画像が ({n}, 784) の浮動小数点配列ではありません({shape})",
                   f"{part} images are not a float array of shape ({n}, 784) ({shape})")
    out = np.empty((n, SIDE * SIDE), dtype=np.uint8)
    for start in range(0, n, _BLOCK):  # blocks keep the float temporaries small
        scaled = x[start:start + _BLOCK] * x.dtype.type(256)  # exact: a power of two
        whole = np.rint(scaled)
        if not np.array_equal(whole, scaled) or whole.min() < 0 or whole.max() > 255:
            raise _bad(path, f"{part} の画素値が k/256 (k = 0〜255) の形ではありません",
                       f"{part} pixel values are not of the form k/256 (k = 0..255)")
        out[start:start + _BLOCK] = whole
    return out.reshape(n, SIDE, SIDE)


def _labels(y: Any, n: int, path: Path, part: str) -> U8:
    if not isinstance(y, np.ndarray) or y.dtype.kind not in "iu" or y.shape != (n,):
        shape = getattr(y, "shape", type(y).__name__)
        raise _bad(path, f"{part} のラベルが長さ {n} の整数配列ではありません({shape})",
                   f"{part} labels are not an integer array of length {n} ({shape})")
    if y.min() < 0 or y.max() > 9:
        raise _bad(path, f"{part} のラベルが 0〜9 の範囲にありません",
                   f"{part} labels are not all in 0..9")
    return y.astype(np.uint8)


def _three_pairs(obj: Any, path: Path) -> list[tuple[Any, Any]]:
    ok = isinstance(obj, tuple | list) and len(obj) == 3 and all(
        isinstance(pair, tuple | list) and len(pair) == 2 for pair in obj)
    if not ok:
        raise _bad(path, "((訓練), (検証), (テスト)) の 3 組の (画像, ラベル) ではありません",
                   "not three (images, labels) pairs ((train), (valid), (test))")
    return [(pair[0], pair[1]) for pair in obj]


def stage_pickle(path: Path, dest: Path) -> dict[str, int]:
    """``mnist.pkl.gz`` → MNIST raw files; train 50,000 + valid 10,000 = torchvision's train."""
    try:
        with open_maybe_gzip(path) as raw:
            obj = safe_load(LimitedReader(raw, limit=PICKLE_LIMIT, where=str(path)),
                            where=str(path))
    except OSError as exc:
        raise _corrupt(path, exc) from exc
    (tx, ty), (vx, vy), (sx, sy) = _three_pairs(obj, path)
    arrays = {
        ("train", "images"): np.concatenate([_pixels(tx, 50_000, path, "train"),
                                             _pixels(vx, 10_000, path, "valid")]),
        ("train", "labels"): np.concatenate([_labels(ty, 50_000, path, "train"),
                                             _labels(vy, 10_000, path, "valid")]),
        ("test", "images"): _pixels(sx, 10_000, path, "test"),
        ("test", "labels"): _labels(sy, 10_000, path, "test"),
    }
    del obj, tx, vx, sx
    raw_dir = dest / "MNIST" / "raw"
    raw_dir.mkdir(parents=True)
    for role, array in arrays.items():
        (raw_dir / RAW_NAMES[role]).write_bytes(idx_bytes(array))
    return dict(COUNTS)
