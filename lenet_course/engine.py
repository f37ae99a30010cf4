"""The training engine: config, the epoch loop, evaluation, timing and the history it returns.

The engine knows nothing of any particular model beyond "returns log-probabilities" and
never prints: progress goes to callbacks, notices to :mod:`logging`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lenet_course.config import TrainConfig
from lenet_course.errors import ConfigError
from lenet_course.files import atomic_write
from lenet_course.metrics import correct
from lenet_course.runtime import EpochRecord

log = logging.getLogger(__name__)


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks cuda over cpu; an explicit device that is not available is a ConfigError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device {name!r} was requested but PyTorch sees no CUDA GPU here. "
            "Fix: use --device cpu, or install a CUDA build of torch on a GPU machine."
        )
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device 'mps' was requested but is not available. Fix: --device cpu.")
    return torch.device(name)


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that a clock read after it is honest."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class History:
    """The result of :func:`fit`; serialises to JSON and back.

    ``snapshots`` holds named tensors that callbacks record, by stage (the lecture pipeline
    stores its conv kernels under ``"before"`` and ``"after"``); the engine adds none."""

    config: dict
    device: str
    records: list[EpochRecord] = field(default_factory=list)
    snapshots: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def final_accuracy(self) -> float:
        return self.records[-1].test_accuracy if self.records else float("nan")

    @property
    def total_seconds(self) -> float:
        return sum(r.seconds for r in self.records)

    def to_dict(self) -> dict:
        return {
            "config": self.config,
            "device": self.device,
            "records": [asdict(r) for r in self.records],
            "final_accuracy": self.final_accuracy,
            "total_seconds": self.total_seconds,
            "snapshots": {
                stage: {k: v.tolist() for k, v in tensors.items()}
                for stage, tensors in self.snapshots.items()
            },
            "notes": self.notes,
        }

    @classmethod
    def from_dict(cls, d: dict) -> History:
        snapshots = d.get("snapshots", {})
        for stage in ("before", "after"):  # files written before snapshots had a stage key
            if f"kernels_{stage}" in d:
                snapshots.setdefault(stage, d[f"kernels_{stage}"])
        return cls(
            config=d["config"],
            device=d["device"],
            records=[EpochRecord(**r) for r in d["records"]],
            snapshots={
                stage: {k: torch.tensor(v) for k, v in tensors.items()}
                for stage, tensors in snapshots.items()
            },
            notes=list(d.get("notes", [])),
        )

    def save(self, path: Path) -> None:
        """Write JSON atomically: a temporary file, then a rename."""
        atomic_write(path, json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: Path) -> History:
        return cls.from_dict(json.loads(Path(path).read_text()))


class Callback:
    """Hooks the engine calls; subclass and override what you need. All are no-ops. Any
    object with some of these methods works too: the engine calls the ones it has."""

    def on_epoch_start(self, epoch: int, epochs: int, steps: int) -> None: ...

    def on_batch_end(self, epoch: int, step: int) -> None: ...

    def on_epoch_end(self, record: EpochRecord, epochs: int) -> None: ...

    def on_fit_start(self, model: nn.Module, history: History) -> None: ...

    def on_fit_end(self, model: nn.Module, history: History) -> None: ...


def place_model(
    model: nn.Module, device: torch.device, channels_last: bool | None = None
) -> nn.Module:
    """Move ``model`` to ``device``, its conv weights channels-last when ``channels_last`` says
    so; None takes the device's default: on the CPU yes (oneDNN convolves LeNet about 20%
    faster so, measured 4.45 -> 3.58 s per epoch), elsewhere no (not yet measured on CUDA)."""
    model.to(device)
    if channels_last is None:
        channels_last = device.type == "cpu"
    model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    return model


@contextlib.contextmanager
def cudnn_benchmark(enabled: bool):
    """``torch.backends.cudnn.benchmark`` set to ``enabled`` inside, restored after: cuDNN
    then times its convolution algorithms for each new shape and keeps the fastest. A
    process-wide flag, so the engine holds it only while it trains."""
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, device: torch.device | str) -> float:
    """Accuracy in percent of ``model`` over ``loader``, in eval mode, without gradients."""
    was_training = model.training
    model.eval()
    hits = total = 0
    for inputs, labels in loader:
        inputs, labels = inputs.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        hits += correct(model(inputs), labels)
        total += labels.numel()
    model.train(was_training)
    return 100.0 * hits / total


StepFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def forward_loss(model: nn.Module, compile_mode: str = "off") -> LossFn:
    """``(inputs (B, 1, 28, 28), labels (B,)) -> mean NLL`` of ``model``, the part of a step
    that ``torch.compile`` fuses: with ``compile_mode`` ``default`` or ``reduce-overhead``
    the inductor compiles forward and loss, and through AOT autograd their backward, on the
    first call (so in the warm-up)."""

    def loss(inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.nll_loss(model(inputs), labels)

    if compile_mode == "off":
        return loss
    return torch.compile(loss, mode=compile_mode, fullgraph=True)


def eager_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: LossFn | None = None
) -> StepFn:
    """One optimiser step on a batch; returns the detached loss (no host sync). ``loss_fn``
    (default: :func:`forward_loss` of ``model``) computes the loss, compiled or not."""
    loss_fn = loss_fn if loss_fn is not None else forward_loss(model)

    def step(inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(inputs, labels)
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step


class CudaGraphs:
    """The CUDA calls a captured step needs, and nothing more: a side stream for the
    warm-up, and the capture of a step's body into a graph that replays it."""

    @contextlib.contextmanager
    def warmup_stream(self):
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            yield
        torch.cuda.current_stream().wait_stream(side)

    def capture(self, body: Callable[[], None]) -> Callable[[], None]:
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            body()
        return graph.replay


