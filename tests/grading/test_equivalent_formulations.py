"""Equivalent maths earns the same points: the ways a correct student may write the loop
(F.cross_entropy on log-probabilities, fused Adam, another summation order, the loss summed
and divided by the batch, x - logsumexp for the log-probabilities) end within the replay's
tolerance under 200 seeds, and the wrong loops beyond it.

The kit's solution with F.cross_entropy runs through a real jailed worker and the hidden
replay test itself; the other formulations run here, in the judge, on the loaders the worker
builds (they differ only in float rounding, which the jail does not change)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lenet_course.grading.jail import client, limits
from lenet_course.grading.judge.spec import architecture
from lenet_course.grading.sandbox.probes import build_net, make_loader, named_weights
from lenet_course.kit import kit_root
from tests.graded import replays
from tests.graded.conftest import draw_seed
from tests.graded.test_ex3_train import steps_match_the_lecture

pytestmark = pytest.mark.validation  # about 3 minutes on 2 cores: `nox -s validation`

SEEDS = 200


class Handle:
    """The graded tests' view of a worker (``call(op, **args)``)."""

    def __init__(self, worker: client.Worker) -> None:
        self.worker = worker

    def call(self, op: str, **args) -> dict:
        return self.worker.call(op, timeout=60, **args)


def test_the_solution_with_cross_entropy_passes_the_hidden_replay_under_200_seeds(
    tmp_path_factory,
):
    folder = tmp_path_factory.mktemp("submission")
    text = (kit_root() / "solutions" / "ex3_train.py").read_text()
    assert text.count("F.nll_loss(net(inputs), labels)") == 1
    (folder / "ex3_train.py").write_text(
        text.replace("F.nll_loss(net(inputs), labels)", "F.cross_entropy(net(inputs), labels)")
    )
    folder.chmod(0o755)  # the jailed worker reads it as a uid of its own
    worker = client.Worker("ex3_train", folder, limits=limits.Limits(),
                           workdir=tmp_path_factory.mktemp("work"))  # fmt: skip
    rng = torch.Generator().manual_seed(20261207)
    failed = []
    try:
        for i in range(SEEDS):
            try:
                if i % 2:
                    steps_match_the_lecture(Handle(worker), rng, n=200, batch_size=40)
                else:
                    steps_match_the_lecture(Handle(worker), rng, n=230, batch_size=50)
            except AssertionError as exc:
                failed.append(str(exc)[:200])
    finally:
        worker.stop()
    assert not failed, f"{len(failed)}/{SEEDS} draws of the hidden replay failed: {failed[:3]}"


def student_loop(seed: int, spec: dict, lr: float, **how) -> tuple[dict, dict]:
    """A student's loop written one way (``how``), on a worker's loader: the weights, and the
    observation the replay reads (the batches its steps used)."""
    torch.set_num_threads(how.get("threads", 1))
    net = build_net(architecture(), seed)
    loader = make_loader(spec, record=True)
    adam = torch.optim.Adam(
        net.parameters(), lr=lr * how.get("lr_factor", 1.0), **how.get("adam", {})
    )
    used = []
    for epoch in range(how.get("epochs", 1)):
        if how.get("adam_per_epoch") and epoch:
            adam = torch.optim.Adam(net.parameters(), lr=lr)
        for inputs, labels in loader:
            if how.get("zero_grad", True):
                adam.zero_grad(set_to_none=how.get("set_to_none", True))
            out = net(inputs)
            if how.get("logsumexp"):
                out = out - torch.logsumexp(out, dim=1, keepdim=True)
            if how.get("loss") == "cross_entropy":
                loss = F.cross_entropy(out, labels)
            elif how.get("loss") == "summed":
                loss = F.nll_loss(out, labels, reduction="sum") / len(labels)
            else:
                loss = F.nll_loss(out, labels)
            loss.backward()
            adam.step()
            used.append(list(loader.dataset.last))
    torch.set_num_threads(1)
    return named_weights(net), {"used": used, "per_pass": len(loader)}


EQUIVALENTS = {
    "F.cross_entropy on log-probabilities": {"loss": "cross_entropy"},
    "fused Adam": {"adam": {"fused": True}},
    "Adam without foreach": {"adam": {"foreach": False}},
    "two threads' summation order": {"threads": 2},
    "a summed loss divided by the batch size": {"loss": "summed"},
    "x - logsumexp(x) for the log-probabilities": {"logsumexp": True},
}
WRONG = {
    "an lr 10% off": {"lr_factor": 1.1},
    "no zero_grad": {"zero_grad": False},
}


def distance(got: dict, want: dict) -> float:
    return (
        sum(
            float(((got[n][p].double() - want[n][p].double()) ** 2).sum())
            for n in want
            for p in want[n]
        )
        ** 0.5
    )


def test_equivalent_loops_end_within_the_tolerance_and_wrong_ones_beyond_it():
    rng = torch.Generator().manual_seed(7)
    worst = dict.fromkeys(EQUIVALENTS, 0.0)
    nearest = dict.fromkeys(WRONG, float("inf"))
    for i in range(SEEDS):
        seed, lr = draw_seed(rng), [5e-4, 1e-3, 2e-3][i % 3]
        # 5 steps, the last on a short batch: the hidden replay's case, at a quarter of the
        # samples (the float error of a formulation does not grow with the batch)
        spec = {"kind": "synthetic", "n": 115, "seed": seed, "batch_size": 25, "shuffle": False}
        want = None  # every loop here reads the same batches: one replay serves them all
        for name, how in EQUIVALENTS.items():
            got, obs = student_loop(seed, spec, lr, **how)
            want = want or replays.replay(seed, spec, obs, 1, lr)[1]
            worst[name] = max(worst[name], distance(got, want) / lr)
        if i % 10 == 0:  # wrong loops lie far away: a few seeds show it
            for name, how in WRONG.items():
                got, obs = student_loop(seed, spec, lr, **how)
                nearest[name] = min(nearest[name], distance(got, want) / lr)
    tolerance = replays.WEIGHTS_TOLERANCE_LR
    shown = ", ".join(f"{k}: {v:.3g} lr" for k, v in {**worst, **nearest}.items())
    assert max(worst.values()) < tolerance / 10, (
        f"an equivalent loop came near the tolerance ({shown})"
    )
    assert min(nearest.values()) > 10 * tolerance, f"a wrong loop came near the tolerance ({shown})"
    # the reference itself: a replay of the replay's own batches is exact
    seed = draw_seed(rng)
    spec = {"kind": "synthetic", "n": 100, "seed": seed, "batch_size": 20, "shuffle": False}
    got, obs = student_loop(seed, spec, 1e-3)
    assert distance(got, replays.replay(seed, spec, obs, 1, 1e-3)[1]) == 0.0
