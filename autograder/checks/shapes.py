"""Shape checks: ``expect_shape(tensor, (None, 10), what="出力")``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._common import shape_text, type_name
from .outcomes import fail

if TYPE_CHECKING:
    import torch


def expect_shape(value: Any, shape: Sequence[int | None], *, what: str = "出力"
                 ) -> torch.Tensor:
    """Fail unless ``value`` is a tensor of ``shape`` (``None`` matches any size)."""
    import torch

    if not isinstance(value, torch.Tensor):
        fail(ja=f"{what} がテンソルではありません (型: {type_name(value)})",
             en=f"{what} is not a tensor (type: {type_name(value)})")
    actual = tuple(value.shape)
    wanted = tuple(shape)
    if len(actual) != len(wanted) or any(w is not None and w != a
                                         for a, w in zip(actual, wanted, strict=False)):
        fail(ja=f"{what} の形が {shape_text(wanted)} ではなく {shape_text(actual)} です",
             en=f"{what} has shape {shape_text(actual)}, expected {shape_text(wanted)}")
    return value
