"""Time training epochs per data path, after a warm-up, on the same device, model and seed."""

from __future__ import annotations

import itertools
import statistics
import time
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


def train_flops_per_epoch(config: TrainConfig, samples: int = 60_000, model_factory=LeNet) -> int:
    """Floating-point operations of one training epoch (forward and backward, as counted by
    :class:`torch.utils.flop_counter.FlopCounterMode` on one batch of ``config.batch_size``),
    times the batches in ``samples``; Adam's own arithmetic is left out (under 1%)."""
    from torch.utils.flop_counter import FlopCounterMode

    model = model_factory()
    x = torch.rand(config.batch_size, 1, 28, 28)
    y = torch.randint(0, 10, (config.batch_size,))
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.nll_loss(model(x), y).backward()
    return counter.get_total_flops() * (samples // config.batch_size)


def matmul_peak_gflops(device: torch.device | str, seconds: float = 0.5, n: int = 1024) -> float:
    """This machine's float32 matmul throughput (GFLOP/s) on ``device``: square ``n``-sized
    products repeated for about ``seconds``, the best of three rounds. A practical peak, not
    the data sheet's."""
    device = torch.device(device)
    a, b = torch.rand(n, n, device=device), torch.rand(n, n, device=device)
    a @ b  # warm-up
    best = 0.0
    for _ in range(3):
        reps, start = 0, time.perf_counter()
        synchronize(device)
        while time.perf_counter() - start < seconds / 3:
            a @ b
            reps += 1
        synchronize(device)
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - start) / 1e9)
    return best


@dataclass(frozen=True)
class BenchResult:
    device: str
    torchvision_seconds: float  # median over the repeats
    tensor_seconds: float
    repeats: int = 1
    torchvision_all: list[float] = field(default_factory=list)
    tensor_all: list[float] = field(default_factory=list)
    flops_per_epoch: int = 0  # training FLOPs of one epoch at this batch size
    peak_gflops: float = 0.0  # the matmul probe on the same device

    @property
    def ratio(self) -> float:
        """Fast path's epoch time as a fraction of the DataLoader path's."""
        return self.tensor_seconds / self.torchvision_seconds

    @property
    def gflops(self) -> float:
        """What the fast path achieves: the epoch's FLOPs over its seconds."""
        return self.flops_per_epoch / self.tensor_seconds / 1e9

    @property
    def fraction_of_peak(self) -> float:
        return self.gflops / self.peak_gflops if self.peak_gflops else float("nan")

    def to_dict(self) -> dict:
        return {
            **asdict(self),
            "ratio": self.ratio,
            "gflops": self.gflops,
            "fraction_of_peak": self.fraction_of_peak,
        }


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
    device = resolve_device(config.device)
    return BenchResult(
        device=str(device),
        torchvision_seconds=statistics.median(times["torchvision"]),
        tensor_seconds=statistics.median(times["tensor"]),
        repeats=repeats,
        torchvision_all=times["torchvision"],
        tensor_all=times["tensor"],
        flops_per_epoch=train_flops_per_epoch(config),
        peak_gflops=matmul_peak_gflops(device),
    )
