"""Per-epoch timing benchmarks (pytest-benchmark). Run with `nox -s bench`, not by default.

Each benchmark times whole epochs after a warm-up round, and every timed function ends
with a device synchronise, so GPU work is counted in full.
"""

from __future__ import annotations

import pytest
import torch

from lenet_course import data, targets
from lenet_course.bench import epoch_runner
from lenet_course.config import TrainConfig
from lenet_course.device import synchronize
from lenet_course.model import LeNet

needs_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU; PyTorch sees none on this machine"
)


def runner(mnist_root, device: str, loader: str = "tensor", graph: bool = False):
    config = TrainConfig(epochs=1, device=device, loader=loader, cuda_graph=graph)
    run = epoch_runner(mnist_root, config)
    return lambda: run()[0]  # the loss; fit synchronises before it stops its clock


@needs_cuda
@pytest.mark.mnist
def test_epoch_tensor_loader_eager_cuda(benchmark, mnist_root):
    run = runner(mnist_root, "cuda")
    loss = benchmark.pedantic(run, rounds=3, warmup_rounds=1, iterations=1)
    assert loss < 0.5


@needs_cuda
@pytest.mark.mnist
def test_epoch_tensor_loader_cuda_graph(benchmark, mnist_root):
    run = runner(mnist_root, "cuda", graph=True)
    loss = benchmark.pedantic(run, rounds=5, warmup_rounds=1, iterations=1)
    assert loss < 0.5


@needs_cuda
@pytest.mark.mnist
def test_epoch_torchvision_dataloader_cuda(benchmark, mnist_root):
    run = runner(mnist_root, "cuda", loader="torchvision")
    loss = benchmark.pedantic(run, rounds=2, warmup_rounds=1, iterations=1)
    assert loss < 0.5


@needs_cuda
@pytest.mark.mnist
def test_epoch_of_the_target_train_loop_cuda(benchmark, mnist_root, target):
    ex3 = targets.load(target, "ex3_train")
    train, test = data.tensor_loaders(mnist_root, batch_size=100, seed=0, device="cuda")
    torch.manual_seed(0)
    net = LeNet().cuda()

    def one_epoch():
        records = ex3.train(net, train, test, epochs=1, lr=1e-3, device="cuda")
        synchronize(torch.device("cuda"))
        return records

    records = benchmark.pedantic(one_epoch, rounds=3, warmup_rounds=1, iterations=1)
    assert len(records) == 1


def test_short_cpu_epoch_of_the_target_train_loop(benchmark, target):
    """A quick CPU figure: one epoch of 2,000 synthetic samples through the target's train()."""
    ex3 = targets.load(target, "ex3_train")
    x, y = data.synthetic_digits(2000)
    train = data.TensorLoader(x, y, batch_size=100, seed=0)
    test = data.TensorLoader(*data.synthetic_digits(200, seed=1), batch_size=100, shuffle=False)
    torch.manual_seed(0)
    net = LeNet()
    records = benchmark.pedantic(
        lambda: ex3.train(net, train, test, epochs=1, lr=1e-3, device="cpu"),
        rounds=3, warmup_rounds=1, iterations=1,
    )  # fmt: skip
    assert len(records) == 1


@pytest.mark.mnist
def test_fast_tier_check_of_the_target(benchmark, target, mnist_root):
    """What a student waits for: `lenet-course check` on the target (the visible fast tier,
    every exercise, the jail included), timed whole, as on the command line."""
    from pathlib import Path

    from lenet_course.grading.judge.runner import grade

    report = benchmark.pedantic(
        lambda: grade(Path(target), full=False, hidden=False, data_root=mnist_root),
        rounds=2, iterations=1,
    )  # fmt: skip
    assert report.score == report.max_score - sum(
        t.max_score for t in report.tests if t.status == "skipped"
    ), [t.message for t in report.tests if t.status not in ("passed", "skipped")]