class RerunGraphs(CudaGraphs):
    """A stand-in for :class:`CudaGraphs` on any device: "capturing" records the body without
    running it, as a CUDA capture does, and a replay runs it again. With it CI runs every
    line of :class:`CudaGraphStep` on the CPU except the CUDA calls themselves."""

    @contextlib.contextmanager
    def warmup_stream(self):
        yield

    def capture(self, body: Callable[[], None]) -> Callable[[], None]:
        return body


class CudaGraphStep:
    """The whole train step (forward, NLL, backward, Adam) captured in one CUDA graph.

    Warm-up runs on a side stream, as CUDA graphs require; the weights and Adam's state are
    then reset to their values before warm-up, so training starts from the same point as
    eager. Needs a fixed batch shape: every batch must hold ``batch_size`` samples, and a
    capturable optimiser (:func:`make_optimizer` with ``capturable=True``). ``graphs`` does
    the CUDA calls (:class:`RerunGraphs` runs the same logic anywhere).
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        example: tuple,
        warmup: int = 3,
        graphs: CudaGraphs | None = None,
        loss_fn: LossFn | None = None,
    ):
        graphs = graphs if graphs is not None else CudaGraphs()
        loss_fn = loss_fn if loss_fn is not None else forward_loss(model)
        inputs, labels = example
        self.static_inputs = inputs.clone()
        self.static_labels = labels.clone()
        self.static_loss = torch.zeros((), device=inputs.device)
        initial = [p.detach().clone() for p in model.parameters()]

        def body() -> None:
            # set_to_none: backward then writes each gradient afresh (in the graph's own
            # memory when captured), so a replay never adds to the last step's gradient
            optimizer.zero_grad(set_to_none=True)
            self.static_loss = loss_fn(self.static_inputs, self.static_labels)
            self.static_loss.backward()
            optimizer.step()

        with graphs.warmup_stream():
            for _ in range(warmup):
                body()
        self.replay = graphs.capture(body)

        _undo_warmup(model, optimizer, initial)

    def __call__(self, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self.static_inputs.copy_(inputs, non_blocking=True)
        self.static_labels.copy_(labels, non_blocking=True)
        self.replay()
        return self.static_loss.detach().clone()


def _undo_warmup(model: nn.Module, optimizer: torch.optim.Optimizer, initial: list) -> None:
    """Weights back to ``initial`` and Adam's state (moments and step count) to zero: after a
    graph's warm-up, training starts from the same point as eager."""
    with torch.no_grad():
        for p, p0 in zip(model.parameters(), initial, strict=True):
            p.copy_(p0)
        for state in optimizer.state.values():
            for value in state.values():
                if torch.is_tensor(value):
                    value.zero_()


