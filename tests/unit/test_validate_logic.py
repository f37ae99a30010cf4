"""`validate`'s logic on plain data: the timed paths, the GPU targets and the solutions'
verdict are built and judged the same way on every device, so CI runs every line of it."""

from __future__ import annotations

import pytest
import torch

from lenet_course import bench, data, validate
from lenet_course.config import TrainConfig
from lenet_course.grading.judge.runner import GradeReport, TestResult
from lenet_course.validate import PathTiming, target_checks, time_paths


@pytest.fixture
def small_loaders(monkeypatch):
    """make_loaders over 600 synthetic digits, so each timed path trains 6 steps an epoch."""

    def make_loaders(root, config, device):
        x, y = data.synthetic_digits(600)
        train = data.TensorLoader(x, y, batch_size=config.batch_size, device=device)
        test = data.TensorLoader(x[:200], y[:200], batch_size=100, shuffle=False, device=device)
        return train, test

    monkeypatch.setattr(data, "make_loaders", make_loaders)


def test_every_timed_path_is_listed_and_the_graph_path_says_why_the_cpu_skips_it(small_loaders):
    timings = time_paths(None, TrainConfig(epochs=2), torch.device("cpu"))
    by_path = {t.path: t for t in timings}
    assert list(by_path) == [label for label, _ in validate.TIMED_PATHS]
    eager, graph = by_path["tensor loader, eager"], by_path["tensor loader, CUDA graph"]
    assert not eager.skipped and eager.seconds_per_epoch > 0 and eager.epochs == 2
    assert 0 <= eager.accuracy <= 100
    assert graph.seconds_per_epoch is None and "needs a CUDA device" in graph.skipped
    md = validate.Validation(environment=_env(), timings=timings).to_markdown()
    assert "| tensor loader, CUDA graph | skipped | 0 | - | --cuda-graph needs a CUDA" in md


def _env() -> dict:
    keys = ("date", "device", "driver", "cuda", "torch", "torchvision", "python")
    return dict.fromkeys(keys, "-")


def _timings(eager=0.9, graph=0.05, acc=(98.7, 98.6), graph_skipped=""):
    return [
        PathTiming("tensor loader, eager", eager, acc[0], 10),
        PathTiming("tensor loader, CUDA graph", None if graph_skipped else graph, acc[1], 10,
                   skipped=graph_skipped),
    ]  # fmt: skip


def test_gpu_targets_are_judged_from_the_timings_on_a_cuda_device():
    checks = {
        c.name.split(" <=")[0].split(" >=")[0]: c for c in target_checks(_timings(), "cuda", 10)
    }
    assert [c.passed for c in checks.values()] == [True, True, True]
    slow = target_checks(_timings(eager=1.2, graph=0.2, acc=(98.7, 98.4)), "cuda", 10)
    assert [c.passed for c in slow] == [False, False, False]
    assert "0.200 s" in slow[1].detail and "98.40%" in slow[2].detail
    skipped = target_checks(_timings(graph_skipped="capture failed"), "cuda", 10)
    assert skipped[1].passed is False and "not timed: capture failed" in skipped[1].detail


def test_on_the_cpu_speed_targets_are_not_judged_but_accuracy_is():
    checks = target_checks(_timings(graph_skipped="needs a CUDA device"), "cpu", 10)
    assert [c.passed for c in checks] == [None, None, True]
    assert "for a CUDA GPU" in checks[0].detail
    short = target_checks(_timings(graph_skipped="needs a CUDA device"), "cpu", 1)
    assert short[2].passed is None and "only 1 epochs" in short[2].detail
    report = validate.Validation(environment=_env(), checks=checks)
    assert report.passed and "not judged here" in report.to_markdown()
    report.checks.append(validate.Check("x", False, ""))
    assert not report.passed


def test_a_grader_error_in_the_solutions_grade_is_named_as_the_graders():
    tests = [
        TestResult("a", "ex1_lenet", "A", 5, score=5, status="passed"),
        TestResult("b", "ex3_train", "B", 5, status="error",
                   message="KeyError: 'getpwuid(): uid not found: 806271'\nTraceback ..."),
    ]  # fmt: skip
    check = validate.solutions_check(GradeReport("solutions", tests))
    assert check.passed is False
    assert "GRADER ERROR in 1 tests (KeyError: 'getpwuid(): uid not found: 806271')" in check.detail
    assert "failed:" not in check.detail


def test_the_driver_version_is_read_from_nvidia_smi_wherever_it_is(tmp_path, monkeypatch):
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\nprintf '580.159\\n580.159\\n'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert bench.nvidia_driver() == "580.159"
    fake.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    assert bench.nvidia_driver() == "-"
    monkeypatch.setenv("PATH", str(tmp_path / "none"))
    assert bench.nvidia_driver() == "-"


@pytest.mark.parametrize("levers", [{"channels_last": False}, {"channels_last": True}])
def test_a_timed_epoch_is_fits_epoch_in_the_configs_layout_and_cudnn_setting(
    small_loaders, monkeypatch, levers
):
    """time_epoch (validate's timed paths, bench) times fit itself: a warm-up fit, then one
    whole epoch whose seconds are the ones fit records, trained in the config's memory layout
    with cudnn.benchmark held as asked, and restored after."""
    seen, fits = [], []
    real_fit = bench.fit

    class Look:
        def __init__(self, model):
            self.model = model

        def on_batch_end(self, epoch, step):
            conv2 = self.model.conv2.weight  # (16, 6, 5, 5): its layout tells the two apart
            cl = conv2.is_contiguous(memory_format=torch.channels_last)
            seen.append((cl, torch.backends.cudnn.benchmark))

    def spy_fit(model, train, test, config, callbacks=(), device=None, lever=None):
        history = real_fit(model, train, test, config, [*callbacks, Look(model)], device, lever)
        fits.append((len(train), history))
        return history

    monkeypatch.setattr(bench, "fit", spy_fit)
    before = torch.backends.cudnn.benchmark
    config = TrainConfig(device="cpu", cudnn_benchmark=not before, **levers)
    seconds = bench.time_epoch(None, config, warmup_batches=1)
    assert [steps for steps, _ in fits] == [1, 6], "expected a 1-batch warm-up, then 6 batches"
    assert seconds == fits[1][1].records[0].seconds, "the timed seconds are not fit's record"
    assert seen == [(levers["channels_last"], not before)] * 7, seen
    assert torch.backends.cudnn.benchmark == before
