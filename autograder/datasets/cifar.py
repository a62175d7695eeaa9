"""``cifar-10-python.tar.gz`` → torchvision's ``cifar-10-batches-py/`` folder.

torchvision's ``CIFAR10._check_integrity`` compares each batch file (and ``batches.meta``)
with a fixed md5, so the files are copied byte for byte from the archive — after each
has been unpickled safely and checked for the right counts and shapes, which gives a
clear message where a bare checksum mismatch would not. Only the seven known members
are read; nothing else in the archive is extracted.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import DatasetError
from ..core.i18n import tr
from .catalog import CIFAR10_MD5, CIFAR_META, CIFAR_TEST, CIFAR_TRAIN
from .safe_pickle import safe_load

FOLDER = "cifar-10-batches-py"
ROW_BYTES = 3 * 32 * 32
MEMBER_LIMIT = 64 * 2**20  # a real batch file is 31 MB


@dataclass(frozen=True)
class CifarSpec:
    """What a valid archive holds. The public import uses ``CIFAR10`` only."""

    rows_per_batch: int = 10_000
    md5: Mapping[str, str] = field(default_factory=lambda: dict(CIFAR10_MD5))

    @property
    def splits(self) -> dict[str, int]:
        return {"train": self.rows_per_batch * len(CIFAR_TRAIN), "test": self.rows_per_batch}


CIFAR10 = CifarSpec()
MEMBERS = (*CIFAR_TRAIN, CIFAR_TEST, CIFAR_META)


def _bad(where: str, ja: str, en: str) -> DatasetError:
    return DatasetError(tr(ja=ja, en=en), where=where,
                        hint=tr(ja="公式の cifar-10-python.tar.gz を使ってください",
                                en="use the official cifar-10-python.tar.gz"))


def _check_batch(obj: Any, where: str, rows: int) -> None:
    if not isinstance(obj, dict) or "data" not in obj or "labels" not in obj:
        raise _bad(where, "'data' と 'labels' を持つ辞書ではありません",
                   "not a dict with 'data' and 'labels'")
    data, labels = obj["data"], obj["labels"]
    shaped = isinstance(data, np.ndarray) and data.shape == (rows, ROW_BYTES)
    if not shaped or data.dtype != np.uint8:
        shape = getattr(data, "shape", type(data).__name__)
        raise _bad(where, f"'data' が ({rows}, {ROW_BYTES}) の uint8 配列ではありません({shape})",
                   f"'data' is not a uint8 array of shape ({rows}, {ROW_BYTES}) ({shape})")
    ok = isinstance(labels, list | tuple | np.ndarray) and len(labels) == rows and all(
        isinstance(v, int | np.integer) and 0 <= v <= 9 for v in labels)
    if not ok:
        raise _bad(where, f"'labels' が 0〜9 の整数 {rows} 個ではありません",
                   f"'labels' is not {rows} integers in 0..9")


def _check_meta(obj: Any, where: str) -> None:
    names = obj.get("label_names") if isinstance(obj, dict) else None
    if not (isinstance(names, list) and len(names) == 10
            and all(isinstance(n, str) for n in names)):
        raise _bad(where, "'label_names' に 10 個のクラス名がありません",
                   "'label_names' does not hold 10 class names")


def _check_member(name: str, data: bytes, where: str, spec: CifarSpec) -> None:
    obj = safe_load(io.BytesIO(data), where=where)
    if name == CIFAR_META:
        _check_meta(obj, where)
    else:
        _check_batch(obj, where, spec.rows_per_batch)


def _check_checksums(digests: dict[str, str], path: Path, spec: CifarSpec) -> None:
    # After the shape checks, which explain more than a bare checksum mismatch can.
    for name, digest in digests.items():
        if digest != spec.md5.get(name):
            raise _bad(f"{path}:{FOLDER}/{name}",
                       "中身が公式の CIFAR-10 と一致しません(チェックサムが違います)。"
                       "torchvision はこのファイルを受け付けません",
                       "the contents differ from the official CIFAR-10 (checksum mismatch); "
                       "torchvision would not accept it")


def _member_name(member: tarfile.TarInfo) -> str | None:
    name = member.name.removeprefix("./")
    folder, _, base = name.partition("/")
    return base if folder == FOLDER and base in MEMBERS else None


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo, where: str) -> bytes:
    if not member.isreg():
        raise _bad(where, "通常のファイルではありません(リンクなど)",
                   "not a regular file (a link?)")
    if member.size > MEMBER_LIMIT:
        raise _bad(where, f"大きすぎます({member.size:,} バイト)",
                   f"too large ({member.size:,} bytes)")
    handle = tar.extractfile(member)
    assert handle is not None  # isreg() members always have contents
    return handle.read()


def stage_cifar(path: Path, dest: Path, *, spec: CifarSpec = CIFAR10) -> dict[str, int]:
    """Check the archive's seven members and copy them to ``dest/cifar-10-batches-py``."""
    out = dest / FOLDER
    out.mkdir(parents=True)
    digests: dict[str, str] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                name = _member_name(member)
                if name is None:
                    continue
                where = f"{path}:{member.name}"
                if name in digests:
                    raise _bad(where, "同じ名前のファイルが二つあります", "appears twice")
                data = _read_member(tar, member, where)
                _check_member(name, data, where, spec)
                digests[name] = hashlib.md5(data).hexdigest()
                (out / name).write_bytes(data)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DatasetError(tr(ja=f"アーカイブが壊れているか途中で切れています: {exc}",
                              en=f"the archive is corrupt or truncated: {exc}"),
                           where=str(path),
                           hint=tr(ja="ダウンロードし直してください",
                                   en="download it again")) from exc
    missing = [m for m in MEMBERS if m not in digests]
    if missing:
        raise _bad(str(path), f"{FOLDER}/ に必要なファイルがありません: {', '.join(missing)}",
                   f"{FOLDER}/ lacks: {', '.join(missing)}")
    _check_checksums(digests, path, spec)
    return spec.splits
