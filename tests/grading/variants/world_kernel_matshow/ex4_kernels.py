# Style: notebooks that inspect a model with named_modules(); idioms: snapshot from the nn.Conv2d modules found by named_modules(), ax.matshow instead of imshow, fig.add_gridspec layout, fig.colorbar.
import matplotlib.pyplot as plt
from torch import nn


def snapshot_kernels(net):
    return {
        name: module.weight.detach().cpu().clone()
        for name, module in net.named_modules()
        if isinstance(module, nn.Conv2d) and name in ("conv1", "conv2")
    }


def kernel_change(before, after):
    return {name: after[name].clone() - before[name] for name in after}


def plot_kernels(weights, title):
    fig = plt.figure(figsize=(10, 4))
    grid = fig.add_gridspec(2, 6, hspace=0.3)
    for col in range(6):
        top = fig.add_subplot(grid[0, col])
        im = top.matshow(weights["conv1"][col, 0], cmap="viridis")
        bottom = fig.add_subplot(grid[1, col])
        bottom.matshow(weights["conv2"][0, col], cmap="viridis")
        for ax in (top, bottom):
            ax.set_xticks([])
            ax.set_yticks([])
    fig.colorbar(im, ax=fig.axes, shrink=0.6)
    fig.suptitle(title)
    return fig
