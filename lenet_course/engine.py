"""The training engine: the lecture's loop, evaluation, timing and the history it returns.

:func:`fit` is the lecture's training loop, written out. The engine knows nothing of any
particular model beyond "returns log-probabilities" and never prints: progress goes to
callbacks, notices to :mod:`logging`. The GPU speed levers live in :mod:`lenet_course.levers`.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Iterable, Sequence
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


def fit(
    model: nn.Module,
    train_loader,
    test_loader,
    config: TrainConfig,
    callbacks: Sequence[Callback] = (),
    device: torch.device | None = None,
    graphs=None,
) -> History:
    """Train ``model`` (which returns log-probabilities) with NLL and Adam, as in the lecture.

    Each epoch: train mode; for each batch, zero the gradients, forward, NLL, backward, an
    Adam step; the mean loss; the test accuracy; the epoch's time. ``device`` is the one
    the caller resolved for its loaders (resolved here when None). When ``config`` asks for
    a CUDA graph or a compiled loss, the epoch's steps come from
    :func:`lenet_course.levers.fast_epochs` instead (``graphs`` makes the CUDA graph)."""
    device = device if device is not None else resolve_device(config.device)
    place_model(model, device, config.channels_last)
    history = History(config=asdict(config), device=str(device))
    _notify(callbacks, "on_fit_start", model, history)
    with cudnn_benchmark(config.cudnn_benchmark):
        fast = _levers(model, config, device, train_loader, graphs, history)
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
                    inputs = inputs.to(device, non_blocking=True)
                    labels = labels.to(device, non_blocking=True)
                    optimizer.zero_grad(set_to_none=True)
                    loss = F.nll_loss(model(inputs), labels)
                    loss.backward()
                    optimizer.step()
                    loss_sum += loss.detach()  # on the device: no wait for the GPU per batch
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


def _levers(model, config: TrainConfig, device, train_loader, graphs, history: History):
    """The epoch runner of :mod:`lenet_course.levers` when ``config`` asks for a speed lever
    (its notes go to ``history``), else None: the plain loop."""
    if not (config.cuda_graph or config.compile != "off"):
        return None
    from lenet_course.levers import fast_epochs

    new_optimizer = functools.partial(make_optimizer, model, config)
    fast, notes = fast_epochs(model, config, device, train_loader, new_optimizer, graphs=graphs)
    history.notes += notes
    return fast


def _notify(callbacks: Sequence, hook: str, *args) -> None:
    for cb in callbacks:
        method = getattr(cb, hook, None)
        if method is not None:
            method(*args)
