# Exercise file generated from solutions/ex4_kernels.py by `lenet-course make-exercises`.
# Replace each `raise NotImplementedError(...)` with your code.
"""Exercise 4: look at what the convolutions learned.

Take snapshots of the kernels before and after training, compute how they changed, and
draw them: one 5x5 image per slice.
"""

import matplotlib.pyplot as plt


def snapshot_kernels(net) -> dict:
    """``{"conv1": (6, 1, 5, 5), "conv2": (16, 6, 5, 5)}``: the conv weights as detached
    CPU copies, so that later training cannot change them (``.detach().cpu().clone()``)."""
    raise NotImplementedError('Exercise 4: return {"conv1": ..., "conv2": ...} with net.conv1.weight and net.conv2.weight as .detach().cpu().clone() copies; a view of the live weights would change as the net trains.')


def kernel_change(before: dict, after: dict) -> dict:
    """The same keys as the snapshots, each holding ``after - before``."""
    raise NotImplementedError('Exercise 4: kernel_change() returns a dict with the same keys, each value after[key] - before[key].')


def plot_kernels(weights: dict, title: str):
    """A matplotlib Figure with one image per 5x5 slice, titled ``title``.

    Row 1: the 6 kernels of ``weights["conv1"]`` (6, 1, 5, 5), one image each.
    Row 2: the 6 input channels of conv2's first kernel ``weights["conv2"][0]`` (6, 5, 5).
    Draw each slice with ``ax.imshow(slice.numpy(), cmap="gray")`` and return the figure.
    """
    raise NotImplementedError('Exercise 4: plot_kernels() makes plt.subplots(2, 6), calls ax.imshow(...) once per 5x5 slice (conv1[i, 0] on row 1, conv2[0, i] on row 2) and returns the Figure.')
