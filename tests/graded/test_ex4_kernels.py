"""Exercise 4 (20 points): kernel snapshots, their change, and the kernel plot."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from lenet_course.engine import snapshot_kernels as reference_snapshot  # noqa: E402
from lenet_course.model import LeNet as ReferenceLeNet  # noqa: E402
from tests.graded.conftest import require  # noqa: E402


def fresh_net() -> ReferenceLeNet:
    torch.manual_seed(0)
    return ReferenceLeNet()


def one_training_step(net) -> None:
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    optimizer.zero_grad()
    F.nll_loss(net(torch.rand(8, 1, 28, 28)), torch.arange(8)).backward()
    optimizer.step()


@pytest.mark.points(5)
def test_snapshots_are_copies_that_training_cannot_change(ex4):
    """Snapshots are copies: a training step afterwards leaves them unchanged"""
    snapshot_kernels = require(ex4, "snapshot_kernels")
    net = fresh_net()
    snap = snapshot_kernels(net)
    kept = {k: v.clone() for k, v in snap.items()}
    one_training_step(net)
    for name in ("conv1", "conv2"):
        assert torch.equal(snap[name], kept[name]), (
            f"snapshot[{name!r}] changed when the net trained: it shares memory with the live "
            "weights. Hint: .detach().cpu().clone()."
        )
        assert not snap[name].requires_grad, (
            f"snapshot[{name!r}] still tracks gradients; detach it."
        )


@pytest.mark.points(4)
def test_snapshots_have_the_kernel_shapes(ex4):
    """Snapshots hold conv1 (6,1,5,5) and conv2 (16,6,5,5) on the CPU"""
    snap = require(ex4, "snapshot_kernels")(fresh_net())
    assert isinstance(snap, dict) and set(snap) == {"conv1", "conv2"}, (
        f"snapshot_kernels() should return a dict with keys 'conv1' and 'conv2'; got {snap!r:.80}."
    )
    assert tuple(snap["conv1"].shape) == (6, 1, 5, 5), (
        f"conv1 snapshot is {tuple(snap['conv1'].shape)}."
    )
    assert tuple(snap["conv2"].shape) == (16, 6, 5, 5), (
        f"conv2 snapshot is {tuple(snap['conv2'].shape)}."
    )
    assert snap["conv1"].device.type == "cpu", "Snapshots must live on the CPU: add .cpu()."


@pytest.mark.points(4)
def test_kernel_change_is_after_minus_before(ex4):
    """kernel_change(before, after) is after - before, per key"""
    kernel_change = require(ex4, "kernel_change")
    g = torch.Generator().manual_seed(0)
    before = {
        "conv1": torch.randn(6, 1, 5, 5, generator=g),
        "conv2": torch.randn(16, 6, 5, 5, generator=g),
    }
    after = {k: v + torch.randn(v.shape, generator=g) for k, v in before.items()}
    change = kernel_change(before, after)
    assert set(change) == {"conv1", "conv2"}, f"kernel_change() returned keys {sorted(change)}."
    for name in before:
        assert torch.allclose(change[name], after[name] - before[name]), (
            f"kernel_change()[{name!r}] is not after - before (check the order of subtraction)."
        )


def images_of(ex4):
    plot_kernels = require(ex4, "plot_kernels")
    weights = reference_snapshot(fresh_net())  # the kit's, so plotting is graded on its own
    fig = plot_kernels(weights, "probe")
    assert isinstance(fig, matplotlib.figure.Figure), (
        f"plot_kernels() returned {type(fig).__name__}; return the matplotlib Figure."
    )
    images = [im.get_array() for ax in fig.axes for im in ax.get_images()]
    plt.close(fig)
    return weights, images


@pytest.mark.points(3)
def test_plot_has_one_image_per_kernel_slice(ex4):
    """The figure has 12 images: 6 conv1 kernels and 6 channels of conv2's first kernel"""
    _, images = images_of(ex4)
    assert len(images) == 12, (
        f"The figure holds {len(images)} images; expected 12 (one ax.imshow per 5x5 slice)."
    )
    for im in images:
        assert np.asarray(im).shape == (5, 5), "Each image should be one 5x5 kernel slice."


@pytest.mark.points(4)
def test_each_image_shows_its_kernel_slice(ex4):
    """Each image holds the values of its 5x5 slice"""
    weights, images = images_of(ex4)
    slices = [weights["conv1"][i, 0].numpy() for i in range(6)]
    slices += [weights["conv2"][0, i].numpy() for i in range(6)]
    arrays = [np.asarray(im, dtype=np.float32) for im in images]
    for n, s in enumerate(slices):
        where = "conv1 kernel" if n < 6 else "conv2[0] channel"
        assert any(a.shape == s.shape and np.allclose(a, s, atol=1e-6) for a in arrays), (
            f"No image shows {where} {n % 6}. Hint: imshow(weights['conv1'][i, 0]) for conv1 "
            "and imshow(weights['conv2'][0, i]) for conv2's first kernel, without rescaling."
        )
