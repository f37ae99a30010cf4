"""The training engine: the lecture's loop, evaluation, timing and the history it returns.

:func:`fit` is the lecture's training loop, written out. The engine knows nothing of any
particular model beyond "returns log-probabilities" and never prints: progress goes to
callbacks, notices to :mod:`logging`. :func:`train_step` is the lecture's step, written once:
``fit``, the speed levers of :mod:`lenet_course.levers` and ``bench`` all take it. The levers
build on this module, never the other way round: the caller that reads the config chooses
one and hands it to :func:`fit`.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lenet_course.config import TrainConfig
from lenet_course.device import cudnn_benchmark, place_model, resolve_device, synchronize
from lenet_course.files import atomic_write
from lenet_course.metrics import correct
from lenet_course.runtime import EpochRecord

log = logging.getLogger(__name__)

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``(inputs (B, 1, 28, 28), labels (B,)) -> mean NLL``: :func:`batch_loss` of one model."""

EpochFn = Callable[[Callable[[int], None]], tuple[torch.Tensor, int]]
"""One epoch of a lever: calls ``on_batch(step)`` after each step and returns ``(sum of the
epoch's losses, on the device; steps taken)``."""

Lever = Callable[..., tuple[EpochFn, list[str]]]
"""What :func:`fit` trains with instead of its plain loop: ``lever(model, config, device,
train_loader)`` sets up (a capture, a compile) and returns the epoch and notes on any
fallback. :func:`lenet_course.levers.lever_for` picks one from a config."""


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


def batch_loss(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Forward, then the lecture's loss: the mean NLL of ``model``'s log-probabilities
    (B, 10) for ``inputs`` (B, 1, 28, 28) against ``labels`` (B,)."""
    return F.nll_loss(model(inputs), labels)


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    loss_fn: LossFn | None = None,
) -> torch.Tensor:
    """The lecture's step on one batch: zero the gradients, forward and NLL, backward, an
    optimiser step. Returns the loss, detached and still on the device (no wait for a GPU).
    ``loss_fn(inputs, labels)`` stands in for :func:`batch_loss` where a lever compiles it."""
    # set_to_none: backward then writes each gradient afresh (in the graph's own memory when
    # a CUDA graph captures this step), so a replay never adds to the last step's gradient
    optimizer.zero_grad(set_to_none=True)
    loss = batch_loss(model, inputs, labels) if loss_fn is None else loss_fn(inputs, labels)
    loss.backward()
    optimizer.step()
    return loss.detach()


def fit(
    model: nn.Module,
    train_loader,
    test_loader,
    config: TrainConfig,
    callbacks: Sequence[Callback] = (),
    device: torch.device | None = None,
    lever: Lever | None = None,
) -> History:
    """Train ``model`` (which returns log-probabilities) with NLL and Adam, as in the lecture.

    Each epoch: train mode; a :func:`train_step` per batch; the mean loss; the test accuracy;
    the epoch's time. ``device`` is the one the caller resolved for its loaders (resolved
    here when None). ``lever`` (:func:`lenet_course.levers.lever_for`, chosen by the caller
    from ``config``) takes the epoch's steps instead, the same steps held where a GPU replays
    them; a config that asks for one (a CUDA graph, a compiled loss) must come with one."""
    if lever is None and config.asks_for_lever:
        raise ValueError(
            f"the config asks for a speed lever (cuda_graph={config.cuda_graph}, "
            f"compile={config.compile!r}) but fit was given none: pass "
            "lever=lenet_course.levers.lever_for(config)"
        )
    device = device if device is not None else resolve_device(config.device)
    place_model(model, device, config.channels_last)
    history = History(config=asdict(config), device=str(device))
    _notify(callbacks, "on_fit_start", model, history)
    with cudnn_benchmark(config.cudnn_benchmark):
        fast, notes = (None, []) if lever is None else lever(model, config, device, train_loader)
        history.notes += notes
        optimizer = make_optimizer(model, config) if fast is None else None
        for epoch in range(1, config.epochs + 1):
            _notify(callbacks, "on_epoch_start", epoch, config.epochs, len(train_loader))
            model.train()
            synchronize(device)
            start = time.perf_counter()
            if fast is not None:
                loss_sum, steps = fast(functools.partial(_notify, callbacks, "on_batch_end", epoch))
            else:
                loss_sum, steps = torch.zeros((), device=device), 0
                for inputs, labels in train_loader:
                    inputs = inputs.to(device, non_blocking=True)  # (B, 1, 28, 28)
                    labels = labels.to(device, non_blocking=True)  # (B,)
                    # on the device: no wait for the GPU per batch
                    loss_sum += train_step(model, optimizer, inputs, labels)
                    steps += 1
                    _notify(callbacks, "on_batch_end", epoch, steps)
            synchronize(device)
            seconds = time.perf_counter() - start
            loss = loss_sum.item() / max(steps, 1)
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
