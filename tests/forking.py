"""Kernels both ways for the sandbox tests: spawned (``kernel.launch_kernel``) and forked
from a kernel template (``zygote.py``, ``forked.ForkLauncher``).

A test module that must hold on both paths takes a module-scoped fixture made with
``launcher_fixture``: its tests run once with each launcher (pytest groups them, so each
module starts one template). ``needs_fork`` skips where forking is unavailable (no root,
no bubblewrap, a Python under /tmp: ``zygote.unavailable_reason``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from autograder.engine.kernel import zygote
from autograder.engine.kernel.forked import ForkLauncher
from autograder.engine.kernel.sandboxed import launch_kernel
from autograder.engine.kernel.zygote import Template, TemplateSpec

LAUNCHERS = ("spawn", "fork")
PRELOAD = ("numpy", "torch")

needs_fork = pytest.mark.skipif(not zygote.available(),
                                reason=f"no forked kernels: {zygote.unavailable_reason()}")


@contextmanager
def template(datasets: Sequence[tuple[str, Path]] = (),
             preload: Sequence[str] = PRELOAD) -> Iterator[Template]:
    """A started kernel template (closed, with every child, on the way out)."""
    if not zygote.available():
        pytest.skip(f"no forked kernels: {zygote.unavailable_reason()}")
    spec = TemplateSpec(preload=tuple(preload),
                        datasets=tuple((n, Path(p).resolve()) for n, p in datasets))
    made = Template(spec)
    made.start()
    try:
        made.wait_ready()
        yield made
    finally:
        made.close()


def launcher_fixture(datasets: Callable[[pytest.FixtureRequest], Sequence[tuple[str, Path]]]
                     = lambda request: ()) -> Any:
    """A module-scoped fixture giving each test the spawn launcher, then a fork one."""
    @pytest.fixture(scope="module", params=LAUNCHERS)
    def launcher(request: pytest.FixtureRequest) -> Iterator[Any]:
        if request.param == "spawn":
            yield launch_kernel
            return
        with template(datasets(request)) as made:
            yield ForkLauncher(made)

    return launcher
