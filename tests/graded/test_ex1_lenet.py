"""Exercise 1 (25 points): the LeNet architecture."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.graded.conftest import draw_seed, images, random_weights, reference

KERNEL_SHAPES = {
    "conv1": [6, 1, 5, 5],
    "conv2": [16, 6, 5, 5],
    "fc1": [120, 256],
    "fc2": [84, 120],
    "fc3": [10, 84],
}


@pytest.mark.points(4)
def test_layers_have_the_lecture_kernel_shapes(ex1, rng):
    """Layer shapes: conv1 6x1x5x5, conv2 16x6x5x5, fc 256->120->84->10"""
    layers = ex1.call("ex1.inspect", seed=draw_seed(rng))["layers"]
    for name, shape in KERNEL_SHAPES.items():
        assert layers[name]["present"], f"LeNet needs a layer called self.{name} (names are fixed)."
        got = layers[name]["weight"]
        assert got == shape, f"self.{name}.weight has shape {got}, expected {shape}. Hint: " + (
            f"check the in/out channels and the kernel size (5) of {name}."
            if name.startswith("conv")
            else f"check the in/out features of {name}; fc1 takes 16*4*4 = 256 inputs."
        )
        assert layers[name]["bias"] == shape[:1], f"self.{name} needs a bias of shape {shape[:1]}."


@pytest.mark.points(3)
def test_parameter_count_is_44426(ex1, rng):
    """The net has 44,426 parameters"""
    count = ex1.call("ex1.inspect", seed=draw_seed(rng))["parameters"]
    assert count == 44_426, (
        f"LeNet has {count:,} parameters, the lecture's has 44,426. Hint: every layer needs "
        "a bias, fc1 takes 16*4*4 = 256 inputs, and no extra layers."
    )


STAGES = [
    ("conv1 output", "conv1:out", [6, 24, 24]),
    ("after the first max-pool", "conv2:in", [6, 12, 12]),
    ("conv2 output", "conv2:out", [16, 8, 8]),
    ("after the second max-pool and flatten (16x4x4)", "fc1:in", [256]),
    ("fc1 output", "fc1:out", [120]),
    ("fc2 output", "fc2:out", [84]),
    ("fc3 output", "fc3:out", [10]),
]


@pytest.mark.points(3)
@pytest.mark.parametrize("batch", [1, 7, 100])
def test_sizes_after_each_stage_match_pen_and_paper(ex1, rng, batch):
    """Sizes after each stage: 6x24x24, 6x12x12, 16x8x8, 256, 120, 84, 10"""
    obs = ex1.call("ex1.forward", seed=draw_seed(rng), x=images(rng, batch), hooks=True)
    for label, key, shape in STAGES:
        expected = [batch, *shape]
        got = obs["shapes"].get(key)
        assert got == expected, (
            f"With a batch of {batch}, the tensor {label} has shape {got}, expected {expected}. "
            "Hint: 28-5+1 = 24 after a 5x5 conv, pooling halves; flatten with "
            "torch.flatten(x, 1) so the batch dimension stays."
        )
    got = list(obs["out"].shape)
    assert got == [batch, 10], f"forward returned shape {got}, expected [{batch}, 10]."


@pytest.mark.points(3)
def test_forward_returns_raw_class_scores(ex1, rng):
    """forward returns raw scores (logits), not log-probabilities"""
    out = ex1.call("ex1.forward", seed=draw_seed(rng), x=images(rng, 16))["out"]
    assert out.dtype == torch.float32 and list(out.shape) == [16, 10], (
        f"forward returned {out.dtype} of shape {list(out.shape)}; expected float32 (16, 10)."
    )
    lse = torch.logsumexp(out, dim=1)
    assert not torch.allclose(lse, torch.zeros_like(lse), atol=1e-4), (
        "LeNet.forward already returns log-probabilities. Exercise 1 returns the raw scores of "
        "fc3; the log-softmax belongs to Exercise 2."
    )


@pytest.mark.points(3)
def test_samples_in_a_batch_do_not_affect_each_other(ex1, rng):
    """Each sample's output is independent of the rest of the batch"""
    obs = ex1.call("ex1.forward", seed=draw_seed(rng), x=images(rng, 8), per_sample=True)
    assert torch.allclose(obs["out"], obs["single"], atol=1e-5), (
        "A sample's scores change with the other samples in its batch. Hint: flatten with "
        "torch.flatten(x, 1) or x.view(x.size(0), -1), never x.view(-1, 256) on the wrong axis."
    )


@pytest.mark.points(3)
def test_matches_the_lecture_lenet_with_the_same_weights(ex1, rng):
    """Same outputs as the lecture's LeNet (ReLU, max-pool) with the same weights"""
    weights, x = random_weights(rng), images(rng, 10)
    with torch.no_grad():
        lecture = reference(weights).eval()(x)
    for mode in ("eval", "train"):
        out = ex1.call("ex1.forward", seed=0, x=x, weights=weights, mode=mode)["out"]
        assert out.shape == lecture.shape, f"forward returned shape {list(out.shape)}."
        assert torch.allclose(F.log_softmax(out, dim=1), lecture, atol=1e-5), (
            f"With the same weights your LeNet computes something else than the lecture's "
            f"(in {mode} mode). Hint: ReLU after conv1, conv2, fc1 and fc2 (not after fc3), "
            "max-pooling (2x2) after each conv's ReLU, and no other layers."
        )
