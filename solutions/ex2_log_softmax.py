"""Exercise 2: add the lecture's log-softmax output.

``LeNetClassifier`` is your ``LeNet`` from Exercise 1 with one more step: turn the logits
into log-probabilities over the 10 classes. Each row of the output must exponentiate to
probabilities that sum to 1. Use the numerically stable ``F.log_softmax`` and name the
class dimension explicitly (``dim=1``); ``torch.log(F.softmax(x))`` overflows for large
logits. The NLL loss of Exercise 3 expects exactly these log-probabilities.
"""

import torch
import torch.nn.functional as F

from .ex1_lenet import LeNet


class LeNetClassifier(LeNet):
    """``forward(x (N, 1, 28, 28)) -> log-probabilities (N, 10)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # BEGIN SOLUTION: Exercise 2: return log-probabilities of shape (N, 10): the logits of the parent LeNet turned into a numerically stable log-softmax over the class dimension. See the lecture's log-softmax step.
        return F.log_softmax(super().forward(x), dim=1)
        # END SOLUTION
