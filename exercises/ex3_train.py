# Exercise file generated from solutions/ex3_train.py by `lenet-course make-exercises`.
# Replace each `raise NotImplementedError(...)` with your code.
"""Exercise 3: write the training loop and the evaluation.

``evaluate`` measures test accuracy; ``train`` runs the lecture's recipe (NLL loss, Adam)
and returns one ``EpochRecord`` per epoch. Loaders yield ``(inputs, labels)`` batches:
inputs (B, 1, 28, 28) float in [0, 1], labels (B,) int64.
"""

import time

import torch
import torch.nn.functional as F

from lenet_course.runtime import EpochRecord


def evaluate(net: torch.nn.Module, loader, device="cpu") -> float:
    """Accuracy of ``net`` on every batch of ``loader``, in percent (0-100).

    Put the net in eval mode and compute without gradients (``torch.no_grad()``). A sample
    is correct when the largest output of its row is at its label.
    """
    raise NotImplementedError('Exercise 3: evaluate() must call net.eval(), run under torch.no_grad(), move each batch to device, count rows whose argmax(dim=1) equals the label, and return 100 * correct / total.')


def train(net, train_loader, test_loader, *, epochs=10, lr=1e-3, device="cpu"):
    """Train ``net`` (which returns log-probabilities) and return a list of EpochRecord.

    For each epoch: put the net in train mode; for each batch move it to ``device``, zero
    the gradients, compute ``F.nll_loss``, back-propagate and take an Adam step. Record
    ``EpochRecord(epoch, train_loss, test_accuracy, seconds)``: epoch counts from 1, the
    loss is the mean over the epoch's batches, the accuracy comes from ``evaluate``, and
    the seconds are the epoch's training time (call ``torch.cuda.synchronize()`` before
    reading the clock when training on a GPU).
    """
    raise NotImplementedError('Exercise 3: train() needs torch.optim.Adam(net.parameters(), lr=lr) and, per batch, optimizer.zero_grad(), loss = F.nll_loss(net(inputs), labels), loss.backward(), optimizer.step(); return one EpochRecord per epoch.')
