"""Kernels drawn with each image rescaled to [0, 1] first: it renders the same."""

import matplotlib.pyplot as plt


def snapshot_kernels(net):
    return {name: getattr(net, name).weight.detach().clone().cpu() for name in ("conv1", "conv2")}


def kernel_change(before, after):
    return {k: after[k].sub(before[k]) for k in after}


def plot_kernels(weights, title):
    fig = plt.figure(figsize=(9, 3))
    slices = list(weights["conv1"][:, 0]) + list(weights["conv2"][0])
    for i, k in enumerate(slices):
        k = (k - k.min()) / (k.max() - k.min())
        fig.add_subplot(2, 6, i + 1).imshow(k.numpy(), cmap="viridis")
    fig.suptitle(title)
    return fig
