"""13_h — a two-layer network trained by hand-written backpropagation (no autograd).

Shapes: ``W1 (n_in, n_hidden)``, ``b1 (n_hidden,)``, ``W2 (n_hidden, n_out)``,
``b2 (n_out,)``, ``X (N, n_in)``, ``T (N, n_out)`` one-hot. Hidden layer sigmoid,
output softmax, loss the mean cross-entropy. The deltas follow seeds/002 (equations A
and B): ``δ(out) = (Y − T) / N`` and ``δ(hidden) = (δ(out) W2ᵀ) ⊙ z(1 − z)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .perceptron import cross_entropy, sigmoid, softmax

Params = dict[str, torch.Tensor]

__all__ = [
    "accuracy",
    "backward",
    "forward",
    "init_params",
    "loss",
    "mnist_inputs",
    "numerical_gradient",
    "one_hot",
    "predict",
    "sgd_step",
    "train",
    "train_mnist",
    "train_xor",
    "xor_data",
]


def init_params(
    n_in: int, n_hidden: int, n_out: int, seed: int = 0, *, dtype: torch.dtype = torch.float32
) -> Params:
    """Weights ``N(0, 1/fan_in)`` (keeps sigmoid inputs in its sloped range), biases 0."""
    g = torch.Generator().manual_seed(seed)
    return {
        "W1": torch.randn(n_in, n_hidden, generator=g, dtype=dtype) / math.sqrt(n_in),
        "b1": torch.zeros(n_hidden, dtype=dtype),
        "W2": torch.randn(n_hidden, n_out, generator=g, dtype=dtype) / math.sqrt(n_hidden),
        "b2": torch.zeros(n_out, dtype=dtype),
    }


def forward(X: torch.Tensor, params: Params) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``Y = softmax(sigmoid(X W1 + b1) W2 + b2)``; the cache holds what backward needs."""
    Z1 = sigmoid(X @ params["W1"] + params["b1"])
    Y = softmax(Z1 @ params["W2"] + params["b2"])
    return Y, {"Z1": Z1, "Y": Y}


def loss(Y: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of probabilities ``Y`` against one-hot ``T``."""
    return cross_entropy(Y, T)


def backward(
    X: torch.Tensor, T: torch.Tensor, params: Params, cache: dict[str, torch.Tensor]
) -> Params:
    """Gradients of the mean loss, same keys and shapes as ``params``."""
    Z1, Y = cache["Z1"], cache["Y"]
    n = X.shape[0]
    # d(−Σ t log softmax(a))/da = Y·Σt − T, which is Y − T for one-hot rows.
    delta2 = (Y * T.sum(dim=1, keepdim=True) - T) / n
    delta1 = (delta2 @ params["W2"].T) * Z1 * (1.0 - Z1)
    return {
        "W1": X.T @ delta1,
        "b1": delta1.sum(dim=0),
        "W2": Z1.T @ delta2,
        "b2": delta2.sum(dim=0),
    }


def numerical_gradient(
    f: Callable[[torch.Tensor], torch.Tensor | float], x: torch.Tensor, eps: float = 1e-6
) -> torch.Tensor:
    """Central differences ``(f(x + ε e_i) − f(x − ε e_i)) / 2ε`` for every element of ``x``.

    ``x`` is perturbed in place and restored; use float64 (ε = 1e-6 is too small for
    float32's 7 digits).
    """
    grad = torch.zeros_like(x)
    flat, gflat = x.view(-1), grad.view(-1)
    for i in range(flat.numel()):
        old = flat[i].item()
        flat[i] = old + eps
        f_plus = float(f(x))
        flat[i] = old - eps
        f_minus = float(f(x))
        flat[i] = old
        gflat[i] = (f_plus - f_minus) / (2.0 * eps)
    return grad


def sgd_step(params: Params, grads: Params, lr: float) -> Params:
    """New parameters ``p − lr·g`` (the inputs are left untouched)."""
    return {k: p - lr * grads[k] for k, p in params.items()}


def train(
    X: torch.Tensor,
    T: torch.Tensor,
    n_hidden: int,
    lr: float,
    epochs: int,
    batch_size: int,
    seed: int = 0,
) -> tuple[Params, list[float]]:
    """Mini-batch SGD from :func:`init_params`; ``history`` is the mean loss of each epoch."""
    params = init_params(X.shape[1], n_hidden, T.shape[1], seed, dtype=X.dtype)
    g = torch.Generator().manual_seed(seed)
    n = X.shape[0]
    history: list[float] = []
    for _ in range(epochs):
        order = torch.randperm(n, generator=g)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            Xb, Tb = X[idx], T[idx]
            Y, cache = forward(Xb, params)
            total += float(loss(Y, Tb)) * len(idx)
            params = sgd_step(params, backward(Xb, Tb, params, cache), lr)
        history.append(total / n)
    return params, history


def one_hot(
    labels: torch.Tensor, n_classes: int, *, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Integer labels ``(N,)`` → one-hot rows ``(N, n_classes)``."""
    return torch.nn.functional.one_hot(labels.to(torch.int64), n_classes).to(dtype)


def predict(X: torch.Tensor, params: Params) -> torch.Tensor:
    """Most probable class of each row of ``X``."""
    return forward(X, params)[0].argmax(dim=1)


def accuracy(X: torch.Tensor, labels: torch.Tensor, params: Params) -> float:
    """Fraction of rows of ``X`` whose predicted class equals ``labels``."""
    return float((predict(X, params) == labels).float().mean())


def xor_data(*, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """The four XOR inputs and their one-hot targets (class = a XOR b)."""
    X = torch.tensor([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=dtype)
    return X, one_hot(torch.tensor([0, 1, 1, 0]), 2, dtype=dtype)


def train_xor(
    *, n_hidden: int = 8, lr: float = 2.0, epochs: int = 1000, seed: int = 0
) -> tuple[Params, list[float]]:
    """Full-batch training on XOR; with the defaults all four cases come out right."""
    X, T = xor_data()
    return train(X, T, n_hidden=n_hidden, lr=lr, epochs=epochs, batch_size=4, seed=seed)


def train_mnist(
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    n_hidden: int = 100,
    lr: float = 0.5,
    epochs: int = 5,
    batch_size: int = 100,
    seed: int = 0,
) -> tuple[Params, list[float]]:
    """Hand-written training on MNIST images ``(N, 784)`` or ``(N, 28, 28)`` in [0, 1].

    Use :func:`mnist_inputs` on raw uint8 images first.
    """
    X = images.reshape(images.shape[0], -1).to(torch.float32)
    return train(X, one_hot(labels, 10), n_hidden, lr, epochs, batch_size, seed)


def mnist_inputs(images: torch.Tensor) -> torch.Tensor:
    """Raw uint8 MNIST images ``(N, 28, 28)`` → float rows ``(N, 784)`` in [0, 1]."""
    return images.reshape(images.shape[0], -1).to(torch.float32) / 255.0
