"""The speed levers take the lecture's step, and the lever matrix of `lenet-course bench
--levers`, on small synthetic data: its logic on any device (CUDA-only cells skipped with
their reason off CUDA), the correctness check, the winner, and its table and JSON."""

from __future__ import annotations

import copy
import json
from functools import partial

import pytest
import torch

from lenet_course import data
from lenet_course.bench import LEVER_MATRIX, Cell, lever_matrix
from lenet_course.config import TrainConfig
from lenet_course.device import place_model
from lenet_course.engine import fit, make_optimizer, train_step
from lenet_course.levers import RerunGraphs, lever_for, make_step, train_epoch
from lenet_course.model import LeNet


@pytest.fixture(autouse=True)
def one_thread():
    """Batches of 100 synthetic images: one intra-op thread, as in tests/unit/test_gpu.py."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _fit(model, config, train):
    """``fit`` with the lever ``config`` asks for, its graphs run by RerunGraphs."""
    test = data.TensorLoader(train.inputs[:100], train.labels[:100], batch_size=100)
    history = fit(model, train, test, config, lever=lever_for(config, graphs=RerunGraphs()))
    assert history.notes == [], f"the lever fell back to eager instead: {history.notes}"


def _make_step(model, config, train):
    """The lever matrix's eager cell: make_step's step, an epoch at a time."""
    step, _ = make_step(
        model, config, torch.device("cpu"), train, partial(make_optimizer, model, config)
    )
    for _ in range(config.epochs):
        train_epoch(step, train, torch.device("cpu"))


PATHS = [
    pytest.param(_fit, {}, False, id="fit-plain-loop"),
    pytest.param(_fit, {"cuda_graph": True}, True, id="fit-graph-of-one-step"),
    pytest.param(_fit, {"cuda_graph": True, "graph_steps": 2}, True, id="fit-graph-of-2-steps"),
    pytest.param(_make_step, {}, False, id="make-step-eager"),
]


@pytest.mark.parametrize(("train", "levers", "capturable"), PATHS)
def test_fit_and_each_lever_take_the_steps_of_a_train_step_loop(train, levers, capturable):
    """The lecture's step is written once: fit's loop, each lever's CPU path (a CUDA graph's
    logic through RerunGraphs) and the lever matrix's eager step leave the weights exactly
    where a plain loop of engine.train_step leaves them, on the same batches and Adam."""
    torch.manual_seed(0)
    x, y = torch.randn(400, 1, 28, 28), torch.randint(0, 10, (400,))
    config = TrainConfig(epochs=2, device="cpu", **levers)
    start = place_model(LeNet(), torch.device("cpu"), config.channels_last)

    reference = copy.deepcopy(start)
    optimizer = make_optimizer(reference, config, capturable=capturable)
    for _ in range(config.epochs):
        for inputs, labels in data.TensorLoader(x, y, batch_size=100, shuffle=False):
            train_step(reference, optimizer, inputs, labels)

    model = copy.deepcopy(start)
    train(model, config, data.TensorLoader(x, y, batch_size=100, shuffle=False))
    for (name, p), q, p0 in zip(
        reference.named_parameters(), model.parameters(), start.parameters(), strict=True
    ):
        assert not torch.equal(q, p0), f"{name} never moved: this path took no step"
        diff = (p - q).abs().max().item()
        assert diff == 0, (
            f"{name} is {diff:.1e} away from a plain train_step loop's after 8 steps: this "
            "path takes a step of its own instead of engine.train_step"
        )


def _loaders():
    x, y = data.synthetic_digits(1000)
    test = data.TensorLoader(*data.synthetic_digits(200, seed=9), batch_size=200, shuffle=False)
    return data.TensorLoader(x, y, batch_size=100), test


def test_the_matrix_times_what_the_device_can_run_and_says_why_it_skips_the_rest():
    cells = (
        Cell("eager"),
        Cell("graph K=4", (("cuda_graph", True), ("graph_steps", 4)), "CUDA graphs need CUDA"),
        Cell("a stray learning rate", (("lr", 0.05),)),
    )
    matrix = lever_matrix(None, timed_epochs=1, accuracy_epochs=1, cells=cells, loaders=_loaders())
    by = {c.cell: c for c in matrix.cells}
    assert by["eager"].correct and by["eager"].seconds_per_epoch > 0
    assert by["eager"].launches_per_step > 0 and len(by["eager"].epoch_losses) == 2
    if torch.cuda.is_available():
        assert by["graph K=4"].correct, by["graph K=4"]
    else:
        assert by["graph K=4"].skipped == "CUDA graphs need CUDA"
        assert by["graph K=4"].seconds_per_epoch is None and matrix.fastest_graph is None
    stray = by["a stray learning rate"]
    assert stray.correct is False and "stray from eager's" in stray.notes[-1]
    assert matrix.fastest in ("eager", "graph K=4") and matrix.fastest_accuracy is not None
    assert not matrix.passed  # a cell that ran was not correct
    table = matrix.to_markdown()
    assert "| graph K=4 | " in table and "| NO |" in table
    doc = json.loads(json.dumps(matrix.to_dict()))
    assert doc["passed"] is False and [c["cell"] for c in doc["cells"]] == [c.name for c in cells]


def test_a_cell_started_after_the_budget_is_skipped_and_says_so():
    cells = (Cell("eager"), Cell("eager again"))
    matrix = lever_matrix(
        None, timed_epochs=1, accuracy_epochs=0, cells=cells, loaders=_loaders(), budget_seconds=0
    )
    assert matrix.cells[0].correct and "time budget of 0 s" in matrix.cells[1].skipped
    assert matrix.passed and matrix.fastest == "eager" and matrix.fastest_accuracy is None


def test_a_cell_that_raises_is_recorded_as_failed_and_the_matrix_goes_on(monkeypatch):
    from lenet_course import bench

    real = bench.run_cell

    def run_cell(train, config, device, **kw):
        if config.lr == 0.02:
            raise RuntimeError("CUDA error: operation not permitted when stream is capturing")
        return real(train, config, device, **kw)

    monkeypatch.setattr(bench, "run_cell", run_cell)
    cells = (Cell("eager"), Cell("raises", (("lr", 0.02),)), Cell("eager again"))
    matrix = lever_matrix(None, timed_epochs=1, accuracy_epochs=0, cells=cells, loaders=_loaders())
    raised = matrix.cells[1]
    assert raised.correct is False and "RuntimeError: CUDA error" in raised.notes[0]
    assert matrix.cells[2].correct and not matrix.passed


def test_every_cell_of_the_matrix_is_a_valid_config_and_named_once():
    from lenet_course.config import TrainConfig

    names = [c.name for c in LEVER_MATRIX]
    assert len(set(names)) == len(names) and names[0] == "eager"
    for cell in LEVER_MATRIX:
        cell.config(TrainConfig())  # raises ConfigError on a bad combination


@pytest.mark.mnist
@pytest.mark.validation
def test_bench_levers_runs_the_matrix_on_the_device_at_hand(mnist_root):
    """`lenet-course bench --levers --quick --json`, as CI runs it (one timed epoch a cell,
    real MNIST): every cell this device can run is timed and correct, every other says why
    not, and the JSON names the winner. About 2 minutes on 2 CPU cores."""
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-m", "lenet_course.cli", "bench", "--levers", "--quick", "--json",
         "--data", str(mnist_root)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    doc = json.loads(run.stdout)
    cuda = torch.cuda.is_available()
    for cell in doc["cells"]:
        if cell["skipped"]:
            assert not cuda or "budget" in cell["skipped"], cell
        else:
            assert cell["correct"] and cell["seconds_per_epoch"] > 0, cell
    ran = {c["cell"] for c in doc["cells"] if not c["skipped"]}
    assert {"eager", "eager, compiled"} <= ran, ran
    assert doc["fastest"] in ran and doc["fastest_accuracy"] > 80
    assert "| eager | " in run.stderr  # the table, beside the progress
