"""Exercise 4: look at what the convolutions learned.

Take snapshots of the kernels before and after training, compute how they changed, and
draw them: one 5x5 image per slice.
"""

import matplotlib.pyplot as plt


def snapshot_kernels(net) -> dict:
    """``{"conv1": (6, 1, 5, 5), "conv2": (16, 6, 5, 5)}``: the conv weights as CPU copies,
    detached from autograd, so that later training cannot change them."""
    # BEGIN SOLUTION: Exercise 4: return {'conv1': (6, 1, 5, 5), 'conv2': (16, 6, 5, 5)}: the two conv layers' weights as CPU copies, detached from autograd, that later training cannot change.
    return {
        "conv1": net.conv1.weight.detach().cpu().clone(),
        "conv2": net.conv2.weight.detach().cpu().clone(),
    }
    # END SOLUTION


def kernel_change(before: dict, after: dict) -> dict:
    """The same keys as the snapshots, each holding ``after - before``."""
    # BEGIN SOLUTION: Exercise 4: return a dict with the same keys as the snapshots, each value the change from before to after.
    return {name: after[name] - before[name] for name in before}
    # END SOLUTION


def plot_kernels(weights: dict, title: str):
    """A matplotlib Figure with one image per 5x5 slice, titled ``title``.

    Row 1: the 6 kernels of ``weights["conv1"]`` (6, 1, 5, 5), one image each.
    Row 2: the 6 input channels of conv2's first kernel ``weights["conv2"][0]`` (6, 5, 5).
    Draw each slice as an image (``imshow``, grey scale), 12 images in all and no other,
    each holding its 5x5 slice's values as they are, and return the figure.
    """
    # BEGIN SOLUTION: Exercise 4: return a matplotlib Figure with 12 images, one per 5x5 slice: the six conv1 kernels on one row, the six input channels of conv2's first kernel on the other, titled `title`.
    fig, axes = plt.subplots(2, 6, figsize=(9, 3.4))
    rows = (weights["conv1"][:, 0], weights["conv2"][0])  # (6, 5, 5) each
    for row, slices in zip(axes, rows, strict=True):
        for ax, kernel in zip(row, slices, strict=True):
            ax.imshow(kernel.numpy(), cmap="gray")
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0][0].set_ylabel("conv1")
    axes[1][0].set_ylabel("conv2[0]")
    fig.suptitle(title)
    return fig
    # END SOLUTION
