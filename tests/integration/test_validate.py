"""`lenet-course validate`: the instructors' report."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU refusal")
def test_validate_without_a_gpu_fails_loudly_unless_allowed(tmp_path):
    run = subprocess.run([sys.executable, "-m", "lenet_course.cli", "validate", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 2
    assert "no CUDA GPU is visible" in run.stderr and "--allow-cpu" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.mnist
@pytest.mark.slow
@pytest.mark.validation
def test_validate_allow_cpu_writes_a_complete_report(mnist_root, tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "lenet_course.cli", "validate", "--allow-cpu", "--epochs", "1",
         "--data", str(mnist_root), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert (tmp_path / "validation.json").is_file(), (
        f"validate wrote no report (exit {run.returncode}):\n{run.stderr[-3000:]}"
    )
    report = json.loads((tmp_path / "validation.json").read_text())
    checks = {c["name"]: c["passed"] for c in report["checks"]}
    assert checks["solutions pass every graded test"], report["checks"]
    assert checks["exercises fail every test with NotImplementedError"], report["checks"]
    assert checks["benchmarks ran"], report["checks"]
    assert run.returncode == (0 if report["passed"] else 1)
    timings = {t["path"]: t for t in report["timings"]}
    assert set(timings) == {"tensor loader, eager", "tensor loader, CUDA graph",
                            "torchvision DataLoader (lecture)"}  # fmt: skip
    graph = timings.pop("tensor loader, CUDA graph")
    assert graph["seconds_per_epoch"] is None and "needs a CUDA device" in graph["skipped"]
    assert all(t["seconds_per_epoch"] > 0 for t in timings.values())
    md = (tmp_path / "validation.md").read_text()
    assert "| check | result | detail |" in md and report["environment"]["torch"] in md
