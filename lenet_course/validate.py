"""Instructors' validation: solutions pass, stubs fail, accuracy and per-epoch timings per path.

Writes ``validation.json`` and ``validation.md``. Every check is recorded with pass/fail; the
caller decides the exit code from :attr:`Validation.passed`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from lenet_course import data
from lenet_course.errors import UserError
from lenet_course.files import atomic_write

# Targets from the figures measured on an H100 (see docs/benchmarks.md).
GPU_TARGETS = {"eager_seconds": 1.5, "graph_seconds": 0.3, "accuracy": 98.5}


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


@dataclass
class PathTiming:
    path: str
    seconds_per_epoch: float
    accuracy: float | None = None  # after the epochs trained, if trained
    epochs: int = 1
    note: str = ""


@dataclass
class Validation:
    environment: dict
    checks: list[Check] = field(default_factory=list)
    timings: list[PathTiming] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "environment": self.environment,
            "checks": [asdict(c) for c in self.checks],
            "timings": [asdict(t) for t in self.timings],
        }

    def to_markdown(self) -> str:
        env = self.environment
        lines = [
            "# lenet-course validation",
            "",
            f"- date: {env['date']}",
            f"- device: {env['device']}",
            f"- driver: {env['driver']}; CUDA (torch build): {env['cuda']}; torch {env['torch']}; "
            f"torchvision {env['torchvision']}; Python {env['python']}",
            f"- result: **{'PASS' if self.passed else 'FAIL'}**",
            "",
            "| path | s per epoch | epochs | test accuracy | note |",
            "| --- | --- | --- | --- | --- |",
        ]
        for t in self.timings:
            acc = f"{t.accuracy:.2f}%" if t.accuracy is not None else "-"
            lines.append(
                f"| {t.path} | {t.seconds_per_epoch:.3f} | {t.epochs} | {acc} | {t.note} |"
            )
        lines += ["", "| check | result | detail |", "| --- | --- | --- |"]
        for c in self.checks:
            lines.append(f"| {c.name} | {'pass' if c.passed else 'FAIL'} | {c.detail} |")
        return "\n".join(lines) + "\n"


def environment() -> dict:
    import torchvision

    cuda = torch.cuda.is_available()
    driver = "-"
    if cuda and shutil.which("nvidia-smi"):
        q = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True,
        )  # fmt: skip
        driver = q.stdout.strip().splitlines()[0] if q.returncode == 0 and q.stdout else "-"
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "device": torch.cuda.get_device_name(0)
        if cuda
        else f"CPU ({platform.processor() or platform.machine()})",
        "cuda": torch.version.cuda or "-",
        "driver": driver,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "python": platform.python_version(),
    }


def validate(
    out: Path,
    *,
    allow_cpu: bool = False,
    data_root=None,
    config=None,
    download: bool = False,
    on_step: Callable[[str], None] = lambda msg: None,
) -> Validation:
    """Run every check and write ``out/validation.json`` and ``out/validation.md``.

    ``config`` (a :class:`~lenet_course.engine.TrainConfig`, default the lecture's) gives
    the epochs, batch size, learning rate and seed of the timed trainings; the device is
    the GPU (or the CPU with ``allow_cpu``)."""
    from lenet_course.bench import time_epoch
    from lenet_course.engine import TrainConfig, fit
    from lenet_course.grading.runner import Limits, grade
    from lenet_course.model import LeNet
    from lenet_course.targets import kit_root

    config = config or TrainConfig()
    epochs = config.epochs
    gpu = torch.cuda.is_available()
    if not gpu and not allow_cpu:
        raise UserError(
            "no CUDA GPU is visible, so the GPU validation cannot run. Fix: run on a GPU "
            "machine (docker run --gpus all ...), or pass --allow-cpu for a CPU-only report."
        )
    root = data.prepare(data_root, download=download)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = Validation(environment=environment())
    limits = Limits(memory_mb=0 if gpu else Limits().memory_mb)

    on_step("grading the reference solutions (10-epoch training included)")
    report = grade(kit_root() / "solutions", limits, data_root=root)
    failed = [t.title for t in report.tests if t.status != "passed"]
    result.checks.append(Check("solutions pass every graded test", report.score == report.max_score,
                               f"{report.score}/{report.max_score} in {report.execution_time:.0f} s"
                               + (f"; failed: {failed}" if failed else "")))  # fmt: skip
    mnist = [t for t in report.tests if "MNIST" in t.title]
    if mnist:
        result.checks.append(Check("10-epoch accuracy above 95% (grader's evaluation)",
                                   mnist[0].status == "passed", mnist[0].message))  # fmt: skip

    on_step("checking that the stubs fail")
    stubs = grade(kit_root() / "exercises", limits, full=False)
    not_impl = all("NotImplementedError" in t.message for t in stubs.tests if t.status == "failed")
    result.checks.append(Check("exercises fail every test with NotImplementedError",
                               stubs.score == 0 and not_impl, f"{stubs.score}/{stubs.max_score}"))  # fmt: skip

    device = "cuda" if gpu else "cpu"
    paths = [("tensor loader, eager", dict(loader="tensor"))]
    if gpu:
        paths.append(("tensor loader, CUDA graph", dict(loader="tensor", cuda_graph=True)))
    for label, kw in paths:
        on_step(f"training {epochs} epochs: {label}")
        cfg = dataclasses.replace(config, device=device, cuda_graph=False, **kw)
        torch.manual_seed(cfg.seed)
        train, test = data.make_loaders(root, cfg, device)
        history = fit(LeNet(), train, test, cfg, device=torch.device(device))
        per_epoch = sorted(r.seconds for r in history.records[1:] or history.records)
        median = per_epoch[len(per_epoch) // 2]
        result.timings.append(PathTiming(label, median, history.final_accuracy, epochs,
                                         "; ".join(["median epoch after the first", *history.notes])))  # fmt: skip
    on_step("timing one epoch: torchvision DataLoader")
    tv = time_epoch(
        root,
        dataclasses.replace(
            config, epochs=1, device=device, loader="torchvision", cuda_graph=False
        ),
    )
    result.timings.append(
        PathTiming("torchvision DataLoader (lecture)", tv, None, 1, "after warm-up")
    )

    if gpu:
        eager, graph = result.timings[0], result.timings[1]
        result.checks += [
            Check(f"eager fast path <= {GPU_TARGETS['eager_seconds']} s per epoch",
                  eager.seconds_per_epoch <= GPU_TARGETS["eager_seconds"],
                  f"{eager.seconds_per_epoch:.3f} s"),
            Check(f"CUDA-graph path <= {GPU_TARGETS['graph_seconds']} s per epoch",
                  graph.seconds_per_epoch <= GPU_TARGETS["graph_seconds"],
                  f"{graph.seconds_per_epoch:.3f} s"),
            Check(f"both paths >= {GPU_TARGETS['accuracy']}% after 10 epochs",
                  min(eager.accuracy, graph.accuracy) >= GPU_TARGETS["accuracy"] or epochs < 10,
                  f"eager {eager.accuracy:.2f}%, graph {graph.accuracy:.2f}%"),
        ]  # fmt: skip

    on_step("running the pytest-benchmark suite")
    bench_json = out / "benchmarks.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(kit_root() / "tests" / "bench"), "-q", "--target", "solutions",
         "-p", "no:cacheprovider", f"--benchmark-json={bench_json}", "-rs"],
        capture_output=True, text=True, cwd=kit_root(),
        env={**os.environ, "LENET_DATA": str(root)},
    )  # fmt: skip
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-200:]
    result.checks.append(Check("benchmarks ran", proc.returncode == 0, summary))

    atomic_write(out / "validation.json", json.dumps(result.to_dict(), indent=1))
    atomic_write(out / "validation.md", result.to_markdown())
    return result
