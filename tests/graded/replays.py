"""The judge's replay of the lecture's training loop, for the hidden Exercise 3 tests only.

A reference training loop is the answer to Exercise 3, so it lives here, apart from the
visible tests: the student release leaves this file out, with the hidden tests that use it.

The replay runs on the batches the student's steps really used, as the worker served them
(``used``: pass, place in the pass, sample indices), not on a shuffle order the judge
assumes: a training-accuracy pass or a progress count over the loader changes no verdict.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lenet_course.grading.judge.spec import lenet
from lenet_course.grading.sandbox.probes import named_weights, served_batches

# How far a correct train() may end from the replay, in L2 over all the net's weights, in
# units of the learning rate. Measured over 64 seeds (5 steps of 40, and 3 epochs of 5 gained
# batches): the equivalent formulations a correct student writes end at most 0.018 lr away
# (F.cross_entropy on log-probabilities 0.0084, fused Adam 0.0012, two threads' summation
# order 0.018, Adam without foreach and a summed loss divided by the batch 0); the nearest
# wrong loop ends 62 lr away (an lr 10% off, 5 steps), the others 156 lr or more (no
# zero_grad, an Adam per epoch, twice the lr). 1 lr lies 55x above the one and 62x below the
# other. tests/meta/test_equivalent_formulations.py measures this again under 200 seeds.
WEIGHTS_TOLERANCE_LR = 1.0


def weights_agree(got: dict, want: dict, lr: float) -> str:
    """Why the weights ``got`` are not the replay's ``want`` ("" when they agree within
    ``WEIGHTS_TOLERANCE_LR`` learning rates, in L2 over all the weights)."""
    squares = 0.0
    for name, params in want.items():
        for p, expected in params.items():
            value = got.get(name, {}).get(p)
            if value is None or value.shape != expected.shape:
                return f"{name}.{p} has another shape than the lecture's"
            squares += float(((value.double() - expected.double()) ** 2).sum())
    distance = squares**0.5
    if distance <= WEIGHTS_TOLERANCE_LR * lr:
        return ""
    return f"the weights lie {distance / lr:.3g} lr away (a correct loop ends within {WEIGHTS_TOLERANCE_LR:g})"


def epochs_of_steps(obs: dict, epochs: int) -> list[list]:
    """The batches the student's steps used, grouped by the pass over the loader that served
    them; fails the test unless there is one pass of steps per epoch, a step per batch."""
    used = obs["used"]
    per_pass = obs["per_pass"]
    passes: dict[int, list] = {}
    for u in used:
        if u is None:
            pytest.fail(
                "train() took an optimizer step before reading a batch from the training "
                "loader. Hint: step once per batch, after loss.backward().",
                pytrace=False,
            )
        passes.setdefault(int(u[0]), []).append(u)
    groups = list(passes.values())
    shape = [len(g) for g in groups]
    in_order = all([int(u[1]) for u in g] == list(range(per_pass)) for g in groups)
    if len(groups) != epochs or not in_order:
        pytest.fail(
            f"train(..., epochs={epochs}) took steps on {len(groups)} passes over the training "
            f"loader ({shape} steps; each pass has {per_pass} batches). Hint: for each epoch, "
            "one optimizer step for every batch the loader gives, the short last one too.",
            pytrace=False,
        )
    return groups


def replay(seed: int, train: dict, obs: dict, epochs: int, lr: float) -> tuple[list[float], dict]:
    """The judge's own run of the lecture's loop on the batches the student's steps used
    (the loader spec ``train`` and the worker's ``used``): mean NLL per epoch, and the
    final weights."""
    net = lenet(seed)
    adam = torch.optim.Adam(net.parameters(), lr=lr)
    means = []
    for group in epochs_of_steps(obs, epochs):
        net.train()
        losses = []
        for inputs, labels in served_batches(train, group):
            adam.zero_grad()
            step_loss = F.nll_loss(net(inputs), labels)
            step_loss.backward()
            adam.step()
            losses.append(step_loss.item())
        means.append(sum(losses) / len(losses))
    return means, named_weights(net)
