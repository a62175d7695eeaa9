"""What an assignment needs from the cache that is not there, and how to fix it.

Decided on the grader's side (the cache's files against the manifest's ``datasets``),
never from what a kernel printed: a notebook that fails with torchvision's "Dataset not
found" and one whose cell failed for another reason look alike from the inside.
"""

from __future__ import annotations

import ast
import shlex
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..core.i18n import Lang, tr
from .cache import resolve
from .catalog import DatasetInfo, by_name
from .listing import seed_entries

ARCHIVES = {  # what `autograder data import` takes, per dataset
    "mnist": "mnist.pkl.gz",
    "fashion-mnist": "train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz "
                     "t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz",
    "cifar10": "cifar-10-python.tar.gz",
}
OFFLINE_PARAM = ("DATASET", "synthetic")


def missing_datasets(names: Iterable[str], *, cache: Path | str | None = None
                     ) -> list[DatasetInfo]:
    """The datasets among ``names`` that the cache does not hold completely."""
    wanted = [by_name(n) for n in names]
    present = {folder for folder, _ in seed_entries(cache=cache, names=[w.name for w in wanted])}
    return [info for info in wanted if info.folder not in present]


def fix_hint(info: DatasetInfo, *, cache: Path | str | None,
             offline_param: tuple[str, str] | None, lang: Lang | None = None) -> str:
    """One sentence: the dataset is missing from the cache, and the commands that fix it."""
    root = resolve(cache)
    option = f"--cache {shlex.quote(str(cache))} " if cache is not None else ""
    archive = ARCHIVES.get(info.name, "FILE")
    ja = (f"データセット {info.name} がキャッシュ ({root}) にありません: "
          f"`autograder data {option}import {archive}` で取り込むか、インターネットに"
          f"つながるマシンで `autograder data {option}fetch {info.name}` を実行してください")
    en = (f"dataset {info.name} is not in the cache ({root}): import it with "
          f"`autograder data {option}import {archive}`, or run "
          f"`autograder data {option}fetch {info.name}` on a machine with internet access")
    if offline_param:
        param = "=".join(offline_param)
        ja += f"。データなしで検証するには `--param {param}` を付けてください"
        en += f"; to validate without it, add `--param {param}`"
    return tr(lang, ja=ja, en=en)


def offline_param(source_nb: Any) -> tuple[str, str] | None:
    """``("DATASET", "synthetic")`` when the notebook supports it: its ``parameters``
    cell sets ``DATASET`` and its code names the value ``"synthetic"`` (14_n, 14_h)."""
    name, value = OFFLINE_PARAM
    sets_it = mentions = False
    for cell in getattr(source_nb, "cells", []):
        if cell.get("cell_type") != "code":
            continue
        tree = _parse(str(cell.get("source", "")))
        if "parameters" in (cell.get("metadata", {}).get("tags") or []):
            sets_it = sets_it or any(isinstance(n, ast.Name) and n.id == name
                                     and isinstance(n.ctx, ast.Store) for n in ast.walk(tree))
        mentions = mentions or any(isinstance(n, ast.Constant) and n.value == value
                                   for n in ast.walk(tree))
    return (name, value) if sets_it and mentions else None


def _parse(text: str) -> ast.AST:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError):
        return ast.Module(body=[], type_ignores=[])
