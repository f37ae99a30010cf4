"""Exercise 1: the LeNet architecture (its points are on each test's marker).

A claim about the student's net counts only with the values that back it: the layers'
weights after a re-initialisation from seeds drawn here, and the tensors each layer
actually computed from this run's random images and weights.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.graded.conftest import draw_seed, images, realistic_weights, reference

KERNEL_SHAPES = {
    "conv1": [6, 1, 5, 5],
    "conv2": [16, 6, 5, 5],
    "fc1": [120, 256],
    "fc2": [84, 120],
    "fc3": [10, 84],
}


def lecture_layer(name: str) -> nn.Module:
    shape = KERNEL_SHAPES[name]
    return (
        nn.Conv2d(shape[1], shape[0], shape[2])
        if len(shape) == 4
        else nn.Linear(shape[1], shape[0])
    )


def built(ex1, rng) -> tuple[dict, dict]:
    """The student's net, each named layer re-initialised from its own seed: what came back,
    and the values the lecture's layers take from the same seeds."""
    resets = {name: draw_seed(rng) for name in KERNEL_SHAPES}
    obs = ex1.call("ex1.build", seed=draw_seed(rng), resets=resets)
    expected = {}
    for name, seed in resets.items():
        layer = lecture_layer(name)
        torch.manual_seed(seed)
        layer.reset_parameters()
        expected[name] = {"weight": layer.weight.detach(), "bias": layer.bias.detach()}
    return obs, expected


def compute(name: str, x: torch.Tensor, weights: dict) -> torch.Tensor:
    """What the lecture's layer ``name`` computes from ``x`` with ``weights``."""
    w, b = weights[name]["weight"], weights[name]["bias"]
    return F.conv2d(x, w, b) if name.startswith("conv") else F.linear(x, w, b)


def stage(obs: dict, key: str) -> torch.Tensor | None:
    return obs["stages"].get(key)


def computed_by_its_layer(obs: dict, name: str, weights: dict) -> bool:
    """The output seen at layer ``name`` is that layer's computation on the input seen there."""
    seen_in, seen_out = stage(obs, f"{name}:in"), stage(obs, f"{name}:out")
    if seen_in is None or seen_out is None:
        return False
    try:
        want = compute(name, seen_in, weights)
    except RuntimeError:
        return False
    return want.shape == seen_out.shape and torch.allclose(seen_out, want, atol=1e-4)


@pytest.mark.points(4)
def test_layers_have_the_lecture_kernel_shapes(ex1, rng):
    """Layer shapes: conv1 6x1x5x5, conv2 16x6x5x5, fc 256->120->84->10"""
    obs, expected = built(ex1, rng)
    for name, shape in KERNEL_SHAPES.items():
        layer = obs["layers"].get(name)
        assert layer is not None, f"LeNet needs a layer called self.{name} (names are fixed)."
        if layer.get("fault"):
            pytest.fail(layer["fault"], pytrace=False)
        got = None if layer["weight"] is None else list(layer["weight"].shape)
        assert got == shape, f"self.{name}.weight has shape {got}, expected {shape}. Hint: " + (
            f"check the in/out channels and the kernel size (5) of {name}."
            if name.startswith("conv")
            else f"check the in/out features of {name}; fc1 takes 16*4*4 = 256 inputs."
        )
        bias = None if layer["bias"] is None else list(layer["bias"].shape)
        assert bias == shape[:1], f"self.{name} needs a bias of shape {shape[:1]}."
        kind = "nn.Conv2d" if name.startswith("conv") else "nn.Linear"
        for p in ("weight", "bias"):
            assert torch.equal(layer[p], expected[name][p]), (
                f"self.{name} has the right shape but is not a {kind}: re-initialised with "
                f"reset_parameters() it does not take a {kind}'s values. Hint: build each layer "
                f"with {kind} in __init__."
            )


