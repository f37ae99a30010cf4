# Exercise file generated from solutions/ex3_train.py by `lenet-course make-exercises`.
# Replace each `raise NotImplementedError(...)` with your code.
"""Exercise 3: write the training loop and the evaluation.

``evaluate`` measures test accuracy; ``train`` runs the lecture's recipe (NLL loss, Adam)
and returns one ``EpochRecord`` per epoch. The loaders are ``torch.utils.data.DataLoader``
objects yielding ``(inputs, labels)`` batches: inputs (B, 1, 28, 28) float in [0, 1], labels
(B,) int64. ``len(loader.dataset)``, ``loader.batch_size``, ``len(loader)`` and extra passes
over a loader (a training accuracy, a progress bar) are all fine.
"""

import time

import torch
import torch.nn.functional as F

from lenet_course.runtime import EpochRecord


def evaluate(net: torch.nn.Module, loader, device="cpu") -> float:
    """Accuracy of ``net`` on every batch of ``loader``, in percent (0-100), as a float.

    Put the net in eval mode and compute without gradients (``torch.no_grad()`` or
    ``torch.inference_mode()``). A sample is correct when the largest output of its row is
    at its label. Count every batch, the short last one too, and divide with ``/``: integer
    division floors the accuracy.
    """
    raise NotImplementedError("Exercise 3: evaluate() returns the percentage (0-100) of samples, over every batch of the loader, whose largest output is at their label; run the net in evaluation mode and without building a gradient graph. See the lecture's test step.")


def train(net, train_loader, test_loader, *, epochs=10, lr=1e-3, device="cpu"):
    """Train ``net`` (which returns log-probabilities) and return a list of EpochRecord.

    The rules the grader checks:

    * Train the net you are given, from the weights it has: do not re-initialise it, build
      a new net, or load weights into it.
    * Build one ``torch.optim.Adam(net.parameters(), lr=lr)`` before the first epoch, with
      the ``lr`` you are given, and keep it (and its state) for the whole run.
    * For each epoch, put the net in train mode (``evaluate`` leaves it in eval mode). For
      each batch the loader gives, the short last one too: move it to ``device``, zero the
      gradients, compute ``F.nll_loss`` on the net's output (its default mean over the
      batch), back-propagate once and take one optimizer step.
    * Record ``EpochRecord(epoch, train_loss, test_accuracy, seconds)`` with floats (use
      ``.item()`` on a tensor): ``epoch`` counts from 1; ``train_loss`` is the epoch's mean
      loss (the mean of its batch losses, or the mean per sample); ``test_accuracy`` is
      ``evaluate`` on the test loader after the epoch's training; ``seconds`` is the epoch's
      time from before its first batch to after its last step, loading and training
      included, the evaluation not (call ``torch.cuda.synchronize()`` before reading the
      clock when training on a GPU).
    * Return the list of records, one per epoch.
    """
    raise NotImplementedError("Exercise 3: train() runs the lecture's recipe for `epochs` epochs (Adam with the given lr over all the net's parameters; the NLL loss on the net's log-probabilities; fresh gradients and one optimizer step per batch) and returns one EpochRecord per epoch: its number from 1, the mean training loss, evaluate() on the test loader, and the epoch's training time. See the lecture's training loop.")
