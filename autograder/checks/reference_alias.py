"""``reference`` as a name for ``autograder_reference``, for assignment checks written
before the reference solutions got a package name of their own.

The sample course's checks say ``from reference import perceptron``. The wheel installs
the solutions as ``autograder_reference`` (a top-level ``reference`` would be a generic
name in everyone's site-packages), so ``install`` puts a finder in front of
``sys.meta_path`` that answers ``reference`` and ``reference.<module>`` with the very same
module objects (one ``reference.cifar.AlexNet`` class, whichever name imported it).

A real ``reference`` package on ``sys.path`` (a course of its own) still wins: the finder
steps aside for the top-level name when the path finder knows it, and for the
sub-modules of any ``reference`` that is not the alias.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType

OLD = "reference"
NEW = "autograder_reference"


class _AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self) -> None:
        self._real_specs: dict[str, importlib.machinery.ModuleSpec | None] = {}

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname == OLD:
            if importlib.machinery.PathFinder.find_spec(OLD) is not None:
                return None  # a real `reference` on sys.path
        elif not fullname.startswith(OLD + ".") or not _aliased():
            return None
        real = importlib.util.find_spec(NEW + fullname[len(OLD):])
        if real is None:
            return None
        return importlib.util.spec_from_loader(
            fullname, self, is_package=real.submodule_search_locations is not None)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        # The existing module itself: importlib keeps its __name__ and __path__, but sets
        # __spec__ to the alias's (put back in exec_module: the engine's fingerprint and
        # anything else that asks find_spec for the real package must keep finding it).
        module = importlib.import_module(NEW + spec.name[len(OLD):])
        self._real_specs[module.__name__] = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run (``create_module`` returned a module already executed); the
        module's own spec put back."""
        module.__spec__ = self._real_specs.get(module.__name__, module.__spec__)


def _aliased() -> bool:
    module = sys.modules.get(OLD)
    return module is not None and module is sys.modules.get(NEW)


_FINDER = _AliasFinder()


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (idempotent)."""
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _FINDER)