@pytest.mark.points(3)
def test_parameter_count_is_44426(ex1, rng):
    """The net has 44,426 parameters"""
    obs, expected = built(ex1, rng)
    for layer in obs["layers"].values():
        if layer.get("fault"):  # one cause, one explanation: the shapes test's
            pytest.fail(layer["fault"], pytrace=False)
    params = [p for p in obs["parameters"] if p is not None]
    count = sum(p.numel() for p in params)
    assert count == 44_426, (
        f"LeNet has {count:,} parameters, the lecture's has 44,426. Hint: every layer needs "
        "a bias, fc1 takes 16*4*4 = 256 inputs, and no extra layers."
    )
    for name, values in expected.items():
        for p, want in values.items():
            assert any(q.shape == want.shape and torch.equal(q, want) for q in params), (
                f"self.{name}.{p} is not among the net's parameters. Hint: assign each layer "
                "to an attribute of the module in __init__ so that PyTorch registers it."
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


def traced(ex1, rng, batch: int, **extra) -> tuple[dict, dict, torch.Tensor]:
    """A forward pass with this run's weights and images, every named layer's input and
    output recorded; each layer's output is checked to be its computation on its input."""
    x = images(rng, batch)
    weights = realistic_weights(rng, x)
    obs = ex1.call("ex1.forward", seed=draw_seed(rng), x=x, weights=weights, trace=True, **extra)
    first = stage(obs, "conv1:in")
    assert first is not None and torch.equal(first, x), (
        "self.conv1 did not receive the input images as they are. Hint: conv1 is the first "
        "layer and takes x unchanged."
    )
    for name in KERNEL_SHAPES:
        assert computed_by_its_layer(obs, name, weights), (
            f"self.{name} was not used during forward, or did not compute its usual "
            f"result. Hint: call each layer once, as self.{name}(x), in forward."
        )
    return obs, weights, x


@pytest.mark.points(3)
@pytest.mark.parametrize("batch", [1, 7, 100])
def test_sizes_after_each_stage_match_pen_and_paper(ex1, rng, batch):
    """Sizes after each stage: 6x24x24, 6x12x12, 16x8x8, 256, 120, 84, 10"""
    obs, _, _ = traced(ex1, rng, batch)
    for label, key, shape in STAGES:
        expected = [batch, *shape]
        got = list(stage(obs, key).shape)
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
    obs, _, _ = traced(ex1, rng, 16)
    out = obs["out"]
    assert out.dtype == torch.float32 and list(out.shape) == [16, 10], (
        f"forward returned {out.dtype} of shape {list(out.shape)}; expected float32 (16, 10)."
    )
    lse = torch.logsumexp(out, dim=1)
    assert not torch.allclose(lse, torch.zeros_like(lse), atol=1e-4), (
        "LeNet.forward already returns log-probabilities. Exercise 1 returns the raw scores of "
        "fc3; the log-softmax belongs to Exercise 2."
    )
    assert torch.allclose(out, stage(obs, "fc3:out"), atol=1e-6), (
        "forward does not return what self.fc3 computed. Hint: return fc3's output as it is, "
        "with no activation after it."
    )


@pytest.mark.points(3)
def test_samples_in_a_batch_do_not_affect_each_other(ex1, rng):
    """Each sample's output is independent of the rest of the batch"""
    obs, _, _ = traced(ex1, rng, 8, per_sample=True)
    assert torch.allclose(obs["out"], stage(obs, "fc3:out"), atol=1e-6), (
        "forward does not return what self.fc3 computed. Hint: return fc3's output as it is."
    )
    # relative too: at a trained net's sizes (tens), a batch of 8 and 8 batches of one sum
    # in different orders, a few 1e-6 apart per unit
    assert torch.allclose(obs["out"], obs["single"], rtol=1e-4, atol=1e-4), (
        "A sample's scores change with the other samples in its batch. Hint: flatten with "
        "torch.flatten(x, 1) or x.view(x.size(0), -1), never x.view(-1, 256) on the wrong axis."
    )


def lecture_stages(weights: dict, x: torch.Tensor) -> dict:
    """The lecture's input and output of each named layer, for the same weights and images."""
    net, seen = reference(weights).eval(), {}
    hooks = [
        getattr(net, name).register_forward_hook(
            lambda m, i, o, name=name: seen.update({f"{name}:in": i[0], f"{name}:out": o})
        )
        for name in KERNEL_SHAPES
    ]
    with torch.no_grad():
        net(x)
    for hook in hooks:
        hook.remove()
    return seen


# Between two layers: (the stage before, the stage after, what the lecture does there).
BETWEEN = [
    ("conv1:out", "conv2:in", "a ReLU, then 2x2 max-pooling"),
    ("conv2:out", "fc1:in", "a ReLU, 2x2 max-pooling, then flattening"),
    ("fc1:out", "fc2:in", "a ReLU"),
    ("fc2:out", "fc3:in", "a ReLU"),
]


def what_it_did(before: torch.Tensor, after: torch.Tensor, pools: bool) -> str:
    """The likely cause, from what the student's net did to ``before`` to get ``after``."""
    clip = "an activation that clips (ReLU6, hardtanh or a clamp) instead of F.relu"
    done = [  # (what the student may have written, what it computes from ``before``)
        ("no ReLU", lambda t: t),
        (clip, lambda t: t.clamp(0, 6)),
        (clip, lambda t: F.hardtanh(t)),
        ("a sigmoid or tanh instead of a ReLU", torch.sigmoid),
        ("a sigmoid or tanh instead of a ReLU", torch.tanh),
    ]
    if pools:
        done = [(c, lambda t, f=f: F.max_pool2d(f(t), 2)) for c, f in done] + [
            ("average pooling instead of max-pooling", lambda t: F.avg_pool2d(F.relu(t), 2)),
            ("no pooling", F.relu),
        ]
    for cause, f in done:
        got = f(before)
        got = torch.flatten(got, 1) if got.dim() > after.dim() else got
        if got.shape == after.shape and torch.allclose(got, after, atol=1e-4):
            return cause
    return "something else"


def first_difference(obs: dict, lecture: dict) -> str | None:
    """Where the student's net first parts from the lecture's, in a student's words."""
    for before, after, lecture_does in BETWEEN:
        mine, want = stage(obs, after), lecture[after]
        if mine is None or mine.shape != want.shape or not torch.allclose(mine, want, atol=1e-4):
            one, two = before.split(":")[0], after.split(":")[0]
            seen = stage(obs, before)
            cause = "something else" if seen is None or mine is None else what_it_did(
                seen, mine, pools=one.startswith("conv")
            )  # fmt: skip
            return (
                f"up to {one} it computes the lecture's values; between {one} and {two} the "
                f"lecture has {lecture_does}, and yours has {cause}"
            )
    if not torch.allclose(obs["out"], lecture["fc3:out"], atol=1e-4):
        relu = torch.allclose(obs["out"], F.relu(lecture["fc3:out"]), atol=1e-4)
        cause = "a ReLU" if relu else what_it_did(lecture["fc3:out"], obs["out"], pools=False)
        return (
            f"every layer computes the lecture's values, but forward does not return fc3's "
            f"output as it is ({cause} after fc3; the lecture returns fc3's output unchanged)"
        )
    return None


@pytest.mark.points(3)
def test_matches_the_lecture_lenet_with_the_same_weights(ex1, rng):
    """Same outputs as the lecture's LeNet (ReLU, max-pool) with the same weights"""
    # The weights are scaled so that every layer's outputs reach the tens, as a trained
    # net's do: a clipped activation (ReLU6, hardtanh, clamp) does not pass as a ReLU.
    x = images(rng, 10)
    weights = realistic_weights(rng, x)
    stages = lecture_stages(weights, x)
    with torch.no_grad():
        lecture = reference(weights).eval()(x)
    for mode in ("eval", "train"):
        obs = ex1.call("ex1.forward", seed=0, x=x, weights=weights, mode=mode, trace=True)
        out = obs["out"]
        assert out.shape == lecture.shape, f"forward returned shape {list(out.shape)}."
        if torch.allclose(F.log_softmax(out, dim=1), lecture, atol=1e-4):
            continue
        where = first_difference(obs, stages) or "its outputs differ"
        if mode == "train":
            where += (
                " (only in training mode: a dropout, or another layer that acts only in training?)"
            )
        pytest.fail(
            f"With the same weights your LeNet computes something else than the lecture's "
            f"(in {mode} mode): {where}. Hint: ReLU after conv1, conv2, fc1 and fc2 (not "
            "after fc3), max-pooling (2x2) after each conv's ReLU, and no other layers.",
            pytrace=False,
        )
