"""What produced a result: the fingerprint every stored result carries.

A result is only as good as the things that decided it. Its fingerprint hashes each of
them (``parts``), and ``digest`` hashes the parts together:

- ``source``: the assignment's source notebook (test cells, points, rubric, hidden tests);
- ``tests``: every file under the assignment's ``tests/`` folder (caches excluded);
- ``manifest``: ``assignment.toml`` (points, limits, thresholds, grading parameters);
- ``params``: the grading parameters the kernel saw (the manifest's ``[grading]`` with
  ``--param`` overrides on top), kept as plain values so ``export`` can recompute the
  fingerprint a batch used;
- ``engine``: the package version plus a hash of the engine's own code: every ``.py``
  file of ``autograder/`` (and the kernel-side files in ``engine/kernel/sandbox_files/``) except the
  modules that only present, export or administer results (``PRESENTATION``), and the
  ``autograder_reference`` package the checks compare students against. The list is a
  denylist on
  purpose: a module forgotten there makes results stale too eagerly (a needless regrade),
  never too late (an old grade silently reused).

A result whose fingerprint differs from the current one is *stale* (``staleness.py``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .. import __version__
from ..core.config import Assignment, Scalar
from ..core.paths import PACKAGE_DIR

PARTS = ("source", "tests", "manifest", "params", "engine")
# Paths under autograder/ (a folder covers everything below it) whose code never changes
# a stored result: editing them must not make every result stale. The journeys that only
# present, export or administer results are whole packages; the engine, the checks, the
# store's gradebook and the grading journey stay in the hash.
PRESENTATION = frozenset({
    "cli", "export", "review", "authoring", "moodle",
    "core/console.py", "core/paths.py", "store/fingerprint.py", "store/hand_grades.py",
    "grading/staleness.py",
})
_SKIP_DIRS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})


@dataclass(frozen=True)
class Fingerprint:
    digest: str
    parts: Mapping[str, Any]

    def to_json(self) -> str:
        return json.dumps(dict(self.parts), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Fingerprint | None:
        """A stored fingerprint, or ``None`` when none was recorded (older gradebooks)."""
        try:
            parts = json.loads(text) if text else None
        except ValueError:
            return None
        return cls.of(parts) if isinstance(parts, dict) and parts else None

    @classmethod
    def of(cls, parts: Mapping[str, Any]) -> Fingerprint:
        text = json.dumps(dict(parts), sort_keys=True, ensure_ascii=False)
        return cls(hashlib.sha256(text.encode()).hexdigest()[:32], dict(parts))

    def changed(self, other: Fingerprint | None) -> list[str]:
        """The parts in which ``other`` differs from this one (all of them for ``None``)."""
        if other is None:
            return list(PARTS)
        return [k for k in PARTS if self.parts.get(k) != other.parts.get(k)]


def fingerprint(assignment: Assignment, params: Mapping[str, Scalar]) -> Fingerprint:
    """The fingerprint of grading ``assignment`` now with the effective ``params``."""
    return Fingerprint.of({
        "source": _file_hash(assignment.source_notebook),
        "tests": tree_hash(assignment.tests_dir),
        "manifest": _file_hash(assignment.manifest_path),
        "params": {k: params[k] for k in sorted(params)},
        "engine": engine_version(),
    })


def effective_params(assignment: Assignment, overrides: Mapping[str, Scalar] | None
                     ) -> dict[str, Scalar]:
    """What the kernel sees: the manifest's ``[grading]`` with the overrides on top."""
    return {**assignment.grading, **(overrides or {})}


@lru_cache(maxsize=1)
def engine_version() -> str:
    """``<package version>+<hash of the engine's code>`` (computed once per process)."""
    digest = hashlib.sha256()
    for label, path in _engine_files():
        digest.update(label.encode() + b"\0")
        digest.update(_file_hash(path).encode())
    return f"{__version__}+{digest.hexdigest()[:16]}"


def _engine_roots() -> list[Path]:
    roots = [PACKAGE_DIR]
    # the package itself, not the `reference` alias (which only exists once the checks
    # runner installed it, so the hash would differ between processes)
    spec = importlib.util.find_spec("autograder_reference")
    if spec is not None and spec.submodule_search_locations:
        roots.append(Path(next(iter(spec.submodule_search_locations))).resolve())
    return roots


def _presentation(rel: Path) -> bool:
    return any(rel.parts[:len(Path(p).parts)] == Path(p).parts for p in PRESENTATION)


def _engine_files() -> list[tuple[str, Path]]:
    """(``package/relative/path``, path) of every file the engine hash covers."""
    files: list[tuple[str, Path]] = []
    for root in _engine_roots():
        for path in _walk(root):
            rel = path.relative_to(root)
            if root == PACKAGE_DIR and _presentation(rel):
                continue
            if path.suffix == ".py" or "sandbox_files" in rel.parts:
                files.append((f"{root.name}/{rel.as_posix()}", path))
    return files


def tree_hash(folder: Path) -> str:
    """A hash of every file's relative path and bytes under ``folder`` ("" if absent)."""
    if not folder.is_dir():
        return ""
    digest = hashlib.sha256()
    for path in _walk(folder):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(_file_hash(path).encode())
    return digest.hexdigest()


def _walk(folder: Path) -> Iterator[Path]:
    """Regular files under ``folder`` in a stable order, caches and links left out."""
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).parts
        if any(p in _SKIP_DIRS for p in rel) or path.suffix in (".pyc", ".pyo"):
            continue
        if path.is_file() and not path.is_symlink():
            yield path


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        return ""
    return digest.hexdigest()
