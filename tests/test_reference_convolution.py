"""autograder_reference.convolution: the deck's conv/pool examples, agreement with torch (14_n)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograder_reference import convolution as ref

DECK_X = torch.arange(1, 26).reshape(5, 5)
DECK_K = torch.arange(1, 10).reshape(3, 3)
DECK_CONV = [[411, 456, 501], [636, 681, 726], [861, 906, 951]]
POOL_X = [[3, 4, 3, 6], [7, 1, 1, 2], [4, 6, 3, 5], [9, 3, 7, 8]]


def _rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_conv2d_deck_example():
    got = ref.conv2d(DECK_X, DECK_K)
    assert got.tolist() == DECK_CONV
    assert ref.conv2d(DECK_X.tolist(), DECK_K.tolist()).tolist() == DECK_CONV
    assert ref.conv2d(DECK_X.float(), DECK_K.float()).tolist() == DECK_CONV


@pytest.mark.parametrize(("stride", "padding"), [(1, 0), (1, 1), (2, 0), (2, 1), (3, 2), (1, 2)])
def test_conv2d_deck_input_stride_padding_vs_torch(stride, padding):
    got = ref.conv2d(DECK_X, DECK_K, stride=stride, padding=padding)
    want = F.conv2d(DECK_X[None, None].double(), DECK_K[None, None].double(),
                    stride=stride, padding=padding)[0, 0]
    assert got.shape == want.shape
    assert torch.equal(got.double(), want)


@pytest.mark.parametrize(("h", "w", "kh", "kw", "stride", "padding"),
                         [(7, 9, 3, 2, 1, 0), (8, 8, 5, 5, 2, 2), (6, 11, 1, 4, 3, 1)])
def test_conv2d_random_vs_torch(h, w, kh, kw, stride, padding):
    x, k = _rand(h, w, seed=h), _rand(kh, kw, seed=w)
    want = F.conv2d(x[None, None], k[None, None], stride=stride, padding=padding)[0, 0]
    torch.testing.assert_close(ref.conv2d(x, k, stride=stride, padding=padding), want)


@pytest.mark.parametrize(("c", "k", "size", "ksize", "stride", "padding", "bias"),
                         [(1, 1, 5, 3, 1, 0, True), (3, 8, 9, 3, 1, 1, True),
                          (5, 8, 10, 5, 2, 2, True), (2, 4, 7, 2, 3, 0, False)])
def test_conv2d_multi_equals_torch(c, k, size, ksize, stride, padding, bias):
    x, w = _rand(c, size, size, seed=c), _rand(k, c, ksize, ksize, seed=k)
    b = _rand(k, seed=99) if bias else None
    want = F.conv2d(x[None], w, b, stride=stride, padding=padding)[0]
    got = ref.conv2d_multi(x, w, b, stride=stride, padding=padding)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want)


def test_conv_rejects_bad_shapes():
    with pytest.raises(ValueError, match="2-D"):
        ref.conv2d(torch.zeros(1, 5, 5), DECK_K)
    with pytest.raises(ValueError, match="larger"):
        ref.conv2d(torch.zeros(2, 2), DECK_K)
    with pytest.raises(ValueError, match="equal C"):
        ref.conv2d_multi(torch.zeros(3, 5, 5), torch.zeros(2, 4, 3, 3), torch.zeros(2))


def test_pooling_deck_example():
    assert ref.max_pool2d(POOL_X).tolist() == [[7, 6], [9, 8]]
    assert ref.avg_pool2d(POOL_X).tolist() == [[3.75, 3.0], [5.5, 5.75]]


@pytest.mark.parametrize(("shape", "size", "stride"),
                         [((6, 6), 2, None), ((2, 3, 9, 7), 3, None), ((8, 8), 3, 1),
                          ((4, 5, 5), 2, 1)])
def test_pooling_vs_torch(shape, size, stride):
    x = _rand(*shape, seed=len(shape))
    batched = x.reshape(-1, 1, *shape[-2:])
    want_max = F.max_pool2d(batched, size, stride).reshape(*shape[:-2], -1)
    want_avg = F.avg_pool2d(batched, size, stride).reshape(*shape[:-2], -1)
    got_max = ref.max_pool2d(x, size, stride)
    got_avg = ref.avg_pool2d(x, size, stride)
    torch.testing.assert_close(got_max.reshape(*shape[:-2], -1), want_max)
    torch.testing.assert_close(got_avg.reshape(*shape[:-2], -1), want_avg)


OUTPUT_SIZES = [
    # h, k, p, s, out
    (28, 3, 0, 1, 26), (26, 3, 0, 1, 24), (24, 2, 0, 2, 12), (32, 3, 1, 1, 32),
    (32, 5, 2, 1, 32), (5, 3, 0, 2, 2), (7, 3, 1, 2, 4), (224, 11, 2, 4, 55),
]


@pytest.mark.parametrize(("h", "k", "p", "s", "out"), OUTPUT_SIZES)
def test_output_size(h, k, p, s, out):
    assert ref.output_size(h, k, p, s) == out
    assert ref.conv_output_size(h, k, p=p, s=s) == out
    assert ref.conv2d(torch.zeros(h, h), torch.zeros(k, k), stride=s, padding=p).shape == (out,
                                                                                              out)


def test_output_size_rejects_impossible():
    with pytest.raises(ValueError):
        ref.output_size(2, 3)
    with pytest.raises(ValueError):
        ref.output_size(5, 3, 0, 0)


@pytest.mark.parametrize(("c_in", "c_out", "k"), [(1, 32, 3), (32, 64, 3), (3, 64, 3),
                                                  (64, 192, 5), (3, 6, (5, 3))])
def test_conv_params(c_in, c_out, k):
    conv = nn.Conv2d(c_in, c_out, k)
    assert ref.conv_params(c_in, c_out, k) == sum(p.numel() for p in conv.parameters())
