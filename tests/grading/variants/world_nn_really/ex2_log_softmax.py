# Style: PyTorch tutorial "What is torch.nn really?" (log_softmax written by hand), made stable; idioms: x - torch.logsumexp(x, dim=1, keepdim=True).
import torch

from .ex1_lenet import LeNet


def log_softmax(x):
    return x - torch.logsumexp(x, dim=1, keepdim=True)


class LeNetClassifier(LeNet):
    def forward(self, xb):
        return log_softmax(super().forward(xb))
