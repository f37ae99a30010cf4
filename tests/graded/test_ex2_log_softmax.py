"""Exercise 2: the log-softmax output (its points are on each test's marker).

A trusted Exercise 1 stands in for the student's LeNet here, so these points depend on
Exercise 2 alone.
"""

from __future__ import annotations

import pytest
import torch

from tests.graded.conftest import images, random_weights, realistic_weights, reference


def forward(ex2, rng, n: int, weights=None):
    x = images(rng, n)
    weights = weights or realistic_weights(rng, x)  # scores in the tens, as a trained net's
    out = ex2.call("ex2.forward", seed=0, x=x, weights=weights)["out"]
    assert list(out.shape) == [n, 10], (
        f"forward returned shape {list(out.shape)}, expected ({n}, 10)."
    )
    return out, weights, x


@pytest.mark.points(5)
def test_rows_are_log_probabilities(ex2, rng):
    """Each row exponentiates to probabilities summing to 1; every entry is <= 0"""
    out, weights, x = forward(ex2, rng, 12)
    sums = out.exp().sum(dim=1)
    assert torch.allclose(sums, torch.ones(12), atol=1e-5), (
        f"exp(output) rows sum to {[round(s, 4) for s in sums[:3].tolist()]}..., not 1. Hint: "
        "turn LeNet's scores into log-probabilities over the 10 classes of each row."
    )
    assert (out <= 1e-6).all(), "Log-probabilities are never positive; some outputs are > 0."
    with torch.no_grad():
        ranked = reference(weights).eval()(x).argmax(dim=1)
    assert torch.equal(out.argmax(dim=1), ranked), (
        "These log-probabilities do not rank the classes as LeNet's scores do: the output must "
        "come from the parent LeNet's forward (see the next test)."
    )


@pytest.mark.points(5)
def test_output_is_log_softmax_of_the_lenet_scores(ex2, rng):
    """Output equals log_softmax(LeNet.forward(x), dim=1) with the same weights"""
    out, weights, x = forward(ex2, rng, 9)
    with torch.no_grad():
        expected = reference(weights).eval()(x)
    assert torch.allclose(out, expected, atol=1e-5), (
        "LeNetClassifier should return exactly the log-softmax of LeNet's scores, with "
        "nothing else added. Hint: take the scores from the parent class's forward."
    )


@pytest.mark.points(4)
def test_batch_of_one_normalises_over_the_classes(ex2, rng):
    """Correct for a batch of one (the class dimension is explicit)"""
    weights = realistic_weights(rng, images(rng, 5))
    out, _, single = forward(ex2, rng, 1, weights)
    total = float(out.exp().sum())
    if abs(total - 1.0) >= 1e-5:
        batch, _, _ = forward(ex2, rng, 5, weights)
        if torch.allclose(batch.exp().sum(dim=0), torch.ones(10), atol=1e-5):
            cause = "the normalisation runs over the batch. Hint: the classes are dimension 1."
        elif torch.allclose(batch.exp().sum(dim=1), torch.ones(5), atol=1e-5):
            cause = "it works for a batch of 5 but not of 1. Hint: name the class dimension."
        else:
            cause = "the output is not log-probabilities at all (see the first Exercise 2 test)."
        pytest.fail(
            f"For a single image the probabilities sum to {total:.3f}, not 1: {cause}",
            pytrace=False,
        )
    with torch.no_grad():
        ranked = reference(weights).eval()(single).argmax(dim=1)
    assert torch.equal(out.argmax(dim=1), ranked), (
        "For a single image the log-probabilities do not rank the classes as LeNet's scores "
        "do: the output must come from the parent LeNet's forward (see the second test)."
    )


@pytest.mark.points(3)
def test_stays_finite_for_huge_scores(ex2, rng):
    """Stays finite when the scores are huge (about 1e4)"""
    weights = random_weights(rng)
    bias = (torch.rand(10, generator=rng) * 2 - 1) * 1e4
    weights["fc3"] = {"weight": torch.zeros(10, 84), "bias": bias}
    out, _, _ = forward(ex2, rng, 3, weights)
    assert torch.isfinite(out).all(), (
        "With scores around 1e4 the output contains inf or nan. torch.log(F.softmax(x)) "
        "underflows to log(0) = -inf; use the numerically stable log-softmax."
    )
    expected = torch.log_softmax(bias.double(), dim=0).float().expand(3, 10)
    assert torch.allclose(out, expected, rtol=1e-4, atol=1e-3), (
        "Log-probabilities of huge scores are off."
    )


@pytest.mark.points(3)
@pytest.mark.hidden
def test_each_row_is_stabilised_by_its_own_maximum(ex2, rng):
    """Stays exact when the images' scores lie hundreds apart (one shift per row)"""
    weights = random_weights(rng)
    x = images(rng, 6)
    # fc3 gives every class the same score plus a small bias, scaled so that the images'
    # scores lie 300 apart: a log-softmax shifted by the batch's maximum (instead of each
    # row's own) underflows to -inf (exp(-104) is 0 in float32) for the lowest image. The
    # scores stay below about 1e4, where float32 still resolves the biases to 1e-3.
    features = {}
    net = reference(weights)
    net.fc2.register_forward_hook(lambda m, i, o: features.setdefault("fc2", o.relu()))
    with torch.no_grad():
        net.eval()(x)
    total = features["fc2"].sum(dim=1)
    scale = 300.0 / max(float(total.max() - total.min()), 1e-3)
    bias = torch.rand(10, generator=rng) * 10 - 5
    weights["fc3"] = {"weight": torch.full((10, 84), scale), "bias": bias}
    out = ex2.call("ex2.forward", seed=0, x=x, weights=weights)["out"]
    assert torch.isfinite(out).all(), (
        "Some rows are inf or nan when the images' scores lie hundreds apart. Hint: each row "
        "must be shifted by its own maximum; F.log_softmax(x, dim=1) does that for you."
    )
    expected = torch.log_softmax(bias.double(), dim=0).float().expand(6, 10)
    assert torch.allclose(out, expected, atol=2e-2), (
        "With one large shift per image the log-probabilities should not change (they are the "
        "log-softmax of fc3's bias here), but yours do. Hint: normalise each row on its own."
    )
