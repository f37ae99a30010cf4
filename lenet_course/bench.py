"""Time training epochs per data path, after a warm-up, on the same device, model and seed."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import platform
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import torch

from lenet_course import data
from lenet_course.config import TrainConfig
from lenet_course.device import cudnn_benchmark, place_model, resolve_device, synchronize
from lenet_course.engine import fit, make_optimizer, train_step
from lenet_course.levers import epoch_chunks, lever_for, make_step, train_epoch
from lenet_course.model import LeNet

log = logging.getLogger(__name__)

# The goals for an H200 (docs/benchmarks.md), the one place they are written: the
# eager tensor path took 1.53 s and the CUDA graph 0.247 s per epoch there before fused Adam;
# the graph goal is about twice the launch-latency floor (25 fused kernels of a few us, 600
# steps). `bench --levers` reports against the same figures. Accuracy is the recipe's.
GPU_TARGETS = {"eager_seconds": 1.0, "graph_seconds": 0.06, "accuracy": 98.5}


def nvidia_driver() -> str:
    """The NVIDIA driver's version as ``nvidia-smi`` reports it, or ``-`` where there is none."""
    if not shutil.which("nvidia-smi"):
        return "-"
    q = subprocess.run(
        ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
        capture_output=True,
        text=True,
    )
    lines = q.stdout.strip().splitlines() if q.returncode == 0 else []
    return lines[0].strip() if lines else "-"


def environment() -> dict:
    import torchvision

    cuda = torch.cuda.is_available()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "device": torch.cuda.get_device_name(0)
        if cuda
        else f"CPU ({platform.processor() or platform.machine()})",
        "cuda": torch.version.cuda or "-",
        "driver": nvidia_driver(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "python": platform.python_version(),
    }


class FirstBatches:
    """The first ``n`` batches of ``loader``, as a loader: a short :func:`fit` (a warm-up, or
    an evaluation that only has to run)."""

    def __init__(self, loader: Iterable, n: int) -> None:
        self.loader, self.n = loader, n

    def __len__(self) -> int:
        return min(self.n, len(self.loader))

    def __iter__(self) -> Iterator:
        return itertools.islice(iter(self.loader), self.n)


def epoch_runner(
    root: Path, config: TrainConfig, *, warmup_batches: int = 20, model_factory=LeNet
) -> Callable[[], tuple[float, float]]:
    """Set up model and loaders for ``config``, warm up with :func:`fit` on
    ``warmup_batches`` batches, and return a function that trains one full epoch with
    :func:`fit` (and the lever ``config`` asks for) and returns its record's ``(mean loss,
    seconds)``: what ``lenet-course train`` runs, timed as fit times it. Each epoch starts a
    fresh Adam and, for a CUDA graph, a fresh capture, both before fit's clock starts; fit's
    test accuracy is taken on one batch, untimed."""
    device = resolve_device(config.device)
    train, test = data.make_loaders(root, config, device)
    torch.manual_seed(config.seed)
    model = model_factory()
    one = dataclasses.replace(config, epochs=1)
    probe = FirstBatches(test, 1)
    # a graph reads whole epochs, so the warm-up runs eagerly (compiling, if asked) and each
    # timed fit captures its graph before its clock starts
    warm = dataclasses.replace(one, cuda_graph=False)
    head = FirstBatches(train, warmup_batches)
    fit(model, head, probe, warm, device=device, lever=lever_for(warm))
    lever = lever_for(one)

    def epoch() -> tuple[float, float]:
        record = fit(model, train, probe, one, device=device, lever=lever).records[0]
        return record.train_loss, record.seconds

    return epoch


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


