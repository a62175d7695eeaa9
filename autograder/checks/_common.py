"""Small helpers shared by the check families."""

from __future__ import annotations

from typing import Any

from ..engine.bridge.submission import Remote


def type_name(value: Any) -> str:
    """The type to show a student: the kernel-side type for handles."""
    return value.type_name if isinstance(value, Remote) else type(value).__name__


def shape_text(shape: tuple[int | None, ...]) -> str:
    if not shape:
        return "()"
    parts = ["*" if s is None else str(s) for s in shape]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def clip_repr(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