class GraphEpoch:
    """``steps_per_replay`` train steps captured in one CUDA graph: one replay, one launch from
    the host, takes them all (600 = a whole epoch of the recipe).

    The batches are read inside the graph from the tensor loader's data on the device: before
    each epoch the loader draws its shuffled order on the device (:meth:`TensorLoader.order`)
    into a static buffer, and the graph gathers its next ``steps_per_replay`` batches through
    a cursor that it advances itself, so no host work happens between replays. The steps are
    the ones eager training takes over the same order: same batches, same Adam (capturable),
    warm-up undone as in :class:`CudaGraphStep`.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        loader,
        steps_per_replay: int,
        *,
        warmup: int = 3,
        graphs: CudaGraphs | None = None,
        loss_fn: LossFn | None = None,
    ):
        graphs = graphs if graphs is not None else CudaGraphs()
        loss_fn = loss_fn if loss_fn is not None else forward_loss(model)
        self.loader = loader
        self.steps_per_replay = k = steps_per_replay
        b, device = loader.batch_size, loader.device
        self.replays = loader.num_samples // (k * b)
        self.order = torch.arange(loader.num_samples, device=device)  # (N,) this epoch's order
        self.cursor = torch.zeros((), dtype=torch.long, device=device)  # next position in order
        self.window = torch.arange(k * b, device=device)  # (K*B,) offsets from the cursor
        self.replay_loss = torch.zeros((), device=device)  # sum of the last replay's K losses
        initial = [p.detach().clone() for p in model.parameters()]

        def body(steps: int) -> None:
            idx = self.order.index_select(0, self.cursor + self.window[: steps * b])  # (S*B,)
            self.replay_loss.zero_()
            for i in range(steps):
                batch = idx[i * b : (i + 1) * b]  # (B,)
                optimizer.zero_grad(set_to_none=True)  # gradients written afresh, as above
                loss = loss_fn(
                    loader.inputs.index_select(0, batch), loader.labels.index_select(0, batch)
                )
                loss.backward()
                optimizer.step()
                self.replay_loss.add_(loss.detach())
            self.cursor.add_(steps * b)

        with graphs.warmup_stream():  # one step a round: every kernel and Adam's state is made
            for _ in range(warmup):
                body(1)
        self.replay = graphs.capture(lambda: body(k))
        _undo_warmup(model, optimizer, initial)
        self.cursor.zero_()

    def epoch(self) -> Iterator[tuple[torch.Tensor, int]]:
        """One epoch: yields ``(sum of the replay's losses, steps taken)`` after each replay.
        The loss tensor is the graph's own: add it up before the next replay (the stream
        keeps the order)."""
        self.order.copy_(self.loader.order())
        self.cursor.zero_()
        for _ in range(self.replays):
            self.replay()
            yield self.replay_loss, self.steps_per_replay


def cuda_graph_blocker(
    loader, device: torch.device, batch_size: int, graph_steps: int = 1, *, needs_cuda: bool = True
) -> str | None:
    """Why a CUDA graph cannot be used here, or None if it can. ``needs_cuda`` False: the
    graph is :class:`RerunGraphs`, which runs on any device."""
    if needs_cuda and device.type != "cuda":
        return f"--cuda-graph needs a CUDA device, but training runs on {device.type}"
    n = getattr(loader, "num_samples", None)
    if n is None or getattr(loader, "device", None) != device:
        return "--cuda-graph needs the tensor loader (data held on the GPU)"
    if n % batch_size:
        return f"--cuda-graph needs full batches, but {n} samples do not split into {batch_size}s"
    if (n // batch_size) % graph_steps:
        return f"--graph-steps {graph_steps} must divide the epoch's {n // batch_size} steps"
    return None


def adam_options(config: TrainConfig, *, capturable: bool = False) -> dict:
    """Adam's settings, the same on every device: the lecture's lr and the fused kernel (one
    launch for every parameter's update instead of several per parameter; on the CPU 10%
    faster per epoch, median 5.16 vs 5.71 s over 5 interleaved epochs). ``capturable``
    keeps the step count on the device, as a CUDA graph needs."""
    return {"lr": config.lr, "fused": True, "capturable": capturable}


def make_optimizer(
    model: nn.Module, config: TrainConfig, *, capturable: bool = False
) -> torch.optim.Adam:
    """Adam over ``model``'s parameters with :func:`adam_options`."""
    return torch.optim.Adam(model.parameters(), **adam_options(config, capturable=capturable))