class PlainLeNet(torch.nn.Module):
    """The lecture's LeNet as the lecture writes it, for the yardstick: no kit code."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 6, 5)
        self.conv2 = torch.nn.Conv2d(6, 16, 5)
        self.fc1 = torch.nn.Linear(256, 120)
        self.fc2 = torch.nn.Linear(120, 84)
        self.fc3 = torch.nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        F = torch.nn.functional  # noqa: N806
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.flatten(1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return F.log_softmax(self.fc3(x), dim=1)


def plain_epoch_runner(root: Path, batch_size: int = 100, seed: int = 0) -> Callable[[], float]:
    """The yardstick: a plain PyTorch loop as the lecture writes it (an ``nn.Module`` LeNet
    in the default layout, the default Adam, batches drawn from index-shuffled tensors) on the
    CPU, warmed up by 20 steps; returns a function that trains one epoch and returns its
    seconds. Only the MNIST tensors and the lecture's step (:func:`train_step`: zero_grad,
    ``F.nll_loss``, backward, step) come from the kit."""
    images, labels = data.load_split(root, train=True)
    x, y = data.to_inputs(images), labels
    torch.manual_seed(seed)
    model = PlainLeNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def steps(order: torch.Tensor) -> None:
        for i in range(0, len(order), batch_size):
            index = order[i : i + batch_size]
            train_step(model, optimizer, x[index], y[index])

    steps(torch.randperm(len(y))[: 20 * batch_size])  # warm-up

    def epoch() -> float:
        start = time.perf_counter()
        steps(torch.randperm(len(y)))
        return time.perf_counter() - start

    return epoch


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
    plain_seconds: float | None = None  # the yardstick's best epoch (a plain loop; CPU runs)
    plain_all: list[float] = field(default_factory=list)

    @property
    def over_plain(self) -> float | None:
        """The kit's epoch (tensor path, median) over the plain loop's best epoch."""
        return self.tensor_seconds / self.plain_seconds if self.plain_seconds else None

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
            "over_plain": self.over_plain,
            "gflops": self.gflops,
            "fraction_of_peak": self.fraction_of_peak,
        }


def compare_loaders(
    root: Path, config: TrainConfig, *, warmup_batches: int = 20, repeats: int = 1
) -> BenchResult:
    """Epochs with the torchvision DataLoader path and the tensor path, interleaved so both
    see the same machine noise; each path's figure is the median of ``repeats`` epochs. On
    the CPU the yardstick (:func:`plain_epoch_runner`) runs beside them, at least 3 epochs,
    and its best epoch is kept."""
    runners = {
        loader: epoch_runner(
            root,
            TrainConfig(**{**asdict(config), "loader": loader, "cuda_graph": False}),
            warmup_batches=warmup_batches,
        )
        for loader in data.LOADERS
    }
    device = resolve_device(config.device)
    plain = plain_epoch_runner(root, config.batch_size) if device.type == "cpu" else None
    times: dict[str, list[float]] = {loader: [] for loader in runners}
    plain_all: list[float] = []
    for i in range(max(repeats, 3 if plain else 1)):
        if i < repeats:
            for loader, run in runners.items():
                times[loader].append(run()[1])
        if plain is not None:
            plain_all.append(plain())
    return BenchResult(
        device=str(device),
        torchvision_seconds=statistics.median(times["torchvision"]),
        tensor_seconds=statistics.median(times["tensor"]),
        repeats=repeats,
        torchvision_all=times["torchvision"],
        tensor_all=times["tensor"],
        flops_per_epoch=train_flops_per_epoch(config),
        peak_gflops=matmul_peak_gflops(device),
        plain_seconds=min(plain_all) if plain_all else None,
        plain_all=plain_all,
    )


# --- The lever matrix: which GPU levers pay, measured on the device at hand -------------

_LAUNCH_CALLS = frozenset(
    {
        "cudaLaunchKernel",
        "cudaLaunchKernelExC",
        "cuLaunchKernel",
        "cuLaunchKernelEx",
        "cudaGraphLaunch",
        "cudaMemcpyAsync",
        "cudaMemsetAsync",
    }
)
"""The CUDA runtime and driver calls that put work on the GPU: each is one launch's host work."""


@dataclass(frozen=True)
class Cell:
    """One combination of levers: a name, the :class:`TrainConfig` fields it sets, and, when
    only CUDA can run it, why (the reason a CPU run gives for skipping it)."""

    name: str
    levers: tuple[tuple[str, object], ...] = ()
    cuda_only: str = ""

    def config(self, base: TrainConfig) -> TrainConfig:
        return dataclasses.replace(base, **dict(self.levers))


