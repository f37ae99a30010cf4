# %% [markdown]
# # Exercise 2: the log-softmax output
#
# Write `LeNetClassifier` in `exercises/ex2_log_softmax.py`. This notebook turns the scores
# of an untrained net into log-probabilities, draws them for a few digits, checks that each
# row exponentiates to probabilities that sum to 1, and ends with Exercise 2's checks.

# %%
import matplotlib.pyplot as plt
import torch

from lenet_course import data, notebook

ex2 = notebook.exercise("ex2_log_softmax")
images, labels = data.load_split(data.prepare(None), train=False)
x = data.to_inputs(images[:6])
log_probs = None
try:
    torch.manual_seed(0)
    with torch.no_grad():
        log_probs = ex2.LeNetClassifier()(x)
    sums = log_probs.exp().sum(dim=1)
    print("exp(row) sums:", [round(float(s), 5) for s in sums], "(each should be 1)")
    print("largest log-probability:", float(log_probs.max()), "(never above 0)")
except Exception as exc:  # noqa: BLE001 - a stub says what to write
    print(notebook.unfinished(exc))

# %%
if log_probs is not None:
    fig, axes = plt.subplots(2, 6, figsize=(14, 4), height_ratios=[1, 1.4])
    for i in range(6):
        axes[0, i].imshow(x[i, 0], cmap="gray")
        axes[0, i].set_title(f"label {int(labels[i])}")
        axes[0, i].axis("off")
        axes[1, i].bar(range(10), log_probs[i].exp())
        axes[1, i].set_xticks(range(10))
        axes[1, i].set_ylim(0, 1)
    axes[1, 0].set_ylabel("probability")
    fig.suptitle("An untrained net's class probabilities: nearly flat until Exercise 3 trains it")
    plt.show()

# %% [markdown]
# ## Your checks

# %%
report = notebook.check("ex2_log_softmax")
