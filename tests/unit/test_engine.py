"""The training engine on small synthetic data, and its config."""

from __future__ import annotations

import json
import time

import pytest
import torch
from torch import nn

from lenet_course import data
from lenet_course.config import TrainConfig
from lenet_course.device import resolve_device
from lenet_course.engine import Callback, History, adam_options, evaluate, fit
from lenet_course.errors import ConfigError
from lenet_course.model import LeNet, count_parameters
from lenet_course.pipeline import KernelSnapshots, snapshot_kernels


def _loaders(seed: int = 0):
    x, y = data.synthetic_digits(1000)
    return (
        data.TensorLoader(x, y, batch_size=50, seed=seed),
        data.TensorLoader(*data.synthetic_digits(200, seed=9), batch_size=100, shuffle=False),
    )


def test_lenet_has_the_lecture_parameter_count():
    assert count_parameters(LeNet()) == 44_426


@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "channels-last"])
def test_the_kits_pool_first_lenet_equals_the_lectures_order_in_values_and_gradients(
    channels_last,
):
    """The kit pools before ReLU (faster); the lecture applies ReLU first. Same weights must
    give the same log-probabilities and the same gradients, including on blank borders where
    many pooling windows tie."""
    from lenet_course.grading.judge import spec

    torch.manual_seed(3)
    kit, lecture = LeNet(), spec.lenet(3)
    lecture.load_state_dict(kit.state_dict())
    if channels_last:
        kit.to(memory_format=torch.channels_last)
    x, y = data.synthetic_digits(64, seed=5)
    x[:8] = 0.0  # blank images: every window of conv1's output ties at the bias
    outputs = []
    for net in (kit, lecture):
        net.zero_grad()
        out = net(x)
        torch.nn.functional.nll_loss(out, y).backward()
        outputs.append((out.detach(), {n: p.grad for n, p in net.named_parameters()}))
    (out_kit, grads_kit), (out_lecture, grads_lecture) = outputs
    torch.testing.assert_close(out_kit, out_lecture, rtol=0, atol=1e-6)
    assert grads_kit.keys() == grads_lecture.keys()
    for name in grads_kit:
        torch.testing.assert_close(
            grads_kit[name], grads_lecture[name], rtol=1e-5, atol=1e-7, msg=f"gradient of {name}"
        )


def test_config_defaults_are_the_lecture_settings():
    c = TrainConfig()
    assert (c.batch_size, c.epochs, c.lr) == (100, 10, 1e-3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch size"),
        ({"lr": -1.0}, "learning rate"),
        ({"lr": float("nan")}, "learning rate"),
        ({"seed": -3}, "seed"),
        ({"device": "gpu"}, "device"),
        ({"loader": "pandas"}, "loader"),
        ({"graph_steps": 0}, "graph steps"),
        ({"graph_steps": 601}, "graph steps"),
        ({"compile": "max"}, "compile must be one of"),
        ({"compile": "reduce-overhead", "cuda_graph": True}, "inside the kit's graph"),
        ({"channels_last": "yes"}, "channels_last"),
    ],
)
def test_config_rejects_bad_values_with_a_named_setting(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**kwargs)


def test_cuda_graph_brings_the_graph_levers_measured_fastest():
    from lenet_course.config import CUDA_GRAPH_LEVERS, with_cuda_graph

    config = with_cuda_graph(TrainConfig(epochs=2))
    assert config.cuda_graph and config.epochs == 2
    assert all(getattr(config, k) == v for k, v in CUDA_GRAPH_LEVERS.items())


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        TrainConfig().epochs = 3  # type: ignore[misc]


def test_auto_device_is_cuda_when_available_else_cpu():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error message")
def test_requesting_cuda_without_a_gpu_is_a_user_error():
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        resolve_device("cuda")


