"""Content-addressed files beside the gradebook, for submissions too large to inline.

SQLite refuses a blob above its length limit (``sqlite3.DataError: string or blob too
big``) and a database full of large blobs is slow to back up and vacuum, so the gradebook
keeps only small content inline and the rest here, one file per sha256:
``<gradebook>.blobs/ab/abcdef…``. Files are written to a temporary name and renamed, so a
killed grader never leaves half a blob under a real name, and the same content is
stored once however often it is submitted. Reading checks the hash.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ..core.errors import GradebookError
from ..core.i18n import tr

_CHUNK = 1 << 20


class BlobStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    @classmethod
    def beside(cls, database: Path) -> BlobStore:
        return cls(database.with_name(database.name + ".blobs"))

    def ref(self, sha256: str) -> str:
        """The blob's path relative to the store (what the gradebook records)."""
        return f"{sha256[:2]}/{sha256}"

    def put_file(self, source: Path) -> tuple[str, int]:
        """Copy ``source`` in chunks; return its (sha256, size)."""
        with Path(source).open("rb") as fh:
            return self._put(iter(lambda: fh.read(_CHUNK), b""))

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        return self._put(iter([data]))

    def _put(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        self.root.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        fd, tmp = tempfile.mkstemp(prefix=".incoming-", dir=self.root)
        try:
            with os.fdopen(fd, "wb") as out:
                for block in chunks:
                    digest.update(block)
                    size += len(block)
                    out.write(block)
            sha = digest.hexdigest()
            target = self.root / self.ref(sha)
            target.parent.mkdir(exist_ok=True)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return sha, size

    def read(self, ref: str) -> bytes:
        """The blob's bytes; ``GradebookError`` when it is missing or not what was stored."""
        path = self.root / ref
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise GradebookError(tr(ja=f"提出ファイルの本体を読めません ({exc.strerror})",
                                    en=f"cannot read a stored submission ({exc.strerror})"),
                                 where=str(path), hint=tr(
                                     ja="gradebook と同じ場所の .blobs フォルダを戻してください",
                                     en="restore the .blobs folder beside the gradebook")
                                 ) from exc
        if hashlib.sha256(data).hexdigest() != Path(ref).name:
            raise GradebookError(tr(ja="保存された提出ファイルが壊れています",
                                    en="a stored submission is corrupt"), where=str(path))
        return data
