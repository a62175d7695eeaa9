"""nbgrader's own cell helpers (``is_grade``, ``is_solution``, ``is_locked``,
``compute_checksum``), loaded without running ``nbgrader/__init__.py``.

Importing the nbgrader package loads its Jupyter server extensions (seconds per grading
worker); its ``utils`` module alone needs none of that. Checksums stay exactly nbgrader's.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

_NAME = "autograder._nbgrader_utils"


def _load() -> ModuleType:
    if "nbgrader.utils" in sys.modules:  # already paid for: use the real one
        return sys.modules["nbgrader.utils"]
    if _NAME in sys.modules:
        return sys.modules[_NAME]
    package = importlib.util.find_spec("nbgrader")
    if package is None or package.origin is None:
        raise ImportError("nbgrader is not installed")
    spec = importlib.util.spec_from_file_location(_NAME, Path(package.origin).parent / "utils.py")
    if spec is None or spec.loader is None:
        raise ImportError("nbgrader/utils.py not found")
    module = importlib.util.module_from_spec(spec)
    sys.modules[_NAME] = module
    spec.loader.exec_module(module)
    return module


nbg = _load()
