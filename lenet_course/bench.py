"""Time training epochs per data path, after a warm-up, on the same device, model and seed."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from lenet_course import data
from lenet_course.engine import (
    TrainConfig,
    make_step,
    place_model,
    resolve_device,
    synchronize,
    train_epoch,
)
from lenet_course.model import LeNet


def epoch_runner(
    root: Path, config: TrainConfig, *, warmup_batches: int = 20, model_factory=LeNet
) -> Callable[[], tuple[float, float]]:
    """Set up model, optimiser and loader for ``config``, run ``warmup_batches`` steps, and
    return a function that trains one full epoch and returns ``(mean loss, seconds)``."""
    device = resolve_device(config.device)
    train, _ = data.make_loaders(root, config, device)
    torch.manual_seed(config.seed)
    model = place_model(model_factory(), device).train()
    step, _ = make_step(model, config, device, train)  # the CUDA-graph fallback as in fit()
    for inputs, labels in itertools.islice(train, warmup_batches):
        step(inputs.to(device), labels.to(device))
    synchronize(device)
    return lambda: train_epoch(step, train, device)


def time_epoch(root: Path, config: TrainConfig, *, warmup_batches: int = 20) -> float:
    """Seconds for one full training epoch with ``config.loader``, warm-up excluded."""
    return epoch_runner(root, config, warmup_batches=warmup_batches)()[1]


@dataclass(frozen=True)
class BenchResult:
    device: str
    torchvision_seconds: float  # median over the repeats
    tensor_seconds: float
    repeats: int = 1
    torchvision_all: list[float] = field(default_factory=list)
    tensor_all: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """Fast path's epoch time as a fraction of the DataLoader path's."""
        return self.tensor_seconds / self.torchvision_seconds

    def to_dict(self) -> dict:
        return {**asdict(self), "ratio": self.ratio}


def compare_loaders(
    root: Path, config: TrainConfig, *, warmup_batches: int = 20, repeats: int = 1
) -> BenchResult:
    """Epochs with the torchvision DataLoader path and the tensor path, interleaved so both
    see the same machine noise; each path's figure is the median of ``repeats`` epochs."""
    runners = {
        loader: epoch_runner(
            root, TrainConfig(**{**asdict(config), "loader": loader, "cuda_graph": False}),
            warmup_batches=warmup_batches,
        )
        for loader in data.LOADERS
    }  # fmt: skip
    times: dict[str, list[float]] = {loader: [] for loader in runners}
    for _ in range(repeats):
        for loader, run in runners.items():
            times[loader].append(run()[1])
    return BenchResult(
        device=str(resolve_device(config.device)),
        torchvision_seconds=statistics.median(times["torchvision"]),
        tensor_seconds=statistics.median(times["tensor"]),
        repeats=repeats,
        torchvision_all=times["torchvision"],
        tensor_all=times["tensor"],
    )
