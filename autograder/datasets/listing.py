"""What the cache holds: rows for ``autograder data list`` and the sandbox's seed list.

Cheap by design (``stat`` calls and 8-byte IDX headers; no torch, no numpy): the sandbox
asks ``seed_entries`` for every submission it starts.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..core.i18n import Lang, tr
from .cache import resolve
from .catalog import CIFAR_TEST, CIFAR_TRAIN, DATASETS, DatasetInfo, by_name

CIFAR_ROWS = 10_000  # per batch file; import and torchvision's md5 both guarantee it


@dataclass(frozen=True)
class CacheEntry:
    """One dataset folder found in the cache."""

    name: str                      # "mnist", "fashion-mnist", "cifar10"
    folder: str                    # "MNIST", "FashionMNIST", "cifar-10-batches-py"
    path: Path
    splits: Mapping[str, int]      # {"train": 60000, "test": 10000}; parts present only
    size_bytes: int
    missing: tuple[str, ...]       # required files that are absent

    @property
    def complete(self) -> bool:
        return not self.missing


def _idx_count(path: Path) -> int | None:
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except OSError:
        return None
    return struct.unpack(">II", head)[1] if len(head) == 8 else None


def _splits(info: DatasetInfo, path: Path) -> dict[str, int]:
    if info.folder == "cifar-10-batches-py":
        counts = {"train": CIFAR_ROWS * sum((path / b).is_file() for b in CIFAR_TRAIN),
                  "test": CIFAR_ROWS * (path / CIFAR_TEST).is_file()}
        return {k: v for k, v in counts.items() if v}
    found = {split: _idx_count(path / "raw" / f"{prefix}-images-idx3-ubyte")
             for split, prefix in (("train", "train"), ("test", "t10k"))}
    return {split: n for split, n in found.items() if n is not None}


def _size(path: Path) -> int:
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def list_cache(*, cache: Path | str | None = None) -> list[CacheEntry]:
    """The known datasets present (even partly) in the cache, in catalog order."""
    root = resolve(cache)
    rows = []
    for info in DATASETS:
        path = root / info.folder
        if not path.is_dir():
            continue
        missing = tuple(f for f in info.files if not (path / f).is_file())
        rows.append(CacheEntry(name=info.name, folder=info.folder, path=path,
                               splits=_splits(info, path), size_bytes=_size(path),
                               missing=missing))
    return rows


def seed_entries(*, cache: Path | str | None = None,
                 names: Iterable[str] | None = None) -> list[tuple[str, Path]]:
    """``(entry name, host path)`` of each complete dataset, to bind read-only where
    notebooks look (``.``, ``./data``, ``/content/data``) so torchvision finds it.

    ``names`` (e.g. an assignment's ``datasets``) restricts the list; unknown names raise
    ``DatasetError``.
    """
    root = resolve(cache)
    wanted = DATASETS if names is None else tuple(by_name(n) for n in names)
    return [(info.folder, root / info.folder) for info in wanted
            if all((root / info.folder / f).is_file() for f in info.files)]


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _split_text(splits: Mapping[str, int], lang: Lang | None) -> str:
    label = {"train": tr(lang, ja="訓練", en="train"), "test": tr(lang, ja="テスト", en="test")}
    return " / ".join(f"{label.get(k, k)} {v:,}" for k, v in splits.items()) or "-"


def print_listing(entries: list[CacheEntry], *, cache: Path | str | None = None,
                  lang: Lang | None = None) -> None:
    """Print ``entries`` as a table on the CLI console (Japanese headers by default)."""
    from rich.table import Table

    from ..core.console import console

    root = resolve(cache)
    if not entries:
        console.print(tr(lang, ja=f"データセットのキャッシュは空です: {root}",
                         en=f"the dataset cache is empty: {root}"), highlight=False)
        console.print(tr(lang, ja="→ `autograder data fetch mnist` か "
                                  "`autograder data import ファイル` で追加してください",
                         en="→ add some with `autograder data fetch mnist` or "
                            "`autograder data import FILE`"), highlight=False)
        return
    table = Table(title=tr(lang, ja=f"データセットのキャッシュ: {root}",
                           en=f"dataset cache: {root}"))
    for header in (tr(lang, ja="データセット", en="dataset"), tr(lang, ja="フォルダ", en="folder"),
                   tr(lang, ja="件数", en="samples"), tr(lang, ja="サイズ", en="size"),
                   tr(lang, ja="状態", en="status")):
        table.add_column(header)
    for e in entries:
        status = (tr(lang, ja="OK", en="ok") if e.complete else
                  tr(lang, ja="不完全(不足: ", en="incomplete (missing: ")
                  + ", ".join(e.missing) + ")")
        table.add_row(e.name, e.folder, _split_text(e.splits, lang), _human(e.size_bytes),
                      status)
    console.print(table)
