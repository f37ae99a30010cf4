"""The lecture's recipe as one frozen, validated dataclass.

Kept free of torch so that building the command line (whose flags take their defaults from
:class:`TrainConfig`) imports nothing heavy; :mod:`lenet_course.engine` re-exports it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from lenet_course.errors import ConfigError

LOADERS = ("tensor", "torchvision")
"""``tensor``: each split held as tensors on the device; ``torchvision``: the lecture's DataLoader."""

_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


@dataclass(frozen=True)
class TrainConfig:
    """The lecture's settings, validated on creation."""

    epochs: int = 10
    """Passes over the 60,000 training images."""
    batch_size: int = 100
    """Samples per optimiser step; 100 gives 600 steps per epoch."""
    lr: float = 1e-3
    """Adam's learning rate."""
    seed: int = 0
    """Seeds the weights and the shuffling."""
    device: str = "auto"
    """``auto`` (cuda if available, else cpu), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
    loader: str = "tensor"
    """``tensor`` (data held on the device, the default) or ``torchvision`` (the lecture's)."""
    cuda_graph: bool = False
    """Capture the whole train step in a CUDA graph (CUDA only; falls back to eager)."""

    def __post_init__(self) -> None:
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ConfigError(f"epochs must be a whole number >= 1, got {self.epochs!r}")
        if not isinstance(self.batch_size, int) or not 1 <= self.batch_size <= 60_000:
            raise ConfigError(f"batch size must be between 1 and 60000, got {self.batch_size!r}")
        if not isinstance(self.lr, (int, float)) or not (0 < self.lr < 10) or math.isnan(self.lr):
            raise ConfigError(f"learning rate must be a number in (0, 10), got {self.lr!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a whole number >= 0, got {self.seed!r}")
        if not isinstance(self.device, str) or not _DEVICE_RE.match(self.device):
            raise ConfigError(f"device must be auto, cpu, cuda, cuda:N or mps, got {self.device!r}")
        if self.loader not in LOADERS:
            raise ConfigError(f"loader must be one of {', '.join(LOADERS)}, got {self.loader!r}")
