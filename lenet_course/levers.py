"""The speed levers: a compiled loss, CUDA graphs of one step or of K steps per replay.

Only a run that asks for them (``TrainConfig.cuda_graph``, ``TrainConfig.compile``) uses this
module: the caller that reads the config hands :func:`lever_for`'s choice to
:func:`lenet_course.engine.fit`, which trains with the lecture's plain loop otherwise. Every
step here is :func:`lenet_course.engine.train_step`, held where a GPU replays it without the
host. This module builds on the engine; the engine never imports it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterable, Iterator

import torch
from torch import nn

from lenet_course.config import TrainConfig
from lenet_course.device import synchronize
from lenet_course.engine import EpochFn, Lever, LossFn, batch_loss, make_optimizer, train_step

log = logging.getLogger(__name__)

OptimizerFactory = Callable[..., torch.optim.Optimizer]  # (capturable=False) -> Adam


StepFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def compiled_loss(model: nn.Module, compile_mode: str = "off") -> LossFn | None:
    """:func:`~lenet_course.engine.batch_loss` of ``model`` compiled, the part of a step that
    ``torch.compile`` fuses: with ``compile_mode`` ``default`` or ``reduce-overhead`` the
    inductor compiles forward and loss, and through AOT autograd their backward, on the first
    call (so in the warm-up). None for ``off``: the step's own, eager."""
    if compile_mode == "off":
        return None

    def loss(inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return batch_loss(model, inputs, labels)

    return torch.compile(loss, mode=compile_mode, fullgraph=True)


def eager_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: LossFn | None = None
) -> StepFn:
    """:func:`~lenet_course.engine.train_step` on a batch ``(inputs, labels)``; returns the
    detached loss (no host sync). ``loss_fn`` (:func:`compiled_loss`) compiles its loss."""
    return functools.partial(train_step, model, optimizer, loss_fn=loss_fn)


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
    capturable optimiser (``capturable=True``). ``graphs`` does
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
        inputs, labels = example
        self.static_inputs = inputs.clone()
        self.static_labels = labels.clone()
        self.static_loss = torch.zeros((), device=inputs.device)
        initial = [p.detach().clone() for p in model.parameters()]

        def body() -> None:
            # the loss captured last is the one each replay writes
            self.static_loss = train_step(
                model, optimizer, self.static_inputs, self.static_labels, loss_fn
            )

        with graphs.warmup_stream():
            for _ in range(warmup):
                body()
        self.replay = graphs.capture(body)

        _undo_warmup(model, optimizer, initial)

    def __call__(self, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self.static_inputs.copy_(inputs, non_blocking=True)
        self.static_labels.copy_(labels, non_blocking=True)
        self.replay()
        return self.static_loss.clone()


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
                inputs = loader.inputs.index_select(0, batch)  # (B, 1, 28, 28)
                labels = loader.labels.index_select(0, batch)  # (B,)
                self.replay_loss.add_(train_step(model, optimizer, inputs, labels, loss_fn))
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


def make_step(
    model: nn.Module,
    config: TrainConfig,
    device: torch.device,
    train_loader,
    new_optimizer: OptimizerFactory,
    *,
    graphs: CudaGraphs | None = None,
) -> tuple[StepFn | GraphEpoch, list[str]]:
    """The train step for ``config``: a CUDA graph when asked for and possible, else eager;
    its loss compiled when ``config.compile`` asks. ``new_optimizer(capturable=...)`` makes
    the Adam it steps (:func:`lenet_course.engine.make_optimizer`). ``graphs`` (default
    :class:`CudaGraphs`) makes the graph; :class:`RerunGraphs` runs the graph path on any
    device.

    Returns the step and the notes on any fallback (each also logged as a warning). A failed
    capture restores the weights, so the eager step starts where the graph would have."""
    notes: list[str] = []
    loss_fn = compiled_loss(model, config.compile)

    def fall_back(reason: str) -> tuple[StepFn, list[str]]:
        msg = f"{reason}; falling back to eager training."
        log.warning(msg)
        notes.append(msg)
        return eager_step(model, new_optimizer(), loss_fn), notes

    if not config.cuda_graph:
        return eager_step(model, new_optimizer(), loss_fn), notes
    blocker = cuda_graph_blocker(
        train_loader,
        device,
        config.batch_size,
        config.graph_steps,
        needs_cuda=not isinstance(graphs, RerunGraphs),
    )
    if blocker:
        return fall_back(blocker)
    initial = [p.detach().clone() for p in model.parameters()]
    try:
        model.train()
        optimizer = new_optimizer(capturable=True)
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


def run_epoch(
    step: StepFn | GraphEpoch,
    loader: Iterable,
    device: torch.device,
    on_batch: Callable[[int], None],
) -> tuple[torch.Tensor, int]:
    """One epoch of ``step``: ``on_batch(i)`` after step i; returns ``(sum of the epoch's
    losses, on the device; steps)``. A :class:`GraphEpoch` reads its own batches (``loader``
    is the one it was made with)."""
    loss_sum, steps = torch.zeros((), device=device), 0
    for loss, taken in epoch_chunks(step, loader, device):
        loss_sum += loss
        for i in range(steps + 1, steps + taken + 1):
            on_batch(i)
        steps += taken
    return loss_sum, steps


def train_epoch(
    step: StepFn | GraphEpoch,
    loader: Iterable,
    device: torch.device,
    *,
    on_batch: Callable[[int], None] | None = None,
) -> tuple[float, float]:
    """:func:`run_epoch`, timed: returns ``(mean loss, seconds)`` measured after a sync."""
    synchronize(device)
    start = time.perf_counter()
    loss_sum, steps = run_epoch(step, loader, device, on_batch or (lambda i: None))
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


def fast_epochs(
    model: nn.Module,
    config: TrainConfig,
    device: torch.device,
    train_loader,
    *,
    graphs: CudaGraphs | None = None,
) -> tuple[EpochFn, list[str]]:
    """The lever :func:`lenet_course.engine.fit` trains with when the config asks for one:
    the step of :func:`make_step` (with :func:`lenet_course.engine.make_optimizer`'s Adam) as
    an epoch ``(on_batch) -> (sum of the epoch's losses, steps)``, and the notes on any
    fallback."""
    new_optimizer = functools.partial(make_optimizer, model, config)
    step, notes = make_step(model, config, device, train_loader, new_optimizer, graphs=graphs)
    return functools.partial(run_epoch, step, train_loader, device), notes


def lever_for(config: TrainConfig, *, graphs: CudaGraphs | None = None) -> Lever | None:
    """The lever for :func:`lenet_course.engine.fit` that ``config`` asks for: None (the
    lecture's plain loop) unless it asks for a CUDA graph or a compiled loss, else
    :func:`fast_epochs`; ``graphs`` (:class:`RerunGraphs` on any device) makes the graph."""
    if not config.asks_for_lever:
        return None
    return functools.partial(fast_epochs, graphs=graphs)
