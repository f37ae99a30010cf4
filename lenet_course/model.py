"""The lecture's LeNet: the reference architecture the kit trains and grades against."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LeNet(nn.Module):
    """LeNet for 28x28 MNIST digits; ``forward`` returns log-probabilities ``(N, 10)``.

    Submodule names (``conv1``, ``conv2``, ``fc1``, ``fc2``, ``fc3``) are the contract with
    the exercises: a student's ``state_dict`` loads into this class.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, kernel_size=5)  # (N, 1, 28, 28) -> (N, 6, 24, 24)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)  # (N, 6, 12, 12) -> (N, 16, 8, 8)
        self.fc1 = nn.Linear(16 * 4 * 4, 120)  # (N, 256) -> (N, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # (N, 6, 12, 12)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # (N, 16, 4, 4)
        x = x.flatten(1)  # (N, 256)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return F.log_softmax(self.fc3(x), dim=1)  # (N, 10)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters; 44,426 for the lecture's LeNet."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def architecture(*, log_softmax: bool = True, train_mask: bool = False) -> dict:
    """The lecture's LeNet as data, for the grader's jailed workers to build.

    Layers are created in the same order as :class:`LeNet`'s, so a net built from this
    spec after ``torch.manual_seed(s)`` starts from the same weights as ``LeNet()`` does.
    With ``train_mask``, every odd-numbered input of fc1 is zeroed in training mode only
    (eval mode is the lecture's LeNet), so fc1's odd columns move only in eval-mode steps.
    """
    mask = [["train_mask"]] if train_mask else []
    steps = [["conv1"], ["relu"], ["maxpool", 2], ["conv2"], ["relu"], ["maxpool", 2],
             ["flatten"], *mask, ["fc1"], ["relu"], ["fc2"], ["relu"], ["fc3"]]  # fmt: skip
    return {
        "layers": {
            "conv1": ["conv", 1, 6, 5],
            "conv2": ["conv", 6, 16, 5],
            "fc1": ["linear", 256, 120],
            "fc2": ["linear", 120, 84],
            "fc3": ["linear", 84, 10],
        },
        "forward": steps + ([["log_softmax"]] if log_softmax else []),
    }


NAMED_LAYERS = ("conv1", "conv2", "fc1", "fc2", "fc3")


def named_weights(model: nn.Module) -> dict[str, dict[str, torch.Tensor]]:
    """``{"conv1": {"weight": ..., "bias": ...}, ...}``: detached CPU copies by layer name."""
    return {
        name: {
            p: getattr(getattr(model, name), p).detach().cpu().clone() for p in ("weight", "bias")
        }
        for name in NAMED_LAYERS
    }


def load_named_weights(model: nn.Module, weights: dict) -> None:
    """Copy ``{"conv1": {"weight": t, "bias": t}, ...}`` into ``model``'s layers (shapes must match)."""
    with torch.no_grad():
        for name in NAMED_LAYERS:
            for p in ("weight", "bias"):
                target = getattr(getattr(model, name), p)
                value = weights[name][p]
                if tuple(value.shape) != tuple(target.shape):
                    raise ValueError(
                        f"{name}.{p} has shape {tuple(value.shape)}, expected {tuple(target.shape)}"
                    )
                target.copy_(value.to(target.dtype))