_GRAPH = "CUDA graphs need a CUDA device (the graph path's logic runs on the CPU in the unit tests, through RerunGraphs)"  # noqa: E501
_CUDNN = "cuDNN runs on CUDA only"
_CL = "the CPU already trains channels-last (its eager cell)"
LEVER_MATRIX: tuple[Cell, ...] = (
    Cell("eager"),
    Cell("graph (K=1, the default --cuda-graph)", (("cuda_graph", True),), _GRAPH),
    Cell("graph K=600", (("cuda_graph", True), ("graph_steps", 600)), _GRAPH),
    Cell(
        "graph K=600, compiled",
        (("cuda_graph", True), ("graph_steps", 600), ("compile", "default")),
        _GRAPH,
    ),
    Cell(
        "graph K=600, compiled, cudnn.benchmark, channels-last",
        (
            ("cuda_graph", True),
            ("graph_steps", 600),
            ("compile", "default"),
            ("cudnn_benchmark", True),
            ("channels_last", True),
        ),
        _GRAPH,
    ),
    Cell(
        "graph K=600, cudnn.benchmark, channels-last",
        (
            ("cuda_graph", True),
            ("graph_steps", 600),
            ("cudnn_benchmark", True),
            ("channels_last", True),
        ),
        _GRAPH,
    ),
    Cell("graph K=4", (("cuda_graph", True), ("graph_steps", 4)), _GRAPH),
    Cell("eager, compiled", (("compile", "default"),)),
    Cell("eager, cudnn.benchmark", (("cudnn_benchmark", True),), _CUDNN),
    Cell("eager, channels-last", (("channels_last", True),), _CL),
    Cell(
        "eager, compiled reduce-overhead",
        (("compile", "reduce-overhead"),),
        "reduce-overhead is torch.compile's own CUDA graphs",
    ),
    Cell("graph K=1, compiled", (("cuda_graph", True), ("compile", "default")), _GRAPH),
    Cell(
        "graph K=1, cudnn.benchmark, channels-last",
        (("cuda_graph", True), ("cudnn_benchmark", True), ("channels_last", True)),
        _GRAPH,
    ),
)
"""Pruned from the 4 x 3 x 2 x 2 combinations of graph (off, K=1, 4, 600), compile (off,
default, reduce-overhead), cudnn.benchmark and channels-last: each lever alone from eager
and from the default graph, and the all-in combinations; in order of what a short run must
learn first, since cells past the time budget are skipped (and say so)."""


@dataclass
class CellResult:
    cell: str
    levers: dict
    seconds_per_epoch: float | None = None  # median of the timed epochs; None when skipped
    epochs_seconds: list[float] = field(default_factory=list)
    epoch_losses: list[float] = field(default_factory=list)  # warm-up epoch first
    warmup_extra_seconds: float | None = None  # setup + warm-up epoch, less one timed epoch
    kernels_per_step: float | None = None  # GPU kernels, memcpys and memsets (CUDA only)
    launches_per_step: float | None = None  # CUDA: launch calls; CPU: top-level aten ops
    notes: list[str] = field(default_factory=list)
    skipped: str = ""
    correct: bool | None = None  # ran as asked, and its losses track the eager cell's