def test_fit_learns_and_returns_one_record_per_epoch():
    torch.manual_seed(0)
    train, test = _loaders()
    history = fit(LeNet(), train, test, TrainConfig(epochs=3, device="cpu"))
    assert [r.epoch for r in history.records] == [1, 2, 3]
    losses = [r.train_loss for r in history.records]
    assert losses[-1] < losses[0], f"loss did not fall: {losses}"
    assert history.final_accuracy > 90.0
    assert all(r.seconds > 0 for r in history.records)


def test_epoch_time_agrees_with_the_wall_clock():
    torch.manual_seed(0)
    train, test = _loaders()
    start = time.perf_counter()
    history = fit(LeNet(), train, test, TrainConfig(epochs=2, device="cpu"))
    wall = time.perf_counter() - start
    assert 0 < history.total_seconds <= wall


def test_same_seed_gives_the_same_history():
    def run():
        torch.manual_seed(4)
        train, test = _loaders(seed=4)
        return [r.train_loss for r in fit(LeNet(), train, test, TrainConfig(epochs=2)).records]

    assert run() == run()


def test_the_lecture_callback_snapshots_kernels_before_and_after_training():
    torch.manual_seed(0)
    net = LeNet()
    initial = net.conv1.weight.detach().clone()
    train, test = _loaders()
    history = fit(net, train, test, TrainConfig(epochs=1, device="cpu"), [KernelSnapshots()])
    before, after = history.snapshots["before"], history.snapshots["after"]
    assert before["conv1"].shape == (6, 1, 5, 5) and after["conv2"].shape == (16, 6, 5, 5)
    assert torch.equal(before["conv1"], initial)
    assert not torch.equal(before["conv1"], after["conv1"])


def test_the_engine_itself_knows_no_layer_names():
    train, test = _loaders()
    history = fit(LeNet(), train, test, TrainConfig(epochs=1, device="cpu"))
    assert history.snapshots == {}


def test_snapshot_is_a_copy_that_training_cannot_change():
    net = LeNet()
    snap = snapshot_kernels(net)
    with torch.no_grad():
        net.conv1.weight.add_(1.0)
    assert not torch.equal(snap["conv1"], net.conv1.weight.detach())


def test_history_round_trips_through_json(tmp_path):
    torch.manual_seed(0)
    train, test = _loaders()
    history = fit(LeNet(), train, test, TrainConfig(epochs=1, device="cpu"), [KernelSnapshots()])
    history.save(tmp_path / "h.json")
    raw = json.loads((tmp_path / "h.json").read_text())
    assert raw["records"][0]["epoch"] == 1 and raw["config"]["batch_size"] == 100
    again = History.load(tmp_path / "h.json")
    assert again.records == history.records
    after = history.snapshots["after"]["conv1"]
    assert torch.allclose(again.snapshots["after"]["conv1"], after)


def test_callbacks_see_every_batch_and_epoch():
    class Counter(Callback):
        def __init__(self):
            self.batches, self.epochs = 0, []

        def on_batch_end(self, epoch, step):
            self.batches += 1

        def on_epoch_end(self, record, epochs):
            self.epochs.append(record.epoch)

    torch.manual_seed(0)
    train, test = _loaders()
    counter = Counter()
    fit(LeNet(), train, test, TrainConfig(epochs=2, device="cpu"), [counter])
    assert counter.batches == 2 * len(train) and counter.epochs == [1, 2]


def test_cuda_graph_on_cpu_falls_back_to_eager_with_a_note():
    from lenet_course.levers import lever_for

    torch.manual_seed(0)
    train, test = _loaders()
    config = TrainConfig(epochs=1, device="cpu", cuda_graph=True)
    history = fit(LeNet(), train, test, config, lever=lever_for(config))
    assert any("falling back to eager" in n for n in history.notes)
    assert len(history.records) == 1


