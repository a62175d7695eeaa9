"""autograder_reference.perceptron: the deck's gates, activations, softmax, cross-entropy (13_n)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from autograder_reference import perceptron as ref

INPUTS = [(0, 0), (1, 0), (0, 1), (1, 1)]

# Truth tables as the decks print them (seeds/003), rows in INPUTS order.
TRUTH = {
    "AND": [0, 0, 0, 1],
    "OR": [0, 1, 1, 1],
    "NAND": [1, 1, 1, 0],
    "XOR": [0, 1, 1, 0],
    "BANANA": [0, 0, 1, 1],
}

DECK_LOGITS = [3.0, -1.5, 0.2, 2.3, 3.5, 2.0, -2.2, 2.1, 1.0, 2.5]


@pytest.mark.parametrize(("u", "want"), [(3, 1), (0, 0), (-2, 0), (0.5, 1), (-0.0, 0), (1e-9, 1),
                                         (np.int64(4), 1), (True, 1)])
def test_step_on_numbers_returns_int(u, want):
    got = ref.step(u)
    assert type(got) is int
    assert got == want


def test_step_on_tensor_keeps_shape():
    u = torch.tensor([[-1.0, 0.0, 2.0], [0.1, -0.1, 5.0]])
    got = ref.step(u)
    assert isinstance(got, torch.Tensor) and got.shape == u.shape
    assert got.tolist() == [[0, 0, 1], [1, 0, 1]]


def test_perceptron_single_and_batch():
    assert ref.perceptron([1, 1], [5, 5], 9) == 1
    assert type(ref.perceptron([1, 0], [5, 5], 9)) is int
    batch = ref.perceptron(torch.tensor(INPUTS), [5.0, 5.0], 9.0)
    assert batch.shape == (4,) and batch.tolist() == TRUTH["AND"]


def test_perceptron_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="perceptron"):
        ref.perceptron([1, 0, 1], [5, 5], 9)


def test_deck_weights():
    assert ref.AND_PARAMS == ((5.0, 5.0), 9.0)
    assert ref.NAND_PARAMS == ((-5.0, -5.0), -9.0)
    assert ref.BANANA_PARAMS == ((3.0, 7.0), 5.0)


@pytest.mark.parametrize("gate", sorted(TRUTH))
def test_truth_tables(gate):
    fn = getattr(ref, gate)
    got = [fn(a, b) for a, b in INPUTS]
    assert got == TRUTH[gate]
    assert all(type(v) is int for v in got)
    a, b = torch.tensor(INPUTS).T
    assert fn(a, b).tolist() == TRUTH[gate]


def test_xor_is_and_of_nand_and_or():
    for a, b in INPUTS:
        assert ref.XOR(a, b) == ref.AND(ref.NAND(a, b), ref.OR(a, b))


X_ACT = torch.cat([torch.linspace(-30, 30, 601), torch.tensor([-1e4, -100.0, 0.0, 100.0, 1e4])])


@pytest.mark.parametrize(("name", "torch_fn"), [("sigmoid", torch.sigmoid), ("relu", torch.relu),
                                                ("tanh", torch.tanh)])
def test_activations_match_torch(name, torch_fn):
    fn = getattr(ref, name)
    got = fn(X_ACT)
    assert got.shape == X_ACT.shape and not torch.isnan(got).any()
    torch.testing.assert_close(got, torch_fn(X_ACT), atol=1e-6, rtol=0)
    grid = X_ACT.reshape(-1)[:600].reshape(2, 3, 100)
    assert fn(grid).shape == grid.shape
    assert fn(0.5) == pytest.approx(float(torch_fn(torch.tensor(0.5))), abs=1e-6)


def test_softmax_deck_vector():
    y = ref.softmax(DECK_LOGITS)
    torch.testing.assert_close(y, torch.softmax(torch.tensor(DECK_LOGITS), dim=0))
    assert round(float(y[0]), 4) == 0.2110
    assert round(float(y[1]), 4) == 0.0023
    assert float(y.sum()) == pytest.approx(1.0)


def test_softmax_rows_and_large_inputs():
    a = torch.randn(5, 7, generator=torch.Generator().manual_seed(0)) * 10
    torch.testing.assert_close(ref.softmax(a), torch.softmax(a, dim=1))
    big = ref.softmax([1000.0, 1001.0])
    assert not torch.isnan(big).any()
    torch.testing.assert_close(big, torch.tensor([0.26894142, 0.73105858]))
    with pytest.raises(ValueError, match="softmax"):
        ref.softmax(torch.zeros(2, 2, 2))


def test_cross_entropy_deck_example():
    got = float(ref.cross_entropy([0.2, 0.7, 0.1], [0, 1, 0]))
    assert round(got, 3) == 0.357
    assert got == pytest.approx(-math.log(0.7))


def test_cross_entropy_batch_mean_and_labels():
    g = torch.Generator().manual_seed(1)
    y = torch.softmax(torch.randn(6, 4, generator=g), dim=1)
    labels = torch.randint(0, 4, (6,), generator=g)
    t = torch.nn.functional.one_hot(labels, 4).float()
    want = torch.nn.functional.nll_loss(torch.log(y), labels)
    torch.testing.assert_close(ref.cross_entropy(y, t), want)
    torch.testing.assert_close(ref.cross_entropy(y, labels), want)


def test_cross_entropy_ignores_zero_probability_of_wrong_classes():
    got = ref.cross_entropy([0.0, 1.0, 0.0], [0, 1, 0])
    assert float(got) == 0.0
    with pytest.raises(ValueError, match="cross_entropy"):
        ref.cross_entropy([0.5, 0.5], [0, 1, 0])
