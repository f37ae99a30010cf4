# %% [markdown]
# # Exercise 4: the kernels before and after training
#
# Write `snapshot_kernels`, `kernel_change` and `plot_kernels` in `exercises/ex4_kernels.py`.
# This notebook snapshots the kernels of a LeNet, trains it for one short epoch with your
# `train` from Exercise 3, and draws the kernels before, after, and their change with your
# `plot_kernels`; then it runs Exercise 4's checks.

# %%
import matplotlib.pyplot as plt
import torch

from lenet_course import notebook

ex4 = notebook.exercise("ex4_kernels")
torch.manual_seed(0)
net = notebook.lecture_lenet(0)
train_loader, test_loader = notebook.mnist(n_train=6000, n_test=1000)
snapshots = {}
try:
    snapshots["before"] = ex4.snapshot_kernels(net)
    try:  # one short epoch of your own train() from Exercise 3
        notebook.exercise("ex3_train").train(net, train_loader, test_loader, epochs=1, lr=1e-3)
    except NotImplementedError:
        print("Finish Exercise 3's train() to see the kernels after training.")
    else:
        snapshots["after"] = ex4.snapshot_kernels(net)
        snapshots["change"] = ex4.kernel_change(snapshots["before"], snapshots["after"])
        for name, kernels in snapshots["change"].items():
            print(f"{name}: largest change {float(kernels.abs().max()):.4f}")
except Exception as exc:  # noqa: BLE001 - a stub says what to write
    print(notebook.unfinished(exc))

# %%
for stage, weights in snapshots.items():
    try:
        ex4.plot_kernels(weights, f"kernels {stage} one epoch on 6,000 digits")
        plt.show()
    except Exception as exc:  # noqa: BLE001
        print(notebook.unfinished(exc))
        break

# %% [markdown]
# ## Your checks

# %%
report = notebook.check("ex4_kernels")
