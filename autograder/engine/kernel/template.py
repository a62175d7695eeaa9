"""This process's kernel template, when it forks its kernels (``zygote.py``).

A grading worker starts its template once, at the very beginning (``start``: the
template imports torch in its own process while the worker imports its own modules),
and from then on every ``SandboxedKernel`` it makes gets ``forked.ForkLauncher`` as its
launcher (``with_launcher``). Where a template cannot be had (no root, no bubblewrap,
``AUTOGRADER_FORK=0``, or it failed to start) kernels are spawned as before: the
launcher falls back by itself, and says so once on the log.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from .zygote import Template, TemplateSpec, available

log = logging.getLogger(__name__)

_TEMPLATE: Template | None = None
_LAUNCHER: Any = None


def start(spec: TemplateSpec | None) -> Template | None:
    """Start this process's template for ``spec`` (None: spawn kernels); the running one
    if it was made for the same spec. None where forking is unavailable."""
    global _TEMPLATE, _LAUNCHER
    if spec is None or not available():
        stop()
        return None
    if _TEMPLATE is not None and _TEMPLATE.spec == spec and _TEMPLATE.alive:
        return _TEMPLATE
    stop()
    from multiprocessing.util import Finalize

    from .forked import ForkLauncher

    template = Template(spec)
    try:
        template.start()
    except Exception as exc:  # e.g. bubblewrap refused: kernels are spawned instead
        log.warning("no kernel template (%s); kernels are started one by one", exc)
        template.close()
        return None
    _TEMPLATE, _LAUNCHER = template, ForkLauncher(template)
    # multiprocessing children leave through os._exit: atexit would never run
    Finalize(template, template.close, exitpriority=20)
    return template


def stop() -> None:
    """Close this process's template (its children die with it)."""
    global _TEMPLATE, _LAUNCHER
    template, _TEMPLATE, _LAUNCHER = _TEMPLATE, None, None
    if template is not None:
        with contextlib.suppress(Exception):
            template.close()


def current() -> Template | None:
    return _TEMPLATE


def with_launcher(factory: Any, kwargs: Mapping[str, Any]) -> Mapping[str, Any]:
    """``kwargs`` for a kernel of ``factory``, with the forking launcher where this
    process has a template and the factory takes a launcher (``SandboxedKernel``)."""
    if _LAUNCHER is None or "launcher" in kwargs or not getattr(factory, "forkable", False):
        return kwargs
    return {**kwargs, "launcher": _LAUNCHER}


__all__ = ["current", "start", "stop", "with_launcher"]
