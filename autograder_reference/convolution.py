"""14_n — convolution and pooling arithmetic, by ``unfold`` (no ``F.conv2d``).

Convolution here is the deck's (seeds/000): slide the kernel over the input and sum the
elementwise products, i.e. cross-correlation, as ``nn.Conv2d`` computes it. The 5×5
input ``1..25`` with the 3×3 kernel ``1..9`` gives ``[[411, 456, 501], [636, 681, 726],
[861, 906, 951]]``; the 4×4 pooling example gives ``[[7, 6], [9, 8]]`` (max) and
``[[3.75, 3], [5.5, 5.75]]`` (average).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

__all__ = [
    "avg_pool2d",
    "conv2d",
    "conv2d_multi",
    "conv_output_size",
    "conv_params",
    "max_pool2d",
    "output_size",
]


def output_size(h: int, k: int, p: int = 0, s: int = 1) -> int:
    """``floor((h + 2p − k) / s) + 1``: output length of a convolution or pooling."""
    if s < 1 or p < 0 or k < 1:
        raise ValueError(f"output_size: need k ≥ 1, p ≥ 0, s ≥ 1 (got k={k}, p={p}, s={s})")
    if h + 2 * p < k:
        raise ValueError(f"output_size: kernel {k} is larger than the padded input {h + 2 * p}")
    return (h + 2 * p - k) // s + 1


def conv_output_size(h: int, k: int, p: int = 0, s: int = 1) -> int:
    """Same as :func:`output_size` (03_h's name for it)."""
    return output_size(h, k, p, s)


def conv_params(c_in: int, c_out: int, k: int | tuple[int, int]) -> int:
    """Learnable parameters of ``nn.Conv2d(c_in, c_out, k)`` with bias.

    ``c_out · (c_in · kh · kw + 1)``: one kernel per output map plus its bias.
    """
    kh, kw = (k, k) if isinstance(k, int) else k
    return c_out * (c_in * kh * kw + 1)


def _as_tensor(x: Any) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(x)


def _common(x: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    dtype = torch.promote_types(x.dtype, k.dtype)
    return x.to(dtype), k.to(dtype)


def _windows(x: torch.Tensor, kh: int, kw: int, stride: int, padding: int) -> torch.Tensor:
    """``(..., H, W)`` → ``(..., H', W', kh, kw)``: every kernel-sized window (a view)."""
    if padding:
        x = F.pad(x, (padding, padding, padding, padding))
    output_size(x.shape[-2], kh, 0, stride)  # raises when the kernel does not fit
    output_size(x.shape[-1], kw, 0, stride)
    return x.unfold(-2, kh, stride).unfold(-2, kw, stride)


def conv2d(x: Any, k: Any, stride: int = 1, padding: int = 0) -> torch.Tensor:
    """Single-channel 2-D convolution of ``x (H, W)`` with ``k (kh, kw)``.

    Integer inputs give an integer result (the deck's example stays exact).
    """
    xt, kt = _common(_as_tensor(x), _as_tensor(k))
    if xt.dim() != 2 or kt.dim() != 2:
        raise ValueError(
            f"conv2d: x and k must be 2-D; got {tuple(xt.shape)} and {tuple(kt.shape)}"
        )
    win = _windows(xt, kt.shape[0], kt.shape[1], stride, padding)
    return (win * kt).sum(dim=(-2, -1))


def conv2d_multi(
    x: Any, w: Any, b: Any | None = None, *, stride: int = 1, padding: int = 0
) -> torch.Tensor:
    """Multi-channel: ``x (C, H, W)``, ``w (K, C, kh, kw)``, ``b (K,)`` → ``(K, H', W')``.

    Each output map sums the per-channel convolutions and adds its bias, as ``F.conv2d``.
    """
    xt, wt = _common(_as_tensor(x), _as_tensor(w))
    if xt.dim() != 3 or wt.dim() != 4 or wt.shape[1] != xt.shape[0]:
        raise ValueError(
            f"conv2d_multi: need x (C, H, W) and w (K, C, kh, kw) with equal C; got "
            f"{tuple(xt.shape)} and {tuple(wt.shape)}"
        )
    win = _windows(xt, wt.shape[2], wt.shape[3], stride, padding)  # (C, H', W', kh, kw)
    out = torch.einsum("chwij,kcij->khw", win, wt)
    if b is not None:
        out = out + _as_tensor(b).to(out.dtype)[:, None, None]
    return out


def _pool_windows(x: Any, size: int, stride: int | None) -> torch.Tensor:
    xt = _as_tensor(x)
    if xt.dim() < 2:
        raise ValueError(f"pooling needs at least 2-D input (..., H, W); got {tuple(xt.shape)}")
    return _windows(xt, size, size, stride or size, 0)


def max_pool2d(x: Any, size: int = 2, stride: int | None = None) -> torch.Tensor:
    """Maximum of each ``size×size`` window (stride defaults to ``size``) of ``(..., H, W)``."""
    return _pool_windows(x, size, stride).amax(dim=(-2, -1))


def avg_pool2d(x: Any, size: int = 2, stride: int | None = None) -> torch.Tensor:
    """Mean of each ``size×size`` window (stride defaults to ``size``) of ``(..., H, W)``."""
    win = _pool_windows(x, size, stride)
    if not win.is_floating_point():
        win = win.to(torch.get_default_dtype())
    return win.mean(dim=(-2, -1))
