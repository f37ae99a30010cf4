# Style: matplotlib gallery / student notebooks; idioms: state_dict-based snapshot, plt.subplots(2, 6, constrained_layout=True) walked with axes.flat, ax.axis('off'), per-image titles, a shared colour scale.
import matplotlib.pyplot as plt
import numpy as np


def snapshot_kernels(net):
    return {
        key.split(".")[0]: value.detach().clone().cpu()
        for key, value in net.state_dict().items()
        if key in ("conv1.weight", "conv2.weight")
    }


def kernel_change(before, after):
    return {name: after[name] - before[name] for name in before.keys()}


def plot_kernels(weights, title):
    slices = [k[0] for k in weights["conv1"]] + [c for c in weights["conv2"][0]]
    limit = float(max(np.abs(s.numpy()).max() for s in slices))
    fig, axes = plt.subplots(nrows=2, ncols=6, figsize=(12, 4), constrained_layout=True)
    for i, (ax, kernel) in enumerate(zip(axes.flat, slices)):  # noqa: B905
        ax.imshow(kernel.numpy(), cmap="RdBu", vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_title(f"conv1[{i}]" if i < 6 else f"conv2[0][{i - 6}]", fontsize=8)
        ax.axis("off")
    fig.suptitle(title)
    return fig
