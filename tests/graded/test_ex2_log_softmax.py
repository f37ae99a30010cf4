"""Exercise 2 (20 points): the log-softmax output."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.graded.conftest import require


def build(ex2):
    torch.manual_seed(0)
    return require(ex2, "LeNetClassifier")().eval()


@pytest.mark.points(5)
def test_rows_are_log_probabilities(ex2):
    """Each row exponentiates to probabilities summing to 1; every entry is <= 0"""
    net = build(ex2)
    with torch.no_grad():
        out = net(torch.rand(12, 1, 28, 28))
    assert out.shape == (12, 10), f"forward returned shape {tuple(out.shape)}, expected (12, 10)."
    sums = out.exp().sum(dim=1)
    assert torch.allclose(sums, torch.ones(12), atol=1e-5), (
        f"exp(output) rows sum to {sums[:3].tolist()}..., not 1. Hint: apply log_softmax over "
        "the class dimension, dim=1."
    )
    assert (out <= 1e-6).all(), "Log-probabilities are never positive; some outputs are > 0."


@pytest.mark.points(5)
def test_output_is_log_softmax_of_the_lenet_scores(ex2):
    """Output equals log_softmax(LeNet.forward(x), dim=1) with the same weights"""
    net = build(ex2)
    parent = type(net).__mro__[1]
    x = torch.rand(9, 1, 28, 28)
    with torch.no_grad():
        expected = F.log_softmax(parent.forward(net, x), dim=1)
        got = net(x)
    assert torch.allclose(got, expected, atol=1e-5), (
        "LeNetClassifier should return exactly log_softmax of LeNet's scores. Hint: "
        "return F.log_softmax(super().forward(x), dim=1) and add nothing else."
    )


@pytest.mark.points(5)
def test_batch_of_one_normalises_over_the_classes(ex2):
    """Correct for a batch of one (the class dimension is explicit)"""
    net = build(ex2)
    with torch.no_grad():
        out = net(torch.rand(1, 1, 28, 28))
    assert out.shape == (1, 10), f"forward returned shape {tuple(out.shape)}, expected (1, 10)."
    total = float(out.exp().sum())
    assert abs(total - 1.0) < 1e-5, (
        f"For a single image the probabilities sum to {total:.3f}, not 1. Hint: without "
        "dim=1 (or with dim=0) the softmax runs over the batch; pass dim=1."
    )


@pytest.mark.points(5)
def test_stays_finite_for_huge_scores(ex2):
    """Stays finite when the scores are huge (about 1e4)"""
    net = build(ex2)
    bias = torch.tensor([1e4, -1e4, 5e3, 0.0, -5e3, 2e3, 9e3, -9e3, 1.0, 3e3])
    with torch.no_grad():
        net.fc3.weight.zero_()
        net.fc3.bias.copy_(bias)
        out = net(torch.rand(3, 1, 28, 28))
    assert torch.isfinite(out).all(), (
        "With scores around 1e4 the output contains inf or nan. torch.log(F.softmax(x)) "
        "underflows to log(0) = -inf; use the stable F.log_softmax(x, dim=1)."
    )
    expected = F.log_softmax(bias, dim=0).expand(3, 10)
    assert torch.allclose(out, expected, rtol=1e-4), "Log-probabilities of huge scores are off."
