"""Gradient checks: a student's gradients against ``torch.autograd`` on grader inputs.

Inputs come from ``random_tensors``, which uses its own ``torch.Generator``: they depend
only on the seed, never on global RNG state (the kernel's RNG is another process anyway).
Comparisons are in float64 with ``rtol`` (course contract: 1e-5 relative).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._common import shape_text, type_name
from .outcomes import fail
from .values import as_tensor

if TYPE_CHECKING:
    import torch


def random_tensors(*, seed: int, dtype: torch.dtype | None = None, scale: float = 1.0,
                   **shapes: Sequence[int]) -> dict[str, torch.Tensor]:
    """Standard-normal tensors (float64 by default), one per keyword, in keyword order."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    kind = dtype or torch.float64
    return {name: torch.randn(tuple(shape), generator=generator, dtype=kind) * scale
            for name, shape in shapes.items()}


def autograd_gradients(fn: Callable[[dict[str, torch.Tensor]], torch.Tensor],
                       params: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Gradients of the scalar ``fn(params)`` with respect to every entry of ``params``."""
    import torch

    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    with torch.enable_grad():
        out = fn(leaves)
        if out.numel() != 1:
            raise ValueError("autograd_gradients needs a scalar function")
        grads = torch.autograd.grad(out.reshape(()), list(leaves.values()), allow_unused=True)
    return {k: g if g is not None else torch.zeros_like(leaves[k])
            for k, g in zip(leaves, grads, strict=True)}


def numerical_gradient(f: Callable[[torch.Tensor], Any], x: torch.Tensor, *,
                       eps: float = 1e-6) -> torch.Tensor:
    """Central differences of a scalar function ``f`` at ``x`` (computed in float64)."""
    import torch

    point = x.detach().to(torch.float64).clone()
    flat = point.view(-1)
    grad = torch.zeros_like(flat)
    for i in range(flat.numel()):
        original = float(flat[i])
        flat[i] = original + eps
        upper = float(f(point))
        flat[i] = original - eps
        lower = float(f(point))
        flat[i] = original
        grad[i] = (upper - lower) / (2 * eps)
    return grad.view_as(point)


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """``max|a − e| / max|e|`` (absolute error when ``e`` is all zeros)."""
    scale = float(expected.abs().max()) if expected.numel() else 0.0
    err = float((actual - expected).abs().max()) if expected.numel() else 0.0
    return err / scale if scale > 0 else err


def expect_gradients(student: Any, reference: Mapping[str, torch.Tensor], *,
                     rtol: float = 1e-5, atol: float = 1e-8, what: str = "勾配") -> None:
    """Fail unless ``student`` is a dict with every key of ``reference``, each gradient
    of the right shape, finite, and ``allclose`` to the reference."""
    import torch

    if not isinstance(student, Mapping):
        fail(ja=f"{what} が辞書ではありません (型: {type_name(student)})",
             en=f"{what} is not a dict (type: {type_name(student)})")
    missing = [k for k in reference if k not in student]
    if missing:
        fail(ja=f"{what} にキー {', '.join(missing)} がありません",
             en=f"{what} lacks the keys {', '.join(missing)}")
    for key, ref in reference.items():
        got = as_tensor(student[key], what=f"{what} {key}", dtype=torch.float64)
        want = ref.detach().to(torch.float64)
        if got.shape != want.shape:
            fail(ja=f"{what} {key} の形が {shape_text(tuple(want.shape))} ではなく "
                    f"{shape_text(tuple(got.shape))} です",
                 en=f"{what} {key} has shape {shape_text(tuple(got.shape))}, "
                    f"expected {shape_text(tuple(want.shape))}")
        if not bool(torch.isfinite(got).all()):
            fail(ja=f"{what} {key} に NaN または無限大が含まれています",
                 en=f"{what} {key} contains NaN or infinity")
        if not torch.allclose(got, want, rtol=rtol, atol=atol):
            err = relative_error(got, want)
            fail(ja=f"{what} {key} が torch.autograd の結果と一致しません "
                    f"(相対誤差 {err:.2e}, 許容 {rtol:g})",
                 en=f"{what} {key} does not match torch.autograd "
                    f"(relative error {err:.2e}, tolerance {rtol:g})")
