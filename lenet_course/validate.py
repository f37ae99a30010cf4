"""Instructors' validation: solutions pass, stubs fail, accuracy and per-epoch timings per path.

Writes ``validation.json`` and ``validation.md``. Every check is recorded with pass/fail; the
caller decides the exit code from :attr:`Validation.passed`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from lenet_course import data
from lenet_course.bench import GPU_TARGETS, environment, time_epoch
from lenet_course.config import CUDA_GRAPH_LEVERS
from lenet_course.errors import UserError
from lenet_course.files import atomic_write

# The timed training paths, listed the same way on every device; a path this machine
# cannot run is kept in the report with the reason it was skipped. The graph path takes the
# levers `train --cuda-graph` takes (config.CUDA_GRAPH_LEVERS).
TIMED_PATHS = (
    ("tensor loader, eager", {"loader": "tensor", "cuda_graph": False}),
    ("tensor loader, CUDA graph", {"loader": "tensor", "cuda_graph": True, **CUDA_GRAPH_LEVERS}),
)


@dataclass
class Check:
    name: str
    passed: bool | None  # None: not judged on this machine (``detail`` says why)
    detail: str


@dataclass
class PathTiming:
    path: str
    seconds_per_epoch: float | None  # None when skipped
    accuracy: float | None = None  # after the epochs trained, if trained
    epochs: int = 1
    note: str = ""
    skipped: str = ""  # why this path was not timed on this machine


@dataclass
class Validation:
    environment: dict
    checks: list[Check] = field(default_factory=list)
    timings: list[PathTiming] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """No check failed (checks not judged on this machine are listed, not passed)."""
        return all(c.passed is not False for c in self.checks)

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
            secs = "skipped" if t.skipped else f"{t.seconds_per_epoch:.3f}"
            lines.append(f"| {t.path} | {secs} | {t.epochs} | {acc} | {t.skipped or t.note} |")
        lines += ["", "| check | result | detail |", "| --- | --- | --- |"]
        for c in self.checks:
            lines.append(f"| {c.name} | {verdict(c)} | {c.detail} |")
        return "\n".join(lines) + "\n"


def verdict(check: Check) -> str:
    return {True: "pass", False: "FAIL", None: "not judged here"}[check.passed]


def time_paths(
    root: Path,
    config,
    device: torch.device,
    *,
    model_factory=None,
    on_step: Callable[[str], None] = lambda msg: None,
) -> list[PathTiming]:
    """Train ``config.epochs`` epochs on each of :data:`TIMED_PATHS`; the median epoch after
    the first, and the test accuracy. A path ``device`` cannot run is listed as skipped."""
    from lenet_course.engine import fit
    from lenet_course.levers import cuda_graph_blocker, lever_for
    from lenet_course.model import LeNet

    model_factory = model_factory or LeNet
    timings = []
    for label, kw in TIMED_PATHS:
        cfg = dataclasses.replace(config, device=str(device), **kw)
        torch.manual_seed(cfg.seed)
        train, test = data.make_loaders(root, cfg, device)
        blocker = (
            cuda_graph_blocker(train, device, cfg.batch_size, cfg.graph_steps)
            if cfg.cuda_graph
            else None
        )
        if blocker:
            on_step(f"skipping {label}: {blocker}")
            timings.append(PathTiming(label, None, epochs=0, skipped=blocker))
            continue
        on_step(f"training {cfg.epochs} epochs: {label}")
        history = fit(model_factory(), train, test, cfg, device=device, lever=lever_for(cfg))
        per_epoch = sorted(r.seconds for r in history.records[1:] or history.records)
        note = "; ".join(["median epoch after the first", *history.notes])
        timings.append(
            PathTiming(
                label, per_epoch[len(per_epoch) // 2], history.final_accuracy, cfg.epochs, note
            )
        )
    return timings


def target_checks(timings: list[PathTiming], device_type: str, epochs: int) -> list[Check]:
    """The GPU targets, judged from plain timings: speed on a CUDA device only, the recipe's
    accuracy after 10 epochs on any device."""
    by_path = {t.path: t for t in timings}
    eager, graph = (by_path[label] for label, _ in TIMED_PATHS)
    elsewhere = f"the speed targets are for a CUDA GPU; this ran on the {device_type}"

    def speed(name: str, timing: PathTiming, target: float) -> Check:
        name = f"{name} <= {target} s per epoch"
        if device_type != "cuda":
            return Check(name, None, elsewhere)
        if timing.skipped:
            return Check(name, False, f"not timed: {timing.skipped}")
        return Check(name, timing.seconds_per_epoch <= target, f"{timing.seconds_per_epoch:.3f} s")

    goal = GPU_TARGETS["accuracy"]
    trained = [t for t in (eager, graph) if not t.skipped]
    name = f"every trained path >= {goal}% after 10 epochs"
    if epochs < 10:
        accuracy = Check(name, None, f"only {epochs} epochs trained")
    else:
        accuracy = Check(
            name,
            all(t.accuracy >= goal for t in trained),
            ", ".join(f"{t.path} {t.accuracy:.2f}%" for t in trained),
        )
    return [
        speed("eager fast path", eager, GPU_TARGETS["eager_seconds"]),
        speed("CUDA-graph path", graph, GPU_TARGETS["graph_seconds"]),
        accuracy,
    ]


def validate(
    out: Path,
    *,
    allow_cpu: bool = False,
    data_root=None,
    config=None,
    download: bool = False,
    bench_suite: bool = True,
    on_step: Callable[[str], None] = lambda msg: None,
) -> Validation:
    """Run every check and write ``out/validation.json`` and ``out/validation.md``.

    ``config`` (a :class:`~lenet_course.config.TrainConfig`, default the lecture's) gives
    the epochs, batch size, learning rate and seed of the timed trainings; the device is
    the GPU (or the CPU with ``allow_cpu``). ``bench_suite`` False leaves out the
    pytest-benchmark suite (``scripts/gpu_validate.sh`` times the same paths in the lever
    matrix, and needs the minute it takes)."""
    from lenet_course.config import TrainConfig

    config = config or TrainConfig()
    gpu = torch.cuda.is_available()
    if not gpu and not allow_cpu:
        raise UserError(
            "no CUDA GPU is visible, so the GPU validation cannot run. Fix: run on a GPU "
            "machine (docker run --gpus all ...), or pass --allow-cpu for a CPU-only report."
        )
    device = torch.device("cuda" if gpu else "cpu")
    root = data.prepare(data_root, download=download)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = Validation(environment=environment())

    result.checks += grading_checks(root, on_step)
    result.timings += time_paths(root, config, device, on_step=on_step)
    on_step("timing one epoch: torchvision DataLoader")
    lecture = dataclasses.replace(
        config, epochs=1, device=str(device), loader="torchvision", cuda_graph=False
    )
    tv = PathTiming(
        "torchvision DataLoader (lecture)", time_epoch(root, lecture), None, 1, "after warm-up"
    )
    result.timings.append(tv)
    result.checks += target_checks(result.timings, device.type, config.epochs)

    if bench_suite:
        result.checks.append(run_bench_suite(out, root, on_step))
    else:
        result.checks.append(Check("benchmarks ran", None, "left out (--no-bench-suite)"))

    atomic_write(out / "validation.json", json.dumps(result.to_dict(), indent=1))
    atomic_write(out / "validation.md", result.to_markdown())
    return result


def grading_checks(root: Path, on_step: Callable[[str], None]) -> list[Check]:
    """The solutions earn every point (the 10-epoch accuracy, by the grader's own evaluation,
    among them) and the stubs none, each failing with NotImplementedError."""
    from lenet_course.grading.judge.runner import grade
    from lenet_course.kit import THRESHOLDS, kit_root

    on_step("grading the reference solutions (10-epoch training included)")
    report = grade(kit_root() / "solutions", data_root=root)
    checks = [solutions_check(report)]
    mnist = [t for t in report.tests if "MNIST" in t.title]
    if mnist:
        passed = mnist[0].status == "passed"
        checks.append(
            Check(
                f"{THRESHOLDS['EPOCHS']}-epoch accuracy above {THRESHOLDS['PASS_ACCURACY']:g}% "
                "(grader's evaluation)",
                passed,
                mnist[0].message,
            )
        )
    on_step("checking that the stubs fail")
    stubs = grade(kit_root() / "exercises", full=False)
    not_impl = all("NotImplementedError" in t.message for t in stubs.tests if t.status == "failed")
    checks.append(
        Check(
            "exercises fail every test with NotImplementedError",
            stubs.score == 0 and not_impl,
            f"{stubs.score}/{stubs.max_score}",
        )
    )
    return checks


def run_bench_suite(out: Path, root: Path, on_step: Callable[[str], None]) -> Check:
    """The pytest-benchmark suite against the solutions, its JSON in ``out``."""
    from lenet_course.kit import kit_root

    on_step("running the pytest-benchmark suite")
    bench_json = out / "benchmarks.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(kit_root() / "tests" / "bench"),
            "-q",
            "--target",
            "solutions",
            "-p",
            "no:cacheprovider",
            f"--benchmark-json={bench_json}",
            "-rs",
        ],
        capture_output=True,
        text=True,
        cwd=kit_root(),
        env={**os.environ, "LENET_DATA": str(root)},
    )
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-200:]
    return Check("benchmarks ran", proc.returncode == 0, summary)


def solutions_check(report) -> Check:
    """The reference solutions must score full marks; a grader error is named as the
    grader's, with its first line, not as a failed test."""
    name = "solutions pass every graded test"
    detail = f"{report.score}/{report.max_score} in {report.execution_time:.0f} s"
    if report.isolation:
        detail += f", isolation {report.isolation}"
    errors = [t for t in report.tests if t.status == "error"]
    failed = [t.title for t in report.tests if t.status == "failed"]
    if errors:
        first = errors[0].message.splitlines()[0] if errors[0].message else ""
        detail += f"; GRADER ERROR in {len(errors)} tests ({first})"
    if failed:
        detail += f"; failed: {failed}"
    return Check(name, report.score == report.max_score and not errors, detail)
