"""Work done once per submission: ``once(submission, key, compute)``.

A check module is executed again for every submission (``session.py``), so a module-level
cache lasts one run; a cache in a helper module would outlive it. ``once`` keeps its
values beside the submission being graded instead: weakly keyed by the submission object
(a value never reaches another submission, whatever becomes of the first one), and
cleared by the checks session at the end of every run (``forget_all``). Use it for what
several checks of one submission need and the grader computes itself: the grader's test
set, a trained model's predictions on it.

Only grader-side values belong here: a ``Remote`` or ``RemoteModel`` handle is cheap to
ask for again, and asking again keeps every check's requests to the kernel its own.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar, cast

_T = TypeVar("_T")

_VALUES: weakref.WeakKeyDictionary[Any, dict[Hashable, Any]] = weakref.WeakKeyDictionary()


def once(submission: object, key: Hashable, compute: Callable[[], _T]) -> _T:
    """``compute()`` the first time ``key`` is asked for this ``submission``; the same
    value afterwards, until the run ends. A ``compute`` that raises (a failed check)
    stores nothing: the next check asking computes again."""
    values = _VALUES.get(submission)
    if values is None:
        values = _VALUES[submission] = {}
    if key not in values:
        values[key] = compute()
    return cast("_T", values[key])


def forget_all() -> None:
    """Drop every stored value (the checks session calls it after each run)."""
    _VALUES.clear()


__all__ = ["forget_all", "once"]
