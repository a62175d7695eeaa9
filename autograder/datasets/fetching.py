"""``autograder data fetch``: torchvision's own downloaders, staged into the cache."""

from __future__ import annotations

import http.client
from pathlib import Path

from ..core.errors import DatasetError
from ..core.i18n import tr
from .cache import Staging, resolve
from .catalog import DatasetInfo, by_name


def _complete(info: DatasetInfo, path: Path) -> bool:
    return all((path / f).is_file() for f in info.files)


def _download(info: DatasetInfo, root: Path) -> None:
    import torchvision.datasets as tvd

    cls = getattr(tvd, info.torchvision_class)
    try:
        for train in (True, False):  # MNIST fetches both splits at once; CIFAR too
            cls(root=str(root), train=train, download=True)
    except (RuntimeError, OSError, http.client.HTTPException) as exc:
        raise DatasetError(
            tr(ja=f"ダウンロードできませんでした: {exc}", en=f"download failed: {exc}"),
            where=info.name,
            hint=tr(ja="オフラインの環境では、別の場所で入手したファイルを "
                       "`autograder data import ファイル` で取り込んでください",
                    en="offline, import files obtained elsewhere with "
                       "`autograder data import FILE`"),
        ) from exc


def fetch(*, name: str, cache: Path | str | None = None) -> Path:
    """Download ``name`` (mnist, fashion-mnist, cifar10) into the cache; return its folder.

    Nothing is downloaded when the cache already holds the dataset. A failed download
    raises ``DatasetError`` (hint: ``autograder data import``) and leaves the cache as it was.
    """
    info = by_name(name)
    root = resolve(cache)
    target = root / info.folder
    if _complete(info, target):
        return target
    with Staging(root) as staging:
        _download(info, staging.dir)
        if not _complete(info, staging.dir / info.folder):
            raise DatasetError(tr(ja="ダウンロードしたファイルが揃っていません",
                                  en="the download is incomplete"), where=info.name)
        # torchvision leaves the CIFAR tarball beside the folder; it stays in staging.
        staging.commit([info.folder])
    return target
