# %% [markdown]
# # The lecture: training a LeNet for MNIST classification
#
# The whole lecture with the kit's API: LeNet (conv1 1→6 5×5, max-pool 2, conv2 6→16 5×5,
# max-pool 2, fc 256→120→84→10, log-softmax), NLL loss, Adam (lr 1e-3), batches of 100,
# 10 epochs; each epoch's mean training loss, test accuracy and time; the loss and
# accuracy curves; and the conv1 kernels and conv2's first kernel before and after training.
# `LENET_EPOCHS` shortens the run (CI uses 1).

# %%
import os
from pathlib import Path

from IPython.display import display

from lenet_course import plots
from lenet_course.config import TrainConfig
from lenet_course.pipeline import run_lecture
from lenet_course.views import lecture_line

config = TrainConfig(epochs=int(os.environ.get("LENET_EPOCHS", "10")))
print(config)


class PrintEachEpoch:
    """The lecture's line after every epoch."""

    def on_epoch_end(self, record, epochs):
        print(lecture_line(record, epochs))


result = run_lecture(config, out=Path("runs/lecture-notebook"), callbacks=[PrintEachEpoch()])
history = result.history
print(f"final test accuracy: {history.final_accuracy:.2f}% (the lecture: 97.4% after 10 epochs)")

# %% [markdown]
# ## Loss and accuracy per epoch

# %%
display(plots.loss_figure(history), plots.accuracy_figure(history))

# %% [markdown]
# ## The kernels before and after training

# %%
display(plots.conv1_figure(history), plots.conv2_figure(history))
