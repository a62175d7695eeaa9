"""Value checks with student-facing messages: ``expect_close``, ``expect_equal``.

``as_number`` takes a one-element tensor as the number it holds (a contract that says
"a number" accepts one).

``as_tensor`` accepts what the bridge returns for numbers (a tensor, a Python number,
nested lists or tuples of them) and refuses anything else, in particular a ``Remote``
handle: an object the student built can never be compared as if it were a value.
NaN is reported as such ("NaN が含まれています") unless ``allow_nan``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._common import clip_repr, shape_text, type_name
from .outcomes import fail

if TYPE_CHECKING:
    import torch

_NUMBER = (bool, int, float)


def as_tensor(value: Any, *, what: str = "結果", dtype: torch.dtype | None = None
              ) -> torch.Tensor:
    """A grader-side tensor from a student value; a failed check if it is not numeric."""

    tensor = _to_tensor(value)
    if tensor is None:
        fail(ja=f"{what} が数値やテンソルではありません (型: {type_name(value)})",
             en=f"{what} is not a number or tensor (type: {type_name(value)})")
    return tensor.to(dtype) if dtype is not None else tensor


def _to_tensor(value: Any) -> torch.Tensor | None:
    import torch

    if isinstance(value, torch.Tensor):
        return value
    if type(value) in _NUMBER:
        return torch.tensor(value)
    if type(value) not in (list, tuple):
        return None
    parts = [_to_tensor(v) for v in value]
    if any(p is None for p in parts):
        return None
    if not parts:
        return torch.empty(0)
    try:
        return torch.stack([p.to(torch.float64) for p in parts if p is not None])
    except RuntimeError:  # ragged
        return None


def as_number(value: Any) -> Any:
    """A one-element tensor as a Python ``float`` (a loss summed as a tensor, an accuracy
    returned as ``torch.tensor(0.98)``); anything else unchanged, to be checked by the
    caller (``type(v) in (int, float)``)."""
    import torch

    return float(value) if isinstance(value, torch.Tensor) and value.numel() == 1 else value


def within(got: float, want: float, tol: float) -> bool:
    """``got`` is a finite number no further than ``tol`` from ``want``. Never write the
    test as ``abs(got - want) > tol`` → fail: for a NaN that comparison is False, and a
    ``return float("nan")`` passed (red-team pass 4, 03_n's evaluate)."""
    return math.isfinite(got) and abs(got - want) <= tol


def is_fraction(value: Any) -> bool:
    """A finite ``int``/``float`` (not ``bool``) in [0, 1]: an accuracy."""
    return type(value) in (int, float) and math.isfinite(value) and 0.0 <= value <= 1.0


def expect_close(actual: Any, expected: Any, *, what: str = "結果", rtol: float = 1e-5,
                 atol: float = 1e-8, allow_nan: bool = False, show_expected: bool = False
                 ) -> torch.Tensor:
    """Fail unless ``actual`` has ``expected``'s shape and is close to it elementwise."""
    import torch

    got = as_tensor(actual, what=what, dtype=torch.float64)
    want = as_tensor(expected, what="expected", dtype=torch.float64)
    if got.shape != want.shape:
        fail(ja=f"{what} の形が {shape_text(tuple(want.shape))} ではなく "
                f"{shape_text(tuple(got.shape))} です",
             en=f"{what} has shape {shape_text(tuple(got.shape))}, "
                f"expected {shape_text(tuple(want.shape))}")
    if not allow_nan and bool(torch.isnan(got).any()):
        fail(ja=f"{what} に NaN が含まれています", en=f"{what} contains NaN")
    if not torch.allclose(got, want, rtol=rtol, atol=atol, equal_nan=allow_nan):
        _fail_mismatch(got, want, what=what, show_expected=show_expected)
    return got


def _fail_mismatch(got: torch.Tensor, want: torch.Tensor, *, what: str,
                   show_expected: bool) -> None:
    import torch

    diff = torch.nan_to_num((got - want).abs(), nan=float("inf")).reshape(-1)
    flat = int(diff.argmax()) if diff.numel() else 0
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), got.shape)) \
        if got.dim() else ()
    err = float(diff[flat]) if diff.numel() else 0.0
    where_ja = f", 位置 {index}" if index else ""
    where_en = f" at {index}" if index else ""
    ja = f"{what} が正しくありません (最大誤差 {err:.3g}{where_ja})"
    en = f"{what} is not correct (largest error {err:.3g}{where_en})"
    if show_expected:
        a, e = float(got.reshape(-1)[flat]), float(want.reshape(-1)[flat])
        ja += f": 期待値 {e:.6g}, 実際の値 {a:.6g}"
        en += f": expected {e:.6g}, got {a:.6g}"
    fail(ja=ja, en=en)


def plain_equal(actual: Any, expected: Any) -> bool:
    """Equality of plain data that a student object cannot fake; lists and tuples are
    interchangeable, numbers compare by value, tensors by shape and values."""
    import torch

    if isinstance(expected, torch.Tensor) or isinstance(actual, torch.Tensor):
        a, e = _to_tensor(actual), _to_tensor(expected)
        return a is not None and e is not None and a.shape == e.shape and \
            bool(torch.equal(a.to(torch.float64), e.to(torch.float64)))
    if type(expected) in (list, tuple):
        return type(actual) in (list, tuple) and len(actual) == len(expected) and all(
            plain_equal(a, e) for a, e in zip(actual, expected, strict=True))
    if isinstance(expected, Mapping):
        return type(actual) is dict and set(actual) == set(expected) and all(
            plain_equal(actual[k], expected[k]) for k in expected)
    if expected is None or type(expected) is str:
        return type(actual) is type(expected) and bool(actual == expected)
    return type(actual) in _NUMBER and type(expected) in _NUMBER and bool(actual == expected)


def expect_equal(actual: Any, expected: Any, *, what: str = "結果",
                 show_expected: bool = False) -> None:
    """Fail unless ``actual`` equals ``expected`` as plain data (see ``plain_equal``)."""
    if plain_equal(actual, expected):
        return
    if show_expected:
        fail(ja=f"{what} が正しくありません: 期待値 {clip_repr(expected)}, "
                f"実際の値 {clip_repr(actual)}",
             en=f"{what} is not correct: expected {clip_repr(expected)}, "
                f"got {clip_repr(actual)}")
    fail(ja=f"{what} が正しくありません", en=f"{what} is not correct")
