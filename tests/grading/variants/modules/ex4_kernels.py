"""Kernels via state_dict copies, and a plot with one subplot per slice and a colour bar."""

import copy

import matplotlib.pyplot as plt
import torch


def snapshot_kernels(net):
    state = net.state_dict()
    return {
        k: copy.deepcopy(state[f"{k}.weight"]).cpu().requires_grad_(False)
        for k in ("conv1", "conv2")
    }


def kernel_change(before, after):
    return {k: torch.sub(after[k], before[k]) for k in before}


def plot_kernels(weights, title):
    fig, axes = plt.subplots(2, 6, squeeze=False)
    for i in range(6):
        im = axes[0, i].imshow(weights["conv1"][i][0], cmap="gray", vmin=-0.5, vmax=0.5)
        axes[1, i].imshow(weights["conv2"][0][i].tolist(), cmap="gray")
    fig.colorbar(im, ax=axes.ravel().tolist())
    fig.suptitle(title)
    return fig
