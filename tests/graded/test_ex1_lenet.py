"""Exercise 1 (25 points): the LeNet architecture."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lenet_course.model import LeNet as ReferenceLeNet
from tests.graded.conftest import require


def build(ex1):
    """The student's LeNet, built inside the test so a stub fails the test itself."""
    torch.manual_seed(0)
    return require(ex1, "LeNet")()


KERNEL_SHAPES = {
    "conv1": (6, 1, 5, 5),
    "conv2": (16, 6, 5, 5),
    "fc1": (120, 256),
    "fc2": (84, 120),
    "fc3": (10, 84),
}


@pytest.mark.points(4)
def test_layers_have_the_lecture_kernel_shapes(ex1):
    """Layer shapes: conv1 6x1x5x5, conv2 16x6x5x5, fc 256->120->84->10"""
    net = build(ex1)
    for name, shape in KERNEL_SHAPES.items():
        assert hasattr(net, name), f"LeNet needs a layer called self.{name} (names are fixed)."
        got = tuple(getattr(net, name).weight.shape)
        assert got == shape, (
            f"self.{name}.weight has shape {got}, expected {shape}. "
            f"Hint: check in/out channels and the kernel size (5) of {name}."
        )


@pytest.mark.points(3)
def test_parameter_count_is_44426(ex1):
    """The net has 44,426 parameters"""
    net = build(ex1)
    count = sum(p.numel() for p in net.parameters())
    assert count == 44_426, (
        f"LeNet has {count:,} parameters, the lecture's has 44,426. Hint: every layer needs "
        "a bias, fc1 takes 16*4*4 = 256 inputs, and no extra layers."
    )


STAGES = [
    ("conv1 output", "conv1", "out", (6, 24, 24)),
    ("after the first max-pool", "conv2", "in", (6, 12, 12)),
    ("conv2 output", "conv2", "out", (16, 8, 8)),
    ("after the second max-pool and flatten (16x4x4)", "fc1", "in", (256,)),
    ("fc1 output", "fc1", "out", (120,)),
    ("fc2 output", "fc2", "out", (84,)),
    ("fc3 output", "fc3", "out", (10,)),
]


@pytest.mark.points(3)
@pytest.mark.parametrize("batch", [1, 7, 100])
def test_sizes_after_each_stage_match_pen_and_paper(ex1, batch):
    """Sizes after each stage: 6x24x24, 6x12x12, 16x8x8, 256, 120, 84, 10"""
    net = build(ex1)
    seen = {}
    hooks = []
    for _, layer, where, _ in STAGES:
        module = getattr(net, layer)
        if where == "in":
            hooks.append(
                module.register_forward_pre_hook(
                    lambda m, args, layer=layer: seen.__setitem__(
                        (layer, "in"), tuple(args[0].shape)
                    )
                )
            )
        else:
            hooks.append(
                module.register_forward_hook(
                    lambda m, args, out, layer=layer: seen.__setitem__(
                        (layer, "out"), tuple(out.shape)
                    )
                )
            )
    out = net(torch.rand(batch, 1, 28, 28))
    for h in hooks:
        h.remove()
    for label, layer, where, shape in STAGES:
        expected = (batch, *shape)
        got = seen.get((layer, where))
        assert got == expected, (
            f"With a batch of {batch}, the tensor {label} has shape {got}, expected {expected}. "
            "Hint: 28-5+1 = 24 after a 5x5 conv, pooling halves; flatten with "
            "torch.flatten(x, 1) so the batch dimension stays."
        )
    assert tuple(out.shape) == (batch, 10), (
        f"forward returned {tuple(out.shape)}, expected ({batch}, 10)."
    )


@pytest.mark.points(3)
def test_forward_returns_raw_class_scores(ex1):
    """forward returns raw scores (logits), not log-probabilities"""
    net = build(ex1)
    out = net(torch.rand(16, 1, 28, 28))
    assert out.dtype == torch.float32 and out.shape == (16, 10)
    lse = torch.logsumexp(out, dim=1)
    assert not torch.allclose(lse, torch.zeros_like(lse), atol=1e-4), (
        "LeNet.forward already returns log-probabilities. Exercise 1 returns the raw scores of "
        "fc3; the log-softmax belongs to Exercise 2."
    )


@pytest.mark.points(3)
def test_samples_in_a_batch_do_not_affect_each_other(ex1):
    """Each sample's output is independent of the rest of the batch"""
    net = build(ex1)
    net.eval()
    x = torch.rand(8, 1, 28, 28)
    with torch.no_grad():
        batched = net(x)
        single = torch.cat([net(x[i : i + 1]) for i in range(8)])
    assert torch.allclose(batched, single, atol=1e-5), (
        "A sample's scores change with the other samples in its batch. Hint: flatten with "
        "torch.flatten(x, 1) or x.view(x.size(0), -1), never x.view(-1, 256) on the wrong axis."
    )


@pytest.mark.points(3)
def test_matches_the_lecture_lenet_with_the_same_weights(ex1):
    """Same outputs as the lecture's LeNet (ReLU, max-pool) with the same weights"""
    net = build(ex1)
    reference = ReferenceLeNet()
    missing = reference.load_state_dict(net.state_dict(), strict=False)
    assert not missing.missing_keys and not missing.unexpected_keys, (
        f"LeNet's parameters differ from the lecture's: missing {missing.missing_keys}, "
        f"unexpected {missing.unexpected_keys}. Hint: use exactly conv1, conv2, fc1, fc2, fc3."
    )
    x = torch.rand(10, 1, 28, 28)
    with torch.no_grad():
        ours = F.log_softmax(net.eval()(x), dim=1)
        lecture = reference.eval()(x)
    assert torch.allclose(ours, lecture, atol=1e-5), (
        "With the same weights your LeNet computes something else than the lecture's. Hint: "
        "ReLU after conv1, conv2, fc1 and fc2 (not after fc3), and max-pooling (2x2) after "
        "each conv's ReLU."
    )
