"""13_n — the perceptron, logic gates, activation functions, softmax, cross-entropy.

Everything is written from the lecture's formulas (seeds/003: ``y = H(w·x − threshold)``,
AND ``(5, 5, 9)``, NAND ``(−5, −5, −9)``, XOR from NAND/OR/AND, BANANA ``H(3a + 7b − 5)``;
seeds/000: softmax and cross-entropy), not from ``torch.sigmoid`` and friends.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, cast

import torch

Scalar = int | float | bool
TensorLike = torch.Tensor | Sequence[Any]

__all__ = [
    "AND",
    "BANANA",
    "NAND",
    "OR",
    "XOR",
    "cross_entropy",
    "perceptron",
    "relu",
    "sigmoid",
    "softmax",
    "step",
    "tanh",
]

# (weights, threshold) of each one-perceptron gate; AND and NAND are the deck's.
AND_PARAMS = ((5.0, 5.0), 9.0)
NAND_PARAMS = ((-5.0, -5.0), -9.0)
OR_PARAMS = ((5.0, 5.0), 2.0)
BANANA_PARAMS = ((3.0, 7.0), 5.0)


def _is_scalar(u: object) -> bool:
    # numbers.Real also covers NumPy scalars such as np.int64
    return isinstance(u, numbers.Real)


def _float_tensor(x: TensorLike | Scalar) -> torch.Tensor:
    t = torch.as_tensor(x)
    return t if t.is_floating_point() else t.to(torch.get_default_dtype())


def step(u: Any) -> Any:
    """Heaviside step: 1 where ``u > 0``, else 0.

    A Python number gives an ``int``; a tensor (or list) gives an int64 tensor of the
    same shape.
    """
    if _is_scalar(u):
        return 1 if u > 0 else 0
    return (torch.as_tensor(u) > 0).to(torch.int64)


def perceptron(x: TensorLike, w: TensorLike, threshold: float) -> Any:
    """``step(w·x − threshold)``: ``x`` of shape ``(n,)`` gives an ``int``,
    ``x`` of shape ``(N, n)`` gives an int64 tensor of shape ``(N,)``."""
    xt, wt = _float_tensor(x), _float_tensor(w)
    if xt.dim() not in (1, 2) or wt.dim() != 1 or xt.shape[-1] != wt.shape[0]:
        raise ValueError(
            f"perceptron: x must be (n,) or (N, n) and w (n,); got {tuple(xt.shape)} "
            f"and {tuple(wt.shape)}"
        )
    dtype = torch.promote_types(xt.dtype, wt.dtype)
    u = xt.to(dtype) @ wt.to(dtype) - threshold
    return int(step(u.item())) if xt.dim() == 1 else step(u)


def _gate(a: Any, b: Any, params: tuple[tuple[float, float], float]) -> Any:
    """One perceptron on two inputs: numbers give an int, tensors of shape (N,) give (N,)."""
    w, threshold = params
    if _is_scalar(a) and _is_scalar(b):
        return perceptron([float(a), float(b)], w, threshold)
    at, bt = torch.broadcast_tensors(_float_tensor(a), _float_tensor(b))
    return perceptron(torch.stack([at.reshape(-1), bt.reshape(-1)], dim=1), w, threshold).reshape(
        at.shape
    )


def AND(a: Any, b: Any) -> Any:
    """The deck's AND: ``H(5a + 5b − 9)``."""
    return _gate(a, b, AND_PARAMS)


def OR(a: Any, b: Any) -> Any:
    """OR: ``H(5a + 5b − 2)`` (any threshold in (0, 5) works)."""
    return _gate(a, b, OR_PARAMS)


def NAND(a: Any, b: Any) -> Any:
    """The deck's NAND: ``H(−5a − 5b + 9)``, AND with every sign flipped."""
    return _gate(a, b, NAND_PARAMS)


def XOR(a: Any, b: Any) -> Any:
    """Two layers: hidden NAND and OR, output AND (the deck's h1, h2, c)."""
    return AND(NAND(a, b), OR(a, b))


def BANANA(a: Any, b: Any) -> Any:
    """The deck's banana detector ``H(3a + 7b − 5)``: 1 exactly when ``b`` is 1."""
    return _gate(a, b, BANANA_PARAMS)


def _unary(u: Any, formula: Any) -> Any:
    """Apply ``formula`` to a tensor; a Python number in gives a float out."""
    out = formula(_float_tensor(u))
    return float(out) if _is_scalar(u) else out


def sigmoid(u: Any) -> Any:
    """``1 / (1 + exp(−u))``; exp overflowing to inf gives exactly 0, never NaN."""
    return _unary(u, lambda t: 1.0 / (1.0 + torch.exp(-t)))


def relu(u: Any) -> Any:
    """``max(0, u)``."""
    return _unary(u, lambda t: torch.maximum(t, torch.zeros_like(t)))


def _tanh_formula(t: torch.Tensor) -> torch.Tensor:
    # (e^z − e^−z)/(e^z + e^−z) multiplied through by e^−|z|: no inf/inf for large |z|.
    e = torch.exp(-2.0 * t.abs())
    return torch.sign(t) * (1.0 - e) / (1.0 + e)


def tanh(u: Any) -> Any:
    """``(e^u − e^−u) / (e^u + e^−u)``, computed without overflow."""
    return _unary(u, _tanh_formula)


def softmax(a: TensorLike) -> torch.Tensor:
    """``exp(a_k) / Σ exp(a_i)`` of a 1-D vector, or of each row of a 2-D batch.

    The row maximum is subtracted first: the result is unchanged and ``exp`` cannot
    overflow (``softmax([1000., 1001.])`` is ``[0.2689, 0.7311]``).
    """
    t = _float_tensor(a)
    if t.dim() not in (1, 2):
        raise ValueError(f"softmax: expected a 1-D or 2-D input, got shape {tuple(t.shape)}")
    e = torch.exp(t - t.max(dim=-1, keepdim=True).values)
    return e / e.sum(dim=-1, keepdim=True)


def cross_entropy(y: TensorLike, t: TensorLike) -> torch.Tensor:
    """Mean over the batch of ``−Σ_k t_k log y_k``.

    ``y`` holds probabilities, ``(K,)`` for one sample or ``(N, K)``; ``t`` is one-hot of
    the same shape (integer class labels of shape ``()``/``(N,)`` are accepted too).
    Terms with ``t_k = 0`` count as 0 even where ``y_k = 0``. The deck's
    ``y = (0.2, 0.7, 0.1)``, ``t = (0, 1, 0)`` gives ``−log 0.7 = 0.357``.
    """
    yt = _float_tensor(y)
    tt = torch.as_tensor(t)
    if not tt.is_floating_point() and tt.dim() == yt.dim() - 1:
        tt = torch.nn.functional.one_hot(tt.to(torch.int64), yt.shape[-1])
    tt = tt.to(yt.dtype)
    if tt.shape != yt.shape or yt.dim() not in (1, 2):
        raise ValueError(
            f"cross_entropy: y and t must have the same shape (K,) or (N, K); got "
            f"{tuple(yt.shape)} and {tuple(tt.shape)}"
        )
    # torch.special's functions are untyped bindings (Any); xlogy returns a tensor
    per_sample = -cast(torch.Tensor, torch.special.xlogy(tt, yt)).sum(dim=-1)
    return per_sample.mean()
