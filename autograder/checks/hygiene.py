"""What checks may change in the grader's process, and putting it back.

Checks (and the in-notebook test cells run grader-side) run in a long-lived worker, one
submission after the other: before each check the grader's RNGs are seeded from the
check's id, so every submission sees the same grader-side random inputs; around each
submission's run the RNG states, torch's default dtype and grad mode, ``sys.path`` and
the environment pytest reads are put back; ``alarm`` ends a check stuck in grader code.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import signal
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .outcomes import CheckTimeout


@contextlib.contextmanager
def alarm(deadline: float, limit: float) -> Iterator[None]:
    """Raise ``CheckTimeout`` in this thread at ``deadline`` (main thread only)."""
    usable = threading.current_thread() is threading.main_thread() \
        and hasattr(signal, "setitimer")
    if not usable:
        yield
        return
    left = deadline - time.monotonic()
    if left <= 0:
        raise CheckTimeout(limit)

    def _fire(signum: int, frame: Any) -> None:
        raise CheckTimeout(limit)

    previous = signal.signal(signal.SIGALRM, _fire)
    signal.setitimer(signal.ITIMER_REAL, left)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def seed_rngs(nodeid: str) -> None:
    seed = zlib.crc32(nodeid.encode("utf-8"))
    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed)
    torch = sys.modules.get("torch")
    if torch is None:
        return
    if _cpu_only(torch):
        # What torch.manual_seed does where there is no accelerator, without the stack
        # trace it records for CUDA's lazy seeding on every call (milliseconds each).
        torch.default_generator.manual_seed(seed)
    else:
        torch.manual_seed(seed)


@functools.lru_cache(maxsize=1)
def _cpu_only(torch: Any) -> bool:
    accelerators = [torch.cuda.is_available, torch.backends.mps.is_available,
                    getattr(getattr(torch, "xpu", None), "is_available", None),
                    getattr(getattr(torch, "mtia", None), "is_available", None)]
    return not any(check() for check in accelerators if callable(check))


@contextlib.contextmanager
def global_state_restored() -> Iterator[None]:
    """Put back what checks may change in the grader process: RNGs, torch modes, paths."""
    saved_path = list(sys.path)
    saved_random = random.getstate()
    np = sys.modules.get("numpy")
    saved_np = np.random.get_state() if np is not None else None
    torch = sys.modules.get("torch")
    saved_torch = (torch.get_rng_state(), torch.get_default_dtype(),
                   torch.is_grad_enabled()) if torch is not None else None
    try:
        yield
    finally:
        sys.path[:] = saved_path
        random.setstate(saved_random)
        if np is not None:
            np.random.set_state(saved_np)
        if torch is not None and saved_torch is not None:
            torch.set_rng_state(saved_torch[0])
            torch.set_default_dtype(saved_torch[1])
            torch.set_grad_enabled(saved_torch[2])


@contextlib.contextmanager
def environment() -> Iterator[None]:
    """Only our plugin and pytest's own: no installed plugins, no PYTEST_* options, no
    assertion rewriting, no bytecode written into the assignment folder."""
    names = ("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PYTEST_ADDOPTS", "PYTEST_PLUGINS")
    saved = {name: os.environ.get(name) for name in names}
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    os.environ.pop("PYTEST_ADDOPTS", None)
    os.environ.pop("PYTEST_PLUGINS", None)
    bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    # An enclosing pytest (e.g. this project's own tests) would rewrite the checks'
    # asserts and put their source into the messages students read.
    saved_hooks = list(sys.meta_path)
    sys.meta_path[:] = [h for h in saved_hooks
                        if type(h).__name__ != "AssertionRewritingHook"]
    try:
        yield
    finally:
        sys.meta_path[:] = saved_hooks
        sys.dont_write_bytecode = bytecode
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def modules_from(folder: Path) -> dict[str, Any]:
    """The modules in ``sys.modules`` that were loaded from ``folder``."""
    root = str(folder.resolve())
    found = {}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and os.path.abspath(file).startswith(root + os.sep):
            found[name] = module
    return found


def forget_modules(folder: Path) -> None:
    """Drop modules loaded from the assignment, so the next collection imports its own."""
    for name in modules_from(folder):
        del sys.modules[name]


__all__ = ["alarm", "environment", "forget_modules", "global_state_restored",
           "modules_from", "seed_rngs"]