def make_step(
    model: nn.Module,
    config: TrainConfig,
    device: torch.device,
    train_loader,
    *,
    graphs: CudaGraphs | None = None,
) -> tuple[StepFn | GraphEpoch, list[str]]:
    """The train step for ``config``: a CUDA graph when asked for and possible, else eager;
    its loss compiled when ``config.compile`` asks. ``graphs`` (default :class:`CudaGraphs`)
    makes the graph; :class:`RerunGraphs` runs the graph path on any device.

    Returns the step and the notes on any fallback (each also logged as a warning). A failed
    capture restores the weights, so the eager step starts where the graph would have."""
    notes: list[str] = []
    loss_fn = forward_loss(model, config.compile)

    def fall_back(reason: str) -> tuple[StepFn, list[str]]:
        msg = f"{reason}; falling back to eager training."
        log.warning(msg)
        notes.append(msg)
        return eager_step(model, make_optimizer(model, config), loss_fn), notes

    if not config.cuda_graph:
        return eager_step(model, make_optimizer(model, config), loss_fn), notes
    blocker = cuda_graph_blocker(
        train_loader, device, config.batch_size, config.graph_steps,
        needs_cuda=not isinstance(graphs, RerunGraphs),
    )  # fmt: skip
    if blocker:
        return fall_back(blocker)
    initial = [p.detach().clone() for p in model.parameters()]
    try:
        model.train()
        optimizer = make_optimizer(model, config, capturable=True)
        if config.graph_steps == 1:
            example = next(iter(train_loader))
            return CudaGraphStep(model, optimizer, example, graphs=graphs, loss_fn=loss_fn), notes
        graph = GraphEpoch(
            model, optimizer, train_loader, config.graph_steps, graphs=graphs, loss_fn=loss_fn
        )
        return graph, notes
    except Exception as exc:  # capture failed: the model does something graphs cannot hold
        with torch.no_grad():
            for p, p0 in zip(model.parameters(), initial, strict=True):
                p.copy_(p0)
        return fall_back(f"CUDA graph capture failed ({exc})")


def train_epoch(
    step: StepFn | GraphEpoch,
    loader: Iterable,
    device: torch.device,
    *,
    on_batch: Callable[[int], None] | None = None,
) -> tuple[float, float]:
    """Run ``step`` over one epoch; returns ``(mean loss, seconds)`` measured after a sync.
    A :class:`GraphEpoch` reads its own batches (``loader`` is the one it was made with)."""
    loss_sum = torch.zeros((), device=device)
    steps = 0
    synchronize(device)
    start = time.perf_counter()
    for loss, taken in epoch_chunks(step, loader, device):
        loss_sum += loss
        for i in range(steps + 1, steps + taken + 1):
            if on_batch is not None:
                on_batch(i)
        steps += taken
    synchronize(device)
    seconds = time.perf_counter() - start
    return loss_sum.item() / max(steps, 1), seconds


def epoch_chunks(
    step, loader: Iterable, device: torch.device
) -> Iterator[tuple[torch.Tensor, int]]:
    """``(sum of losses, steps)`` per launch from the host: per batch, or per graph replay."""
    if isinstance(step, GraphEpoch):
        yield from step.epoch()
        return
    for inputs, labels in loader:
        yield step(inputs.to(device, non_blocking=True), labels.to(device, non_blocking=True)), 1


def fit(
    model: nn.Module,
    train_loader,
    test_loader,
    config: TrainConfig,
    callbacks: Sequence[Callback] = (),
    device: torch.device | None = None,
    graphs: CudaGraphs | None = None,
) -> History:
    """Train ``model`` (which returns log-probabilities) with NLL and Adam, as in the lecture.

    ``device`` is the one the caller resolved for its loaders (resolved here when None);
    ``graphs`` makes the CUDA graph when ``config.cuda_graph`` (see :func:`make_step`)."""
    device = device if device is not None else resolve_device(config.device)
    place_model(model, device, config.channels_last)
    history = History(config=asdict(config), device=str(device))
    _notify(callbacks, "on_fit_start", model, history)
    with cudnn_benchmark(config.cudnn_benchmark):
        step, notes = make_step(model, config, device, train_loader, graphs=graphs)
        history.notes += notes

        steps = len(train_loader)
        for epoch in range(1, config.epochs + 1):
            _notify(callbacks, "on_epoch_start", epoch, config.epochs, steps)
            model.train()

            def on_batch(i: int, _epoch: int = epoch) -> None:
                _notify(callbacks, "on_batch_end", _epoch, i)

            loss, seconds = train_epoch(step, train_loader, device, on_batch=on_batch)
            acc = evaluate(model, test_loader, device)
            record = EpochRecord(epoch=epoch, train_loss=loss, test_accuracy=acc, seconds=seconds)
            history.records.append(record)
            log.info(
                "epoch %d/%d loss %.4f acc %.2f%% %.2fs", epoch, config.epochs, loss, acc, seconds
            )
            _notify(callbacks, "on_epoch_end", record, config.epochs)

    _notify(callbacks, "on_fit_end", model, history)
    return history


def _notify(callbacks: Sequence, hook: str, *args) -> None:
    for cb in callbacks:
        method = getattr(cb, hook, None)
        if method is not None:
            method(*args)
