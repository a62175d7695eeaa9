"""``autograder data import``: recognise archives by their contents and stage them.

Accepted: the four MNIST/Fashion-MNIST IDX files (``.gz`` or plain), the classic
``mnist.pkl.gz`` and ``cifar-10-python.tar.gz``. Files are recognised by their bytes,
not their names; a directory contributes the files in it whose names look like one of
these. Everything is validated and staged first and moved into the cache only when all
of it is good.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ..core.errors import DatasetError
from ..core.i18n import tr
from .cache import Staging, resolve
from .catalog import by_folder

if TYPE_CHECKING:
    from .cifar import CifarSpec

Kind = Literal["idx", "mnist-pickle", "cifar-tar"]
_CANDIDATE = re.compile(r"(\.gz|\.tgz|\.tar|\.pkl|ubyte)$", re.IGNORECASE)
_HINT_FORMATS = ("MNIST IDX (train/t10k-images/labels-*.gz), mnist.pkl.gz, "
                 "cifar-10-python.tar.gz")


@dataclass(frozen=True)
class Imported:
    """One dataset placed in the cache."""

    name: str                 # "mnist", "fashion-mnist", "cifar10"
    folder: str               # torchvision's folder under the cache
    path: Path                # <cache>/<folder>
    splits: dict[str, int]    # {"train": 60000, "test": 10000}


def _peek(path: Path) -> bytes:
    """The first 512 bytes of the file's contents (decompressed when gzip)."""
    try:
        with path.open("rb") as raw:
            head = raw.read(512)
        if head[:2] == b"\x1f\x8b":
            with gzip.open(path, "rb") as inner:
                head = inner.read(512)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(tr(ja=f"読めないか壊れています: {exc}",
                              en=f"unreadable or corrupt: {exc}"), where=str(path)) from exc
    return head


def classify(path: Path) -> Kind:
    head = _peek(path)
    if head[:4] in (b"\x00\x00\x08\x01", b"\x00\x00\x08\x03"):
        return "idx"
    if head[257:262] == b"ustar":
        return "cifar-tar"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "mnist-pickle"
    if ".pkl" in path.name.lower():  # protocol 0/1 pickles have no magic bytes
        return "mnist-pickle"
    raise DatasetError(
        tr(ja="知らない形式のファイルです", en="unknown file format"), where=str(path),
        hint=tr(ja=f"取り込めるのは {_HINT_FORMATS} です", en=f"accepted: {_HINT_FORMATS}"))


def expand(paths: Iterable[Path | str]) -> list[Path]:
    """Files to import: the given files, and dataset-like files inside given directories."""
    files: list[Path] = []
    for given in map(Path, paths):
        if given.is_dir():
            found = sorted(p for p in given.iterdir() if p.is_file() and _CANDIDATE.search(p.name))
            if not found:
                raise DatasetError(
                    tr(ja="データセットのファイルが見つかりません", en="no dataset files found"),
                    where=str(given),
                    hint=tr(ja=f"取り込めるのは {_HINT_FORMATS} です",
                            en=f"accepted: {_HINT_FORMATS}"))
            files.extend(found)
        elif given.is_file():
            files.append(given)
        else:
            raise DatasetError(tr(ja="ファイルがありません", en="no such file"), where=str(given))
    unique = {p.resolve(): p for p in files}
    return list(unique.values())


def _group(files: list[Path]) -> dict[Kind, list[Path]]:
    groups: dict[Kind, list[Path]] = {"idx": [], "mnist-pickle": [], "cifar-tar": []}
    for path in files:
        groups[classify(path)].append(path)
    return groups


def _plan(groups: dict[Kind, list[Path]]) -> list[tuple[str, Kind, list[Path]]]:
    """(folder, kind, files) per job, refusing two jobs that would write one folder."""
    from .mnist import folder_for

    jobs: list[tuple[str, Kind, list[Path]]] = []
    if groups["idx"]:
        jobs.append((folder_for(groups["idx"]), "idx", groups["idx"]))
    jobs += [("MNIST", "mnist-pickle", [p]) for p in groups["mnist-pickle"]]
    jobs += [("cifar-10-batches-py", "cifar-tar", [p]) for p in groups["cifar-tar"]]
    seen: dict[str, str] = {}
    for folder, _, files in jobs:
        source = ", ".join(p.name for p in files)
        if folder in seen:
            raise DatasetError(
                tr(ja=f"同じデータセット({folder})を二度取り込もうとしています",
                   en=f"the same dataset ({folder}) is given twice"),
                where=f"{seen[folder]} / {source}",
                hint=tr(ja="どちらか一方だけを指定してください", en="give only one of them"))
        seen[folder] = source
    return jobs


def _stage(folder: str, kind: Kind, files: list[Path], dest: Path,
           cifar_spec: CifarSpec | None) -> dict[str, int]:
    if kind == "idx":
        from .mnist import stage_idx

        return stage_idx(files, dest, folder=folder)
    if kind == "mnist-pickle":
        from .mnist import stage_pickle

        return stage_pickle(files[0], dest)
    from .cifar import CIFAR10, stage_cifar

    return stage_cifar(files[0], dest, spec=cifar_spec or CIFAR10)


def run_import(files: list[Path], root: Path, *,
               cifar_spec: CifarSpec | None = None) -> list[Imported]:
    """Validate and stage every job, then move all of them into ``root`` together."""
    jobs = _plan(_group(files))
    with Staging(root) as staging:
        splits = [_stage(folder, kind, paths, staging.dir, cifar_spec)
                  for folder, kind, paths in jobs]
        placed = staging.commit([folder for folder, _, _ in jobs])
    return [Imported(name=by_folder(folder).name, folder=folder, path=path, splits=counts)
            for (folder, _, _), path, counts in zip(jobs, placed, splits, strict=True)]


def import_archives(*, paths: Iterable[Path | str],
                    cache: Path | str | None = None) -> list[Imported]:
    """Import dataset archives into the cache so torchvision finds them offline.

    ``paths`` are files or directories. Raises ``DatasetError`` (naming the file) for an
    unknown, corrupt, truncated, unsafe or wrongly shaped archive; the cache is then
    left exactly as it was.
    """
    files = expand(paths)
    if not files:
        raise DatasetError(tr(ja="取り込むファイルが指定されていません", en="no files given"))
    return run_import(files, resolve(cache))
