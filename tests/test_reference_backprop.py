"""autograder_reference.backprop: the hand-written two-layer network against autograd (13_h)."""

from __future__ import annotations

import inspect

import pytest
import torch

from autograder_reference import backprop as ref


def _problem(n: int, n_in: int, n_hidden: int, n_out: int, seed: int):
    g = torch.Generator().manual_seed(seed + 100)
    params = ref.init_params(n_in, n_hidden, n_out, seed, dtype=torch.float64)
    # non-zero biases so that their gradients are exercised away from the initial point
    params = {k: v + 0.1 * torch.randn(v.shape, generator=g, dtype=torch.float64)
              for k, v in params.items()}
    X = torch.randn(n, n_in, generator=g, dtype=torch.float64)
    T = ref.one_hot(torch.randint(0, n_out, (n,), generator=g), n_out, dtype=torch.float64)
    return X, T, params


SHAPES = [(1, 1, 1, 2), (5, 3, 4, 2), (16, 8, 5, 3), (7, 20, 10, 10), (64, 784, 32, 10)]


def test_init_params_shapes_and_seed():
    p = ref.init_params(4, 3, 2, seed=5)
    assert {k: tuple(v.shape) for k, v in p.items()} == {
        "W1": (4, 3), "b1": (3,), "W2": (3, 2), "b2": (2,)}
    assert all(v.dtype == torch.float32 for v in p.values())
    again = ref.init_params(4, 3, 2, seed=5)
    assert all(torch.equal(p[k], again[k]) for k in p)
    assert not torch.equal(p["W1"], ref.init_params(4, 3, 2, seed=6)["W1"])


def test_forward_gives_probabilities():
    X, _, params = _problem(9, 5, 4, 3, 0)
    Y, _ = ref.forward(X, params)
    assert Y.shape == (9, 3)
    torch.testing.assert_close(Y.sum(dim=1), torch.ones(9, dtype=torch.float64))


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_backward_equals_autograd(shape):
    X, T, params = _problem(*shape, seed=sum(shape))
    _, cache = ref.forward(X, params)
    got = ref.backward(X, T, params, cache)

    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    ref.loss(ref.forward(X, leaves)[0], T).backward()
    assert set(got) == set(params)
    for key, leaf in leaves.items():
        assert got[key].shape == params[key].shape
        torch.testing.assert_close(got[key], leaf.grad, rtol=1e-5, atol=1e-12)


def test_backward_general_targets_equal_autograd():
    """Rows of T that do not sum to 1 (label smoothing, soft targets) are handled too."""
    X, _, params = _problem(6, 4, 3, 5, 3)
    T = torch.rand(6, 5, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    got = ref.backward(X, T, params, ref.forward(X, params)[1])
    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    ref.loss(ref.forward(X, leaves)[0], T).backward()
    for key, leaf in leaves.items():
        torch.testing.assert_close(got[key], leaf.grad, rtol=1e-5, atol=1e-12)


def test_numerical_gradient_agrees_with_backward():
    X, T, params = _problem(4, 3, 4, 3, 1)
    got = ref.backward(X, T, params, ref.forward(X, params)[1])
    for key in params:
        def f(p, key=key):
            return ref.loss(ref.forward(X, {**params, key: p})[0], T)
        num = ref.numerical_gradient(f, params[key].clone())
        torch.testing.assert_close(num, got[key], rtol=1e-5, atol=1e-8)


def test_numerical_gradient_of_known_function_restores_input():
    x = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64)
    before = x.clone()
    grad = ref.numerical_gradient(lambda t: (t ** 3).sum(), x)
    torch.testing.assert_close(grad, 3 * before ** 2, rtol=1e-6, atol=1e-8)
    assert torch.equal(x, before)


def test_sgd_step_returns_new_params():
    params = ref.init_params(3, 2, 2)
    grads = {k: torch.ones_like(v) for k, v in params.items()}
    new = ref.sgd_step(params, grads, 0.5)
    for k in params:
        torch.testing.assert_close(new[k], params[k] - 0.5)
    assert not torch.equal(new["W1"], params["W1"])


def test_no_autograd_inside():
    source = inspect.getsource(ref)
    for forbidden in ("torch.autograd", ".backward(", "requires_grad", "torch.sigmoid",
                      "torch.softmax", "F.softmax"):
        assert forbidden not in source, forbidden


def test_train_history_and_xor():
    params, history = ref.train_xor()
    assert len(history) == 1000 and history[-1] < history[0] / 10
    X, T = ref.xor_data()
    assert ref.predict(X, params).tolist() == [0, 1, 1, 0]
    assert ref.accuracy(X, T.argmax(dim=1), params) == 1.0


@pytest.mark.slow
def test_mnist_subset_by_hand(mnist_data_dir):
    """Budget: the first 10,000 training images, 5 epochs (about 10 s on 2 cores);
    accuracy on the full 10,000-image test set."""
    from torchvision import datasets

    train = datasets.MNIST(root=str(mnist_data_dir), train=True, download=True)
    test = datasets.MNIST(root=str(mnist_data_dir), train=False, download=True)
    params, history = ref.train_mnist(ref.mnist_inputs(train.data[:10_000]),
                                      train.targets[:10_000])
    assert len(history) == 5 and history[-1] < history[0]
    acc = ref.accuracy(ref.mnist_inputs(test.data), test.targets, params)
    assert acc >= 0.88, acc
