# %% [markdown]
# # Exercise 1: the lecture's LeNet
#
# Write `LeNet` in `exercises/ex1_lenet.py`. This notebook builds your net, sends one MNIST
# test digit through it, shows the shape after every stage and what conv1 and conv2 make of
# the digit, and ends with Exercise 1's checks.

# %%
import matplotlib.pyplot as plt
import torch

from lenet_course import data, notebook

ex1 = notebook.exercise("ex1_lenet")
images, labels = data.load_split(data.prepare(None), train=False)
digit = data.to_inputs(images[:1])
try:
    torch.manual_seed(0)
    net = ex1.LeNet()
    print(f"{sum(p.numel() for p in net.parameters()):,} parameters (the lecture's: 44,426)")
except Exception as exc:  # noqa: BLE001 - a stub says what to write
    net = None
    print(notebook.unfinished(exc))

# %% [markdown]
# ## The shapes through the net
#
# Forward hooks record what each named layer gives for the digit (before its ReLU).

# %%
stages = {}
if net is not None:
    hooks = [
        layer.register_forward_hook(lambda m, i, o, name=name: stages.update({name: o.detach()}))
        for name, layer in net.named_children()
    ]
    try:
        with torch.no_grad():
            scores = net(digit)
        print("input".ljust(8), tuple(digit.shape))
        for name, out in stages.items():
            print(name.ljust(8), tuple(out.shape))
        print("scores".ljust(8), tuple(scores.shape), "(the lecture: (1, 10))")
    except Exception as exc:  # noqa: BLE001
        print(notebook.unfinished(exc))

# %%
maps = [(n, stages[n][0]) for n in ("conv1", "conv2") if n in stages]
if maps:
    fig, axes = plt.subplots(len(maps) + 1, 16, figsize=(16, 1.3 * (len(maps) + 1)))
    for ax in axes.flat:
        ax.axis("off")
    axes[0, 0].imshow(digit[0, 0], cmap="gray")
    axes[0, 0].set_title(f"digit {int(labels[0])}", fontsize=8)
    for row, (name, fmap) in enumerate(maps, start=1):
        for c in range(fmap.shape[0]):
            axes[row, c].imshow(fmap[c].relu(), cmap="viridis")
            axes[row, c].set_title(f"{name}[{c}] {tuple(fmap[c].shape)}", fontsize=6)
    fig.suptitle("What the untrained conv layers make of one digit (after ReLU)")
    plt.show()

# %% [markdown]
# ## Your checks
#
# The same checks as `lenet-course check`, for Exercise 1 only. They run in the grader's own
# processes, not in this notebook.

# %%
report = notebook.check("ex1_lenet")
