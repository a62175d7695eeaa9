"""The cache directory and its one way of changing: stage beside it, then rename in.

Every fetch or import builds its folders in a ``.staging-*`` directory inside the cache
(same file system, so the final ``rename`` is atomic) and swaps them in under an
``flock`` on ``<cache>/.lock``. A failure at any point removes the staging directory and
leaves the cache exactly as it was.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from ..core import paths
from ..core.errors import DatasetError
from ..core.i18n import tr

LOCK_NAME = ".lock"
STAGING_PREFIX = ".staging-"


def resolve(cache: Path | str | None) -> Path:
    """The cache directory (absolute): ``cache`` when given, else ``$AUTOGRADER_DATA`` or
    the default. Absolute because the sandbox binds these paths into another root."""
    root = Path(cache).expanduser() if cache is not None else paths.data_dir()
    return root.absolute()


@contextmanager
def cache_lock(root: Path) -> Iterator[None]:
    """Exclusive lock on the cache (across processes) while folders are swapped."""
    fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


class Staging:
    """A private build directory inside the cache; ``commit`` moves folders into place."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._dir: Path | None = None

    @property
    def dir(self) -> Path:
        if self._dir is None:
            raise RuntimeError("Staging used outside its with-block")
        return self._dir

    def __enter__(self) -> Staging:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._dir = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.root))
        except OSError as exc:
            raise DatasetError(
                tr(ja=f"キャッシュのフォルダに書き込めません: {exc}",
                   en=f"cannot write to the cache folder: {exc}"),
                where=str(self.root),
                hint=tr(ja="--data か AUTOGRADER_DATA で書き込める場所を指定してください",
                        en="choose a writable place with --data or AUTOGRADER_DATA"),
            ) from exc
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def commit(self, folders: Iterable[str]) -> list[Path]:
        """Replace ``<cache>/<folder>`` by the staged one, for each folder."""
        placed = []
        with cache_lock(self.root):
            for folder in folders:
                placed.append(self._swap_in(folder))
        return placed

    def _swap_in(self, folder: str) -> Path:
        new, target = self.dir / folder, self.root / folder
        # The old copy goes into the staging dir, so __exit__ removes it with the rest.
        old = self.dir / f".replaced-{folder}"
        had_old = target.exists() or target.is_symlink()
        try:
            if had_old:
                os.rename(target, old)
            try:
                os.rename(new, target)
            except OSError:
                if had_old:
                    os.rename(old, target)
                raise
        except OSError as exc:
            raise DatasetError(tr(ja=f"キャッシュに置けませんでした: {exc}",
                                  en=f"could not move into the cache: {exc}"),
                               where=str(target)) from exc
        return target
