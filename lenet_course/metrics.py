"""Pure metric functions: tensors in, numbers out."""

from __future__ import annotations

import torch


def correct(log_probs: torch.Tensor, labels: torch.Tensor) -> int:
    """How many rows of ``log_probs (N, C)`` put their maximum on ``labels (N,)``."""
    return int((log_probs.argmax(dim=1) == labels).sum().item())


def accuracy(log_probs: torch.Tensor, labels: torch.Tensor) -> float:
    """Accuracy in percent of ``log_probs (N, C)`` against ``labels (N,)``."""
    if labels.numel() == 0:
        raise ValueError("accuracy of an empty batch is undefined")
    return 100.0 * correct(log_probs, labels) / labels.numel()
