"""The GPU paths: the CUDA-graph step and honest epoch timing.

Every test here runs its logic on each device: on the CPU the graph step runs through
:class:`~lenet_course.engine.RerunGraphs`, which does everything a capture does except the
CUDA calls, so CI exercises all of it; the CUDA case skips without a GPU.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from lenet_course import data
from lenet_course.engine import (
    CudaGraphs,
    CudaGraphStep,
    RerunGraphs,
    TrainConfig,
    eager_step,
    make_optimizer,
    train_epoch,
)
from lenet_course.model import LeNet

needs_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU; PyTorch sees none on this machine"
)
DEVICES = [
    pytest.param("cpu", RerunGraphs, id="cpu-rerun"),
    pytest.param("cuda", CudaGraphs, id="cuda-graph", marks=needs_cuda),
]
# Measured on an H200 (issue 18): capturable Adam on both sides differs by at most 2.8e-8
# after 10 steps with TF32 off (1.2e-5 with TF32 on); the default Adam against capturable
# Adam differed by 1.4e-3. 1e-5 is 350 times the like-for-like figure and 140 times below
# the unlike one.
TOLERANCE = 1e-5


@pytest.fixture
def no_tf32():
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


@pytest.mark.parametrize(("device", "graphs"), DEVICES)
def test_graph_step_takes_the_same_steps_as_the_eager_step(device, graphs, no_tf32):
    """Warm-up, capture and the reset to the starting weights and Adam state: after 10 steps
    the graph step's weights equal the eager step's, with the same (capturable) Adam."""
    dev = torch.device(device)
    x, y = data.synthetic_digits(1000)
    loader = data.TensorLoader(x, y, batch_size=100, shuffle=False, device=dev)
    torch.manual_seed(0)
    eager_model = LeNet().to(dev)
    graph_model = copy.deepcopy(eager_model)
    eager = eager_step(eager_model, make_optimizer(eager_model, TrainConfig(), capturable=True))
    graph = CudaGraphStep(
        graph_model,
        make_optimizer(graph_model, TrainConfig(), capturable=True),
        next(iter(loader)),
        graphs=graphs(),
    )
    for inputs, labels in loader:
        a, b = eager(inputs, labels), graph(inputs, labels)
        assert torch.allclose(a, b, rtol=0, atol=TOLERANCE), (a.item(), b.item())
    for (name, p), q in zip(eager_model.named_parameters(), graph_model.parameters(), strict=True):
        diff = (p - q).abs().max().item()
        assert diff <= TOLERANCE, f"{name} differs by {diff:.2e} after 10 steps"
    assert F.nll_loss(graph_model(x.to(dev)), y.to(dev)) < 2.3


@needs_cuda
def test_engine_epoch_time_agrees_with_cuda_events():
    dev = torch.device("cuda")
    x, y = data.synthetic_digits(6000)
    loader = data.TensorLoader(x, y, batch_size=100, device=dev)
    torch.manual_seed(0)
    model = LeNet().to(dev)
    step = eager_step(model, make_optimizer(model, TrainConfig()))
    train_epoch(step, loader, dev)  # warm-up
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    _, seconds = train_epoch(step, loader, dev)
    end.record()
    torch.cuda.synchronize()
    events = start.elapsed_time(end) / 1000
    assert seconds == pytest.approx(events, rel=0.15, abs=0.005), (seconds, events)
