"""Exercise 4: kernel snapshots, their change, and the kernel plot (points on each test's marker)."""

from __future__ import annotations

import pytest
import torch

from lenet_course.grading.judge.spec import architecture
from tests.graded.conftest import random_weights

SPEC = architecture()
SHAPES = {"conv1": [6, 1, 5, 5], "conv2": [16, 6, 5, 5]}


def kernels(rng: torch.Generator) -> dict:
    w = random_weights(rng)
    return {"conv1": w["conv1"]["weight"], "conv2": w["conv2"]["weight"]}


def snapshot(ex4, rng):
    weights = random_weights(rng)
    delta = {k: torch.randn(SHAPES[k], generator=rng) for k in SHAPES}
    obs = ex4.call("ex4.snapshot", spec=SPEC, weights=weights, delta=delta)
    for k in SHAPES:  # the kit's own step must have moved the live weights
        moved = weights[k]["weight"] + delta[k]
        assert torch.allclose(obs["live"][k], moved, atol=1e-6), (
            f"The grader could not update {k}'s weights after the snapshot; does "
            "snapshot_kernels() change the net or its parameters?"
        )
    return weights, obs


@pytest.mark.points(5)
def test_snapshots_are_copies_that_training_cannot_change(ex4, rng):
    """Snapshots are copies: a training step afterwards leaves them unchanged"""
    weights, obs = snapshot(ex4, rng)
    for name in SHAPES:
        assert name in obs["snapshot"], f"snapshot_kernels() has no key {name!r}."
        first, later = obs["snapshot"][name], obs["later"][name]
        assert torch.equal(first["value"], weights[name]["weight"]), (
            f"snapshot[{name!r}] does not hold net.{name}.weight's values."
        )
        assert torch.equal(later, first["value"]), (
            f"snapshot[{name!r}] changed when the net trained: it shares memory with the live "
            "weights. .detach() shares the weights' memory, and so does .cpu() when they are "
            "already on the CPU (it returns the same tensor). Hint: add .clone() to make a "
            "copy of its own: .detach().cpu().clone()."
        )
        assert not first["requires_grad"], f"snapshot[{name!r}] still tracks gradients; detach it."


@pytest.mark.points(4)
def test_snapshots_have_the_kernel_shapes(ex4, rng):
    """Snapshots hold conv1 (6,1,5,5) and conv2 (16,6,5,5) on the CPU"""
    weights, obs = snapshot(ex4, rng)
    snap = obs["snapshot"]
    assert set(snap) == set(SHAPES), (
        f"snapshot_kernels() should return a dict with keys 'conv1' and 'conv2'; got {sorted(snap)}."
    )
    for name, shape in SHAPES.items():
        got = list(snap[name]["value"].shape)
        assert got == shape, f"The {name} snapshot has shape {got}, expected {shape}."
        assert snap[name]["device"] == "cpu", "Snapshots must live on the CPU."
        assert torch.equal(snap[name]["value"], weights[name]["weight"]), (
            f"snapshot[{name!r}] does not hold net.{name}.weight's values."
        )


@pytest.mark.points(4)
def test_kernel_change_is_after_minus_before(ex4, rng):
    """kernel_change(before, after) is after - before, per key"""
    before = kernels(rng)
    after = {k: v + torch.randn(v.shape, generator=rng) for k, v in before.items()}
    change = ex4.call("ex4.change", before=before, after=after)["change"]
    assert set(change) == set(before), f"kernel_change() returned keys {sorted(change)}."
    for name in before:
        assert torch.allclose(change[name], after[name] - before[name], atol=1e-6), (
            f"kernel_change()[{name!r}] is not after - before (check the order of subtraction)."
        )


def plotted(ex4, rng):
    weights = kernels(rng)
    obs = ex4.call("ex4.plot", weights=weights, title="probe")
    assert obs["figure"] == "Figure", (
        f"plot_kernels() returned {obs['figure']}; return the matplotlib Figure."
    )
    return weights, obs["images"]


@pytest.mark.points(3)
def test_plot_has_one_image_per_kernel_slice(ex4, rng):
    """The figure has 12 images: 6 conv1 kernels and 6 channels of conv2's first kernel"""
    weights, images = plotted(ex4, rng)
    assert len(images) == 12, (
        f"The figure holds {len(images)} images; expected 12 (one image per 5x5 slice)."
    )
    every_slice = [k for w in weights.values() for k in w.reshape(-1, 5, 5)]
    for im in images:
        assert list(im.shape) == [5, 5], "Each image should be one 5x5 kernel slice."
        assert any(_same_picture(im, k) for k in every_slice), (
            "An image shows something other than a 5x5 slice of the kernels you were given."
        )


def _same_picture(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal up to the linear rescaling that imshow applies anyway."""
    if a.shape != b.shape:
        return False
    a, b = a.double(), b.double()
    span_a, span_b = a.max() - a.min(), b.max() - b.min()
    if span_a == 0 or span_b == 0:
        return bool(span_a == span_b)
    return torch.allclose((a - a.min()) / span_a, (b - b.min()) / span_b, atol=1e-4)


@pytest.mark.points(4)
def test_each_image_shows_its_kernel_slice(ex4, rng):
    """Each image holds the values of its 5x5 slice"""
    weights, images = plotted(ex4, rng)
    slices = [weights["conv1"][i, 0] for i in range(6)] + [weights["conv2"][0, i] for i in range(6)]
    for n, s in enumerate(slices):
        where = "conv1 kernel" if n < 6 else "conv2[0] channel"
        assert any(_same_picture(im, s) for im in images), (
            f"No image shows {where} {n % 6}. Hint: one image per 5x5 slice: conv1[i, 0] for "
            "the six conv1 kernels and conv2[0, i] for the channels of conv2's first kernel."
        )