@dataclass
class LeverMatrix:
    device: str
    environment: dict
    timed_epochs: int
    cells: list[CellResult] = field(default_factory=list)
    fastest: str | None = None  # the fastest correct cell
    fastest_graph: str | None = None  # the fastest correct cell with cuda_graph
    accuracy_epochs: int = 0
    fastest_accuracy: float | None = None  # the fastest cell trained accuracy_epochs epochs
    graph_target_seconds: float = 0.0
    seconds: float = 0.0  # the whole matrix, wall

    @property
    def passed(self) -> bool:
        """Every cell run is correct, and after 10 epochs or more the fastest reaches the
        recipe's accuracy."""
        ran = [c for c in self.cells if not c.skipped]
        if not ran or not all(c.correct for c in ran):
            return False
        if self.accuracy_epochs >= 10 and self.fastest_accuracy is not None:
            return self.fastest_accuracy >= GPU_TARGETS["accuracy"]
        return True

    def to_dict(self) -> dict:
        by_name = {c.cell: c for c in self.cells}
        return {
            "passed": self.passed,
            **{k: v for k, v in asdict(self).items() if k != "cells"},
            "cells": [asdict(c) for c in self.cells],
            "graph_default": by_name[self.fastest_graph].levers if self.fastest_graph else None,
        }

    def to_markdown(self) -> str:
        def f(x, fmt):
            return "-" if x is None else format(x, fmt)

        lines = [
            f"Lever matrix on {self.device} ({self.environment.get('torch', '')}): "
            f"{self.timed_epochs} timed epoch(s) per cell after a warm-up epoch, same seed; "
            f"{self.seconds:.0f} s in all.",
            "",
            "| cell | s per epoch | kernels per step | launches per step | warm-up extra s "
            "(compile, capture, autotune) | correct | note |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for c in self.cells:
            secs = "skipped" if c.skipped else f(c.seconds_per_epoch, ".3f")
            ok = {True: "yes", False: "NO", None: "-"}[c.correct]
            note = c.skipped or "; ".join(c.notes)
            lines.append(
                f"| {c.cell} | {secs} | {f(c.kernels_per_step, '.1f')} | "
                f"{f(c.launches_per_step, '.1f')} | {f(c.warmup_extra_seconds, '.1f')} | {ok} | "
                f"{note} |"
            )
        lines += [
            "",
            f"Fastest correct: {self.fastest or '-'}; its test accuracy after "
            f"{self.accuracy_epochs} epoch(s): {f(self.fastest_accuracy, '.2f')}%.",
            f"Fastest correct with a CUDA graph (the candidate default of `train --cuda-graph`): "
            f"{self.fastest_graph or '- (none ran here)'}; the graph goal is "
            f"<= {self.graph_target_seconds} s per epoch on an H200.",
        ]
        return "\n".join(lines) + "\n"


def count_launches(
    step, loader, device: torch.device, *, min_steps: int = 20
) -> tuple[float | None, float, int]:
    """Profile at least ``min_steps`` steps (whole replays for a graph): returns ``(GPU
    kernels per step or None off CUDA, host launches per step, steps)``. On CUDA a launch is
    a runtime or driver call that queues GPU work (a graph replay is one); on the CPU it is a
    top-level aten operator call, the host work that a graph would remove."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    cuda = device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    steps = 0
    total = torch.zeros((), device=device)
    with profile(activities=activities) as prof:
        for loss, taken in epoch_chunks(step, loader, device):
            total += loss
            steps += taken
            if steps >= min_steps:
                break
        synchronize(device)
    events = prof.events()
    if cuda:
        kernels = sum(e.device_type == DeviceType.CUDA for e in events) / steps
        launches = sum(e.name in _LAUNCH_CALLS for e in events) / steps
        return kernels, launches, steps
    launches = sum(e.cpu_parent is None and e.name.startswith("aten::") for e in events) / steps
    return None, launches, steps


def run_cell(
    train: data.TensorLoader,
    config: TrainConfig,
    device: torch.device,
    *,
    timed_epochs: int = 3,
    model_factory=LeNet,
) -> tuple[CellResult, torch.nn.Module]:
    """One cell: a fresh model and loader from ``config.seed``; setup (capture, compile) and
    one warm-up epoch, then ``timed_epochs`` timed epochs, then a profiled slice. Returns the
    result and the trained model."""
    loader = data.TensorLoader(
        train.inputs, train.labels, batch_size=config.batch_size, seed=config.seed, device=device
    )
    if config.compile != "off":  # a fresh start, so no cell runs into dynamo's recompile limit
        torch._dynamo.reset()
    torch.manual_seed(config.seed)
    model = place_model(model_factory(), device, config.channels_last).train()
    result = CellResult(cell="", levers={})
    with cudnn_benchmark(config.cudnn_benchmark):
        synchronize(device)
        start = time.perf_counter()
        step, notes = make_step(
            model, config, device, loader, partial(make_optimizer, model, config)
        )
        loss, warm = train_epoch(step, loader, device)
        setup = time.perf_counter() - start
        result.notes += notes
        result.epoch_losses.append(loss)
        for _ in range(timed_epochs):
            loss, seconds = train_epoch(step, loader, device)
            result.epochs_seconds.append(seconds)
            result.epoch_losses.append(loss)
        result.kernels_per_step, result.launches_per_step, _ = count_launches(step, loader, device)
    result.seconds_per_epoch = statistics.median(result.epochs_seconds)
    result.warmup_extra_seconds = max(setup - result.seconds_per_epoch, 0.0)
    return result, model


def _time_cell(cell: Cell, cfg: TrainConfig, train, device, timed_epochs: int) -> CellResult:
    """One cell timed (:func:`run_cell`); a failure is a finding, not the end of the run."""
    levers = dict(cell.levers)
    try:
        result, _ = run_cell(train, cfg, device, timed_epochs=timed_epochs)
    except Exception as exc:  # noqa: BLE001 - one cell's failure is recorded as such
        log.warning("cell %s failed: %r", cell.name, exc)
        note = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return CellResult(cell.name, levers, notes=[note[:300]], correct=False)
    result.cell, result.levers = cell.name, levers
    return result


def _judge_cell(result: CellResult, reference: list[float] | None, tolerance: float) -> None:
    """A timed cell is correct when it ran as asked and its losses track the reference's."""
    if not result.epoch_losses or reference is None:
        return
    tracks = all(
        abs(a - b) <= tolerance * abs(b) + 0.005
        for a, b in zip(result.epoch_losses, reference, strict=True)
    )
    result.correct = not result.notes and tracks
    if not tracks:
        result.notes.append(f"losses {result.epoch_losses} stray from eager's {reference}")


def _accuracy(winner: TrainConfig, epochs: int, train, test, device) -> float:
    """The test accuracy of ``winner`` trained ``epochs`` epochs from the matrix's seed."""
    winner = dataclasses.replace(winner, epochs=epochs)
    torch.manual_seed(winner.seed)
    fresh = data.TensorLoader(
        train.inputs, train.labels, batch_size=winner.batch_size, seed=winner.seed, device=device
    )
    lever = lever_for(winner)
    return fit(LeNet(), fresh, test, winner, device=device, lever=lever).final_accuracy


def lever_matrix(
    root: Path | None,
    config: TrainConfig | None = None,
    *,
    timed_epochs: int = 3,
    accuracy_epochs: int = 10,
    budget_seconds: float = 180.0,
    cells: tuple[Cell, ...] = LEVER_MATRIX,
    loss_tolerance: float = 0.1,
    loaders: tuple[data.TensorLoader, data.TensorLoader] | None = None,
    on_step: Callable[[str], None] = lambda msg: None,
) -> LeverMatrix:
    """Time every cell of ``cells`` on ``config``'s device, the same seed for each: a warm-up
    epoch, then ``timed_epochs`` timed; then train the fastest correct cell
    ``accuracy_epochs`` epochs for its test accuracy. A cell the device cannot run is skipped
    with its reason, and so is a cell begun after ``budget_seconds`` (the first cell that
    runs, the reference, always runs).

    A cell is correct when it ran as asked (no fallback) and each epoch's mean loss is within
    ``loss_tolerance`` (relative, plus 0.005) of the first cell's (eager's), a coarse check;
    tests/unit/test_gpu.py holds the exact one. ``loaders`` (train, test) replace MNIST."""
    config = config or TrainConfig()
    device = resolve_device(config.device)
    config = dataclasses.replace(config, device=str(device), loader="tensor")
    train, test = loaders or data.tensor_loaders(
        root, batch_size=config.batch_size, seed=config.seed, device=device
    )
    matrix = LeverMatrix(str(device), environment(), timed_epochs, accuracy_epochs=accuracy_epochs)
    matrix.graph_target_seconds = GPU_TARGETS["graph_seconds"]
    start = time.perf_counter()
    reference: list[float] | None = None
    for cell in cells:
        if cell.cuda_only and device.type != "cuda":
            result = CellResult(cell.name, dict(cell.levers), skipped=cell.cuda_only)
        elif reference is not None and time.perf_counter() - start > budget_seconds:
            over = f"over the matrix's time budget of {budget_seconds:.0f} s"
            result = CellResult(cell.name, dict(cell.levers), skipped=over)
        else:
            on_step(f"timing {cell.name}")
            result = _time_cell(cell, cell.config(config), train, device, timed_epochs)
            if result.epoch_losses and reference is None:
                reference = result.epoch_losses
            _judge_cell(result, reference, loss_tolerance)
        matrix.cells.append(result)
    correct = sorted(
        (c for c in matrix.cells if c.correct), key=lambda c: c.seconds_per_epoch or 0.0
    )
    graphs = [c for c in correct if c.levers.get("cuda_graph")]
    matrix.fastest = correct[0].cell if correct else None
    matrix.fastest_graph = graphs[0].cell if graphs else None
    if correct and accuracy_epochs:
        winner = next(c for c in cells if c.name == matrix.fastest).config(config)
        on_step(f"training {matrix.fastest} for {accuracy_epochs} epochs")
        matrix.fastest_accuracy = _accuracy(winner, accuracy_epochs, train, test, device)
    matrix.seconds = time.perf_counter() - start
    return matrix
