"""The GPU paths: the CUDA-graph step and honest epoch timing.

Every test here runs its logic on each device: on the CPU the graph step runs through
:class:`~lenet_course.levers.RerunGraphs`, which does everything a capture does except the
CUDA calls, so CI exercises all of it; the CUDA case skips without a GPU.
"""

from __future__ import annotations

import copy
from functools import partial

import pytest
import torch
import torch.nn.functional as F

from lenet_course import data
from lenet_course.config import TrainConfig
from lenet_course.device import cudnn_benchmark, place_model
from lenet_course.engine import fit, make_optimizer
from lenet_course.levers import (
    CudaGraphs,
    CudaGraphStep,
    GraphEpoch,
    RerunGraphs,
    eager_step,
    lever_for,
    make_step,
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


@pytest.fixture(autouse=True)
def one_thread():
    """These steps are small (batches of 1 to 100 synthetic images): a second intra-op thread
    gains them nothing, and on a busy 2-core machine its spin-waiting cost 15 times the CPU
    time (56 vs 3.1 ms a step at batch 1, measured while other jobs shared the cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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


# (K, batch size, epochs): K=600 is a whole epoch of the recipe; batches of one sample keep
# its 600 steps cheap on the CPU. On CUDA the 1e-5 bound was measured for 10
# steps; whether 600 steps stay inside it is for the first GPU run to show.
GRAPH_STEPS = [
    pytest.param(1, 100, 2, id="K=1"),
    pytest.param(4, 100, 2, id="K=4"),
    pytest.param(600, 1, 1, id="K=600"),
]


def _eager_and_graph_epochs(dev, graphs, k, batch, epochs):
    """Train two copies of one LeNet ``epochs`` epochs on the same shuffled stream: eagerly
    (batches from the loader) and through a graph of ``k`` steps (batches read inside it)."""
    n = batch * max(k, 8)
    x, y = data.synthetic_digits(n)
    runs = []
    torch.manual_seed(0)
    start = LeNet()
    for graph in (False, True):
        loader = data.TensorLoader(x, y, batch_size=batch, seed=5, device=dev)
        model = place_model(copy.deepcopy(start), dev)
        opt = make_optimizer(model, TrainConfig(), capturable=True)
        step = (
            GraphEpoch(model, opt, loader, k, graphs=graphs()) if graph else eager_step(model, opt)
        )
        losses = [train_epoch(step, loader, dev)[0] for _ in range(epochs)]
        runs.append((losses, model))
    return runs, start


@pytest.mark.parametrize(("device", "graphs"), DEVICES)
@pytest.mark.parametrize(("k", "batch", "epochs"), GRAPH_STEPS)
def test_a_graph_of_k_steps_takes_the_same_steps_as_eager(
    device, graphs, k, batch, epochs, no_tf32
):
    """Several steps per replay: the batches come from the loader's data on the device
    through its shuffled order, a cursor the graph advances, and a fresh order each epoch.
    Every epoch's mean loss and the final weights equal eager training's on the same order."""
    dev = torch.device(device)
    ((eager_losses, eager_model), (graph_losses, graph_model)), start = _eager_and_graph_epochs(
        dev, graphs, k, batch, epochs
    )
    for epoch, (a, b) in enumerate(zip(eager_losses, graph_losses, strict=True), 1):
        assert abs(a - b) <= TOLERANCE, f"epoch {epoch}: eager loss {a:.6f}, graph {b:.6f}"
    for (name, p), q, p0 in zip(
        eager_model.named_parameters(), graph_model.parameters(), start.parameters(), strict=True
    ):
        diff = (p - q).abs().max().item()
        assert diff <= TOLERANCE, f"{name} differs by {diff:.2e} after {epochs} epoch(s), K={k}"
        assert not torch.equal(q.detach().cpu(), p0.detach()), f"{name} never trained"


@pytest.mark.parametrize(("device", "graphs"), DEVICES)
def test_fit_with_a_k_step_graph_gives_eagers_history(device, graphs, no_tf32):
    """The config's graph_steps reaches the engine: fit with the lever of cuda_graph and
    graph_steps=4 (through ``graphs``) records eager fit's losses and accuracies, and no
    fallback."""
    dev = torch.device(device)
    x, y = data.synthetic_digits(800)
    test = data.TensorLoader(
        *data.synthetic_digits(200, seed=9), batch_size=100, shuffle=False, device=dev
    )
    histories = []
    for cfg in (
        TrainConfig(epochs=2, device=device),
        TrainConfig(epochs=2, device=device, cuda_graph=True, graph_steps=4),
    ):
        torch.manual_seed(0)
        train = data.TensorLoader(x, y, batch_size=100, seed=2, device=dev)
        lever = lever_for(cfg, graphs=graphs())
        histories.append(fit(LeNet(), train, test, cfg, device=dev, lever=lever))
    eager, graph = histories
    assert graph.notes == [], graph.notes
    for a, b in zip(eager.records, graph.records, strict=True):
        assert abs(a.train_loss - b.train_loss) <= 1e-3, (a, b)
        assert abs(a.test_accuracy - b.test_accuracy) <= 1.0, (a, b)


@pytest.mark.parametrize(
    ("graph_steps", "kind", "note"),
    [(1, CudaGraphStep, None), (4, GraphEpoch, None), (3, CudaGraphStep, "must divide")],
    ids=["K=1", "K=4", "K=3-does-not-divide-8"],
)
def test_make_step_builds_the_graph_that_graph_steps_asks_for(graph_steps, kind, note):
    """graph_steps=1 is today's per-batch graph; more is a GraphEpoch of that many steps; a
    K that does not divide the epoch's steps falls back to eager, saying why."""
    x, y = data.synthetic_digits(800)
    loader = data.TensorLoader(x, y, batch_size=100)
    model = LeNet()
    cfg = TrainConfig(device="cpu", cuda_graph=True, graph_steps=graph_steps)
    step, notes = make_step(
        model, cfg, torch.device("cpu"), loader, partial(make_optimizer, model, cfg),
        graphs=RerunGraphs(),
    )  # fmt: skip
    if note:
        assert len(notes) == 1 and note in notes[0] and "falling back to eager" in notes[0]
        assert not isinstance(step, (CudaGraphStep, GraphEpoch))
        return
    assert notes == [] and isinstance(step, kind)
    assert getattr(step, "steps_per_replay", 1) == graph_steps


@pytest.mark.parametrize(
    ("channels_last", "layout"),
    [(True, torch.channels_last), (False, torch.contiguous_format)],
    ids=["channels-last", "nchw"],
)
def test_channels_last_is_the_layout_asked_for_and_takes_the_same_steps(channels_last, layout):
    """channels_last=True stores the conv weights channels-last on every device (False keeps
    NCHW), and the layout changes no value: against the CPU default layout the gradients of
    a batch and the losses of 10 Adam steps agree (measured over 5 seeds: 7.5e-9 and 1.4e-6).
    The weights are not compared: where a gradient is near zero, Adam's step is about +-lr
    either way, so rounding-level differences moved single weights by up to 9.3e-4."""
    x, y = data.synthetic_digits(1000)
    torch.manual_seed(0)
    start = LeNet()
    runs = []
    for cl in (None, channels_last):
        model = place_model(copy.deepcopy(start), torch.device("cpu"), cl)
        F.nll_loss(model(x[:100]), y[:100]).backward()
        grads = [p.grad.clone() for p in model.parameters()]
        model.zero_grad(set_to_none=True)
        step = eager_step(model, make_optimizer(model, TrainConfig()))
        losses = torch.stack(
            [step(x[i * 100 : (i + 1) * 100], y[i * 100 : (i + 1) * 100]) for i in range(10)]
        )
        runs.append((model, grads, losses))
    (_, grads0, losses0), (model, grads, losses) = runs
    assert model.conv1.weight.is_contiguous(memory_format=layout)
    assert model.conv2.weight.is_contiguous(memory_format=layout)
    for (name, _), g0, g in zip(model.named_parameters(), grads0, grads, strict=True):
        diff = (g0 - g).abs().max().item()
        assert diff <= 1e-7, f"gradient of {name} differs by {diff:.2e} between layouts"
    torch.testing.assert_close(losses, losses0, rtol=0, atol=TOLERANCE)


def test_cudnn_benchmark_is_on_while_fit_trains_and_restored_after():
    """cudnn_benchmark=True holds torch.backends.cudnn.benchmark on for every step of fit
    (a process-wide flag: cuDNN reads it at each convolution), and puts it back after."""
    seen = []

    class Flag:
        def on_batch_end(self, epoch, step):
            seen.append(torch.backends.cudnn.benchmark)

    x, y = data.synthetic_digits(400)
    train = data.TensorLoader(x, y, batch_size=100)
    test = data.TensorLoader(x, y, batch_size=400, shuffle=False)
    before = torch.backends.cudnn.benchmark
    for wanted in (True, False):
        seen.clear()
        fit(
            LeNet(),
            train,
            test,
            TrainConfig(epochs=1, cudnn_benchmark=wanted, device="cpu"),
            [Flag()],
        )
        assert seen == [wanted] * 4, f"cudnn.benchmark during training: {seen}"
        assert torch.backends.cudnn.benchmark == before
    with cudnn_benchmark(not before):
        assert torch.backends.cudnn.benchmark == (not before)
    assert torch.backends.cudnn.benchmark == before


@pytest.mark.validation
@pytest.mark.parametrize(("device", "graphs"), DEVICES)
def test_a_compiled_step_inside_a_graph_takes_eagers_steps(device, graphs, no_tf32):
    """compile=default: torch.compile's inductor fuses the step's forward and loss (and their
    backward), and the graph of 4 steps captures it. After an epoch of 8 steps the loss and
    weights match the eager graph's. Slow on the CPU (10-55 s of compiling), hence validation."""
    dev = torch.device(device)
    x, y = data.synthetic_digits(800)
    torch.manual_seed(0)
    start = LeNet()
    results = []
    for mode in ("off", "default"):
        torch._dynamo.reset()
        torch._dynamo.utils.counters.clear()
        cfg = TrainConfig(device=device, cuda_graph=True, graph_steps=4, compile=mode)
        loader = data.TensorLoader(x, y, batch_size=100, seed=1, device=dev)
        model = place_model(copy.deepcopy(start), dev, None)
        step, notes = make_step(
            model, cfg, dev, loader, partial(make_optimizer, model, cfg), graphs=graphs()
        )
        assert notes == [] and isinstance(step, GraphEpoch)
        loss = train_epoch(step, loader, dev)[0]
        compiled = torch._dynamo.utils.counters["stats"]["unique_graphs"]
        results.append((loss, model, compiled))
    (eager_loss, eager_model, _), (compiled_loss, compiled_model, graphs_compiled) = results
    assert graphs_compiled >= 1, "compile=default compiled nothing: the step ran eagerly"
    assert abs(eager_loss - compiled_loss) <= 1e-4, (eager_loss, compiled_loss)
    for (name, p), q in zip(
        eager_model.named_parameters(), compiled_model.parameters(), strict=True
    ):
        diff = (p - q).abs().max().item()
        assert diff <= 1e-4, f"{name}: compiled step differs by {diff:.2e} after 8 steps"
