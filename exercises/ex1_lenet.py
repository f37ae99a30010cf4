# Exercise file generated from solutions/ex1_lenet.py by `lenet-course make-exercises`.
# Replace each `raise NotImplementedError(...)` with your code.
"""Exercise 1: define the lecture's LeNet.

Build ``LeNet`` with five layers, named exactly as below (the grader reads them by name):

* ``conv1``: 1 -> 6 channels, 5x5 kernel    (N, 1, 28, 28) -> (N, 6, 24, 24)
* max-pool 2                                (N, 6, 24, 24) -> (N, 6, 12, 12)
* ``conv2``: 6 -> 16 channels, 5x5 kernel   (N, 6, 12, 12) -> (N, 16, 8, 8)
* max-pool 2                                (N, 16, 8, 8)  -> (N, 16, 4, 4)
* flatten                                   (N, 16, 4, 4)  -> (N, 256)
* ``fc1``: 256 -> 120, ``fc2``: 120 -> 84, ``fc3``: 84 -> 10

Each named layer is the ``nn.Conv2d`` or ``nn.Linear`` itself (not a block holding one):
apply the ReLUs and the pooling in ``forward``. Use a ReLU after every layer except the last. ``forward`` returns the raw class scores
(logits) of shape (N, 10); Exercise 2 adds the log-softmax. The whole net has 44,426
parameters: check your count with ``sum(p.numel() for p in net.parameters())``.
"""

import torch
import torch.nn.functional as F
from torch import nn


class LeNet(nn.Module):
    """LeNet for 28x28 MNIST digits: ``forward(x (N, 1, 28, 28)) -> logits (N, 10)``."""

    def __init__(self) -> None:
        super().__init__()
        raise NotImplementedError("Exercise 1: create the lecture's five layers as self.conv1 and self.conv2 (5x5 convolutions, 1->6 and 6->16 channels) and self.fc1, self.fc2, self.fc3 (fully connected, 256->120->84->10). See the lecture's network definition.")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 1, 28, 28) -> logits (N, 10)."""
        raise NotImplementedError("Exercise 1: turn x (N, 1, 28, 28) into logits (N, 10): every convolution is followed by a ReLU and a 2x2 max-pool; flatten to (N, 256) keeping the batch dimension; ReLU after fc1 and fc2, nothing after fc3. See the lecture's forward pass.")
