"""The kernel's fingerprint module (``sandbox_files/ag_code.py``) loaded by path in the
grader: one definition of a code fingerprint and of what a library path leads to, for
both sides of the ``codes`` request (``code_identity``, ``library_paths``)."""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from types import ModuleType

from ..kernel.sandbox import SANDBOX_FILES

_AG_CODE = SANDBOX_FILES / "ag_code.py"


@lru_cache(maxsize=1)
def ag_code() -> ModuleType:
    """The kernel's fingerprint module, loaded from its file (one definition)."""
    spec = importlib.util.spec_from_file_location("autograder_ag_code", _AG_CODE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


__all__ = ["ag_code"]
