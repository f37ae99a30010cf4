"""Time one training epoch per data path, after a warm-up, on the same device, model and seed."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from lenet_course import data
from lenet_course.engine import (
    CudaGraphStep,
    TrainConfig,
    cuda_graph_blocker,
    eager_step,
    make_optimizer,
    place_model,
    resolve_device,
    synchronize,
    train_epoch,
)
from lenet_course.model import LeNet


def time_epoch(
    root: Path,
    config: TrainConfig,
    *,
    warmup_batches: int = 20,
    model_factory=LeNet,
) -> float:
    """Seconds for one full training epoch with ``config.loader``, warm-up excluded."""
    device = resolve_device(config.device)
    train, _ = data.make_loaders(
        root, loader=config.loader, batch_size=config.batch_size, seed=config.seed, device=device
    )
    torch.manual_seed(config.seed)
    model = place_model(model_factory(), device).train()
    graph = config.cuda_graph and cuda_graph_blocker(train, device, config.batch_size) is None
    optimizer = make_optimizer(model, config, capturable=graph)
    step = (
        CudaGraphStep(model, optimizer, next(iter(train)))
        if graph
        else eager_step(model, optimizer)
    )
    for inputs, labels in itertools.islice(train, warmup_batches):
        step(inputs.to(device), labels.to(device))
    synchronize(device)
    _, seconds = train_epoch(step, train, device)
    return seconds


@dataclass(frozen=True)
class BenchResult:
    device: str
    torchvision_seconds: float
    tensor_seconds: float

    @property
    def ratio(self) -> float:
        """Fast path's epoch time as a fraction of the DataLoader path's."""
        return self.tensor_seconds / self.torchvision_seconds

    def to_dict(self) -> dict:
        return {**asdict(self), "ratio": self.ratio}


def compare_loaders(root: Path, config: TrainConfig, *, warmup_batches: int = 20) -> BenchResult:
    """One epoch with the torchvision DataLoader path, then one with the tensor path."""
    times = {}
    for loader in data.LOADERS:
        cfg = TrainConfig(**{**asdict(config), "loader": loader, "cuda_graph": False})
        times[loader] = time_epoch(root, cfg, warmup_batches=warmup_batches)
    return BenchResult(
        device=str(resolve_device(config.device)),
        torchvision_seconds=times["torchvision"],
        tensor_seconds=times["tensor"],
    )
