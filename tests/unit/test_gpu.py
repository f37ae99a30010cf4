"""GPU paths: honest epoch timing and the CUDA-graph step. They skip without CUDA."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from lenet_course import data
from lenet_course.engine import CudaGraphStep, TrainConfig, eager_step, make_optimizer, train_epoch
from lenet_course.model import LeNet

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU; PyTorch sees none on this machine"
)


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


def test_cuda_graph_step_matches_eager_steps():
    dev = torch.device("cuda")
    x, y = data.synthetic_digits(1000)
    loader = data.TensorLoader(x, y, batch_size=100, shuffle=False, device=dev)
    torch.manual_seed(0)
    eager_model = LeNet().to(dev)
    graph_model = copy.deepcopy(eager_model)
    eager = eager_step(eager_model, make_optimizer(eager_model, TrainConfig()))
    graph = CudaGraphStep(
        graph_model, make_optimizer(graph_model, TrainConfig(), capturable=True), next(iter(loader))
    )
    for inputs, labels in loader:
        a, b = eager(inputs, labels), graph(inputs, labels)
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-4)
    for p, q in zip(eager_model.parameters(), graph_model.parameters(), strict=True):
        assert torch.allclose(p, q, rtol=1e-3, atol=1e-4)
    assert F.nll_loss(graph_model(x.to(dev)), y.to(dev)) < 2.3
