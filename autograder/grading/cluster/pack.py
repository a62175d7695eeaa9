"""An assignment folder as one checksummed archive, for workers on other machines.

A Dask worker may share no file system with the grader, so the client packs the
assignment folder (manifest, source notebook, checks and their data) into a gzipped tar
and sends it with every task; a worker unpacks each archive once, into a folder named
after its sha256, and every later task of the batch finds it there. The archive is the
same bytes for the same folder on every run (sorted entries, fixed times and owners), so
the checksum names the assignment's content, not the moment it was packed.

Datasets are not in the archive: they are read from a path the workers share
(``docs/scale.md``).
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import io
import os
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ...core.errors import ClusterError

MAX_PACK_BYTES = 16 << 20  # an assignment is code and a notebook; data belongs in datasets
_SKIP = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


@dataclass(frozen=True)
class AssignmentPack:
    """The packed folder of one assignment (plain, picklable data)."""

    assignment_id: str
    sha256: str
    data: bytes

    def verify(self) -> None:
        """Raise ``ClusterError`` unless the bytes are the ones that were packed."""
        if hashlib.sha256(self.data).hexdigest() != self.sha256:
            raise ClusterError("the packed assignment arrived damaged (checksum mismatch)",
                               where=f"assignment {self.assignment_id}",
                               hint="run the batch again; check the network between machines")


def pack_assignment(folder: Path, assignment_id: str) -> AssignmentPack:
    """Pack ``folder`` (an assignment's root) as ``<assignment_id>/...`` entries."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in _files(folder):
            name = f"{assignment_id}/{path.relative_to(folder).as_posix()}"
            with path.open("rb") as fh:
                tar.addfile(_info(path, name), fh)
    # mtime=0: the same folder gives the same bytes, hence the same checksum
    data = gzip.compress(raw.getvalue(), compresslevel=6, mtime=0)
    if len(data) > MAX_PACK_BYTES:
        raise ClusterError(f"the assignment folder packs to {len(data) >> 20} MB"
                           f" (limit {MAX_PACK_BYTES >> 20} MB)", where=str(folder),
                           hint="move large data into the dataset cache (docs/scale.md)")
    return AssignmentPack(assignment_id, hashlib.sha256(data).hexdigest(), data)


def _files(folder: Path) -> Iterator[Path]:
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP)
        for name in sorted(names):
            path = Path(root) / name
            if path.is_file() and not path.is_symlink() and not name.endswith(".pyc"):
                yield path


def _info(path: Path, name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = path.stat().st_size
    info.mode = 0o644
    info.mtime = 0
    return info


def default_cache() -> Path:
    """Where a worker keeps unpacked assignments (``$AUTOGRADER_WORKER_CACHE``)."""
    env = os.environ.get("AUTOGRADER_WORKER_CACHE")
    return Path(env) if env else Path(tempfile.gettempdir()) / "autograder-assignments"


def unpack(pack: AssignmentPack, cache: Path | None = None) -> Path:
    """The assignments root holding ``pack`` on this machine (unpacked on first use).

    Several worker processes on one machine may ask at once: an ``flock`` per checksum
    makes one of them unpack while the others wait, and the folder appears whole (a
    rename), never half-written.
    """
    root = _private(cache or default_cache()) / pack.sha256
    if (root / pack.assignment_id).is_dir():
        return root
    pack.verify()
    with _locked(root.parent / f"{pack.sha256}.lock"):
        if not (root / pack.assignment_id).is_dir():
            _extract(pack, root)
    return root


def _private(folder: Path) -> Path:
    """``folder``, made 0700 for this user: a checksum names content anyone could
    know, so nobody else may place a folder under that name for the worker to trust."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise ClusterError("the worker's assignment cache is not a private folder of this user",
                           where=str(folder), hint="remove it, or set AUTOGRADER_WORKER_CACHE")
    return folder


def _extract(pack: AssignmentPack, root: Path) -> None:
    staging = Path(tempfile.mkdtemp(prefix=f".{pack.sha256[:12]}-", dir=root.parent))
    try:
        with tarfile.open(fileobj=io.BytesIO(pack.data), mode="r:gz") as tar:
            for member in tar.getmembers():
                if not member.isfile() or not member.name.startswith(f"{pack.assignment_id}/"):
                    raise ClusterError(f"unexpected entry {member.name!r} in the packed "
                                       "assignment", where=f"assignment {pack.assignment_id}")
            # the "data" filter refuses absolute names, "..", links and special files
            tar.extractall(staging, filter="data")
        shutil.rmtree(root, ignore_errors=True)
        staging.rename(root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
