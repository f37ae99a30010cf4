"""The lecture end to end: data, model, training, history.json and the four plots."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from lenet_course import data as mnist
from lenet_course import plots
from lenet_course.config import TrainConfig
from lenet_course.device import resolve_device
from lenet_course.engine import Callback, History, fit
from lenet_course.levers import lever_for
from lenet_course.model import LeNet
from lenet_course.runtime import EpochRecord

KERNEL_LAYERS = ("conv1", "conv2")


def snapshot_kernels(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Detached CPU copies of ``conv1`` (6,1,5,5) and ``conv2`` (16,6,5,5) weights."""
    return {name: getattr(model, name).weight.detach().cpu().clone() for name in KERNEL_LAYERS}


class KernelSnapshots(Callback):
    """The lecture's kernel pictures: conv1 and conv2 weights before and after training,
    kept in ``history.snapshots["before"]`` and ``["after"]``."""

    def on_fit_start(self, model: torch.nn.Module, history: History) -> None:
        history.snapshots["before"] = snapshot_kernels(model)

    def on_fit_end(self, model: torch.nn.Module, history: History) -> None:
        history.snapshots["after"] = snapshot_kernels(model)


@dataclass
class LectureResult:
    history: History
    files: list[Path]


class _SaveAsYouGo(Callback):
    """Rewrites history.json after every epoch, so an interrupted run keeps what it finished."""

    def __init__(self, path: Path, config: TrainConfig, device: str) -> None:
        self.path = path
        self.partial = History(
            config=asdict(config), device=device, notes=["partial: run did not finish"]
        )

    def on_epoch_end(self, record: EpochRecord, epochs: int) -> None:
        self.partial.records.append(record)
        self.partial.save(self.path)


def run_lecture(
    config: TrainConfig,
    *,
    data: str | Path | None = None,
    out: Path,
    impl: str | None = None,
    download: bool = True,
    callbacks: Sequence[Callback] = (),
) -> LectureResult:
    """Train as in the lecture and write ``history.json`` plus the plots into ``out``.

    ``impl`` (``exercises``, ``solutions`` or a folder) trains with that implementation's
    model, train loop and kernel snapshots instead of the kit's reference. The kit's reference
    trains with the speed lever ``config`` asks for (:func:`lenet_course.levers.lever_for`).
    """
    root = mnist.prepare(data, download=download)
    device = resolve_device(config.device)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    saver = _SaveAsYouGo(out / "history.json", config, str(device))
    train_loader, test_loader = mnist.make_loaders(root, config, device)
    torch.manual_seed(config.seed)
    if impl is None:
        history = fit(
            LeNet(),
            train_loader,
            test_loader,
            config,
            [KernelSnapshots(), *callbacks, saver],
            device=device,
            lever=lever_for(config),  # None: the lecture's plain loop
        )
    else:
        from lenet_course.targets import train_with_target

        history = train_with_target(
            impl, train_loader, test_loader, config, device, [*callbacks, saver]
        )
    history.save(out / "history.json")
    files = [out / "history.json", *plots.save_all(history, out)]
    return LectureResult(history=history, files=files)