@pytest.mark.parametrize(
    "levers", [{"cuda_graph": True}, {"compile": "default"}], ids=["cuda-graph", "compile"]
)
def test_fit_refuses_a_config_that_asks_for_a_lever_when_given_none(levers):
    """The caller that reads the config chooses the lever; fit never trains a config that
    asks for a CUDA graph or a compiled loss with the plain loop in silence."""
    train, test = _loaders()
    with pytest.raises(ValueError, match=r"pass lever=lenet_course\.levers\.lever_for"):
        fit(LeNet(), train, test, TrainConfig(epochs=1, device="cpu", **levers))


def test_a_config_without_graph_or_compile_gets_the_plain_loop():
    from lenet_course.levers import lever_for

    assert lever_for(TrainConfig()) is None, "the default config should train the plain loop"
    assert lever_for(TrainConfig(cudnn_benchmark=True, channels_last=True)) is None
    assert lever_for(TrainConfig(cuda_graph=True)) is not None
    assert lever_for(TrainConfig(compile="default")) is not None


@pytest.mark.parametrize("capturable", [False, True], ids=["eager", "capturable"])
def test_the_kits_fused_adam_takes_the_lectures_adam_steps(capturable):
    """The kit's Adam (fused, capturable for a graph) is the lecture's torch.optim.Adam(lr):
    over 10 steps of LeNet, 5 seeds, the weights differed by at most 6.7e-8 (measured)."""
    x, y = data.synthetic_digits(1000)
    for seed in range(2):
        torch.manual_seed(seed)
        plain, kit = LeNet(), LeNet()
        kit.load_state_dict(plain.state_dict())
        opts = [
            torch.optim.Adam(plain.parameters(), lr=1e-3),
            torch.optim.Adam(
                kit.parameters(), **adam_options(TrainConfig(), capturable=capturable)
            ),
        ]
        for i in range(10):
            for net, opt in zip((plain, kit), opts, strict=True):
                opt.zero_grad()
                nn.functional.nll_loss(
                    net(x[i * 100 : (i + 1) * 100]), y[i * 100 : (i + 1) * 100]
                ).backward()
                opt.step()
        for (name, p), q in zip(plain.named_parameters(), kit.parameters(), strict=True):
            diff = (p - q).abs().max().item()
            assert diff <= 1e-6, f"seed {seed}: {name} differs by {diff:.1e} from plain Adam"


def test_evaluate_restores_training_mode_and_counts_hits():
    class Oracle(nn.Module):
        def forward(self, x):
            return torch.log_softmax(x[:, 0, 0, :10] * 100, dim=1)

    x = torch.zeros(20, 1, 28, 28)
    y = torch.arange(20) % 10
    x[torch.arange(20), 0, 0, y] = 1.0
    y_wrong = y.clone()
    y_wrong[:5] = (y_wrong[:5] + 1) % 10
    net = Oracle().train()
    loader = data.TensorLoader(x, y_wrong, batch_size=7, shuffle=False)
    assert evaluate(net, loader, "cpu") == pytest.approx(75.0)
    assert net.training


def test_train_flags_set_the_graph_levers_over_the_cuda_graph_defaults():
    from lenet_course.cli import build_parser
    from lenet_course.cli.flags import config_from
    from lenet_course.config import CUDA_GRAPH_LEVERS
    from lenet_course.errors import UserError

    def config(*argv):
        return config_from(build_parser().parse_args(["train", *argv]))

    assert config().cuda_graph is False and config().compile == "off"
    plain = config("--cuda-graph")
    assert all(getattr(plain, k) == v for k, v in CUDA_GRAPH_LEVERS.items())
    chosen = config("--cuda-graph", "--graph-steps", "600", "--compile", "default")
    assert (chosen.cuda_graph, chosen.graph_steps, chosen.compile) == (True, 600, "default")
    with pytest.raises(UserError, match="Fix: add --cuda-graph"):
        config("--graph-steps", "4")
    with pytest.raises(ConfigError, match="graph steps must be a whole number from 1"):
        config("--cuda-graph", "--graph-steps", "0")
