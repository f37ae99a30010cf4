"""Exercise 3: the training loop and evaluation (its points are on each test's marker).

The student's ``train`` runs in the jailed worker on a LeNet the kit builds there, so
Exercise 3 earns its points even when Exercises 1 and 2 are unfinished. References (Adam
steps, accuracies) are computed here, in the judge.
"""

from __future__ import annotations

import time

import pytest
import torch
import torch.nn.functional as F

from lenet_course import data
from lenet_course.grading.blame import StudentFailure
from lenet_course.grading.judge.spec import (
    INIT_LOSS_GROWTH_MIN,
    accuracy,
    architecture,
    imprint,
    imprint_fault,
    lenet,
    mean_nll,
    without_init,
)
from lenet_course.grading.sandbox.probes import (
    ModeProbe,
    mode_data,
    named_grads,
    named_weights,
    served_batches,
)
from lenet_course.kit import THRESHOLDS
from tests.graded.conftest import draw_seed, realistic_weights, reference
from tests.graded.replays import replay, weights_agree

SPEC = architecture()
PASS_ACCURACY, EPOCHS = THRESHOLDS["PASS_ACCURACY"], THRESHOLDS["EPOCHS"]
LOSS_GAINS = [24.0, 8.0, 3.0, 1.0, 0.5]  # the scale of each batch of an epoch (5 batches)
# Learning rates a train() might hard-code: the visible tests draw theirs at least 15% away
# from each, so only a train() that uses the lr it is given passes them.
COMMON_LRS = (1e-4, 3e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2)


def draw_lr(rng: torch.Generator, low: float = 6e-4, high: float = 4e-3) -> float:
    """A learning rate in [low, high), three significant digits, away from COMMON_LRS."""
    while True:
        lr = float(f"{low * (high / low) ** float(torch.rand(1, generator=rng)):.3g}")
        if all(abs(lr - c) > 0.15 * c for c in COMMON_LRS):
            return lr


def draw_epochs(rng: torch.Generator) -> int:
    return int(torch.randint(2, 5, (1,), generator=rng))


def synthetic(n: int, seed: int, batch_size: int, shuffle: bool = True, **extra) -> dict:
    return {"kind": "synthetic", "n": n, "seed": seed, "batch_size": batch_size,
            "shuffle": shuffle, **extra}  # fmt: skip


def train(ex3, rng, *, n=1000, batch_size=50, epochs=3, lr=1e-3, shuffle=True, spec=SPEC,
          record=False, watch=0, **loader) -> dict:  # fmt: skip
    """The student's train() on synthetic digits (every loader of 5 batches or more); the
    observation, with the seed and the training loader's spec used."""
    seed = draw_seed(rng)
    batches = synthetic(n, seed, batch_size, shuffle, **loader)
    obs = ex3.call(
        "ex3.train", spec=spec, seed=seed, train=batches,
        test=synthetic(200, seed + 1, 40, False), epochs=epochs, lr=lr, record=record,
        watch=watch,
    )  # fmt: skip
    obs["seed"], obs["train"] = seed, batches
    return obs


def judged(weights: dict, n: int, seed: int) -> tuple[float, float]:
    """The judge's own mean NLL and accuracy (percent) of ``weights`` on synthetic digits."""
    try:
        net = lenet(weights=weights)
    except (KeyError, ValueError, StudentFailure) as exc:
        pytest.fail(f"the trained net's layers were changed by train() ({exc}).", pytrace=False)
    x, y = data.synthetic_digits(n, seed=seed)
    with torch.no_grad():
        out = net.eval()(x)
    return float(F.nll_loss(out, y)), 100.0 * float((out.argmax(1) == y).float().mean())


def why_no_learning(obs: dict, lr: float) -> str:
    """Which of the common causes stopped the net learning, from the first step watched:
    no step, a step over other parameters, no gradient reaching the net, an lr off by an
    order of magnitude; else the general hint."""
    if not obs["steps"]:
        return NO_STEPS
    first = obs["steps"][0]
    if first["given"] == 0:
        return (
            f"its optimizer steps {first['params']} tensors, none of them the parameters of "
            "the net passed to train(). Hint: build Adam over net.parameters() of that net, "
            "not of a copy or of a new LeNet."
        )
    if reached_no_weight(first["grads"]):
        return NO_GRADIENT
    if first["lr"] and not 0.1 < first["lr"] / lr < 10:
        return (
            f"its optimizer runs with lr={first['lr']:g}, but train() was given lr={lr:g}. "
            "Hint: pass lr=lr to torch.optim.Adam."
        )
    return GENERAL


GENERAL = (
    "Hint: back-propagate and take an optimizer step on every batch, with the optimizer "
    "built once before the loop."
)


def reached_no_weight(grads: dict) -> bool:
    """No named layer had a gradient when the optimizer stepped: the loss never reached the net."""
    return all(g is None for ps in grads.values() for g in ps.values())


NO_GRADIENT = (
    "the net's weights had no gradient when the optimizer stepped: the loss did not reach "
    "them. Hint: compute the loss from net(inputs) as it is (no .detach(), .item() or "
    "torch.tensor(...) on the way) and call loss.backward() before optimizer.step()."
)


def initial(seed: int) -> dict:
    return named_weights(lenet(seed))


def descends(obs: dict) -> None:
    """Fail unless the returned weights descend from the net train() was given: weights
    trained elsewhere and brought along score nothing, however well they do."""
    fault = imprint_fault(initial(obs["seed"]), obs["weights"])
    if fault:
        pytest.fail(
            f"The net train() returned is not the net it was given, trained: {fault}. Hint: "
            "train the net passed to train() from the weights it has; do not re-initialise "
            "it or load weights into it.",
            pytrace=False,
        )


def numbers(records: list, field: str) -> list:
    values = [r[field] for r in records]
    for v in values:
        assert not (isinstance(v, int) and not isinstance(v, bool)), (
            f"EpochRecord.{field} is the int {v}, which has lost its fraction: integer "
            "division (//) and int() floor it. Hint: compute it with / and keep the float."
        )
        assert isinstance(v, float), (
            f"EpochRecord.{field} should be a float (use .item() on a tensor); got a "
            f"{v['type'] if isinstance(v, dict) else type(v).__name__}."
        )
    return values


@pytest.mark.points(2)
def test_training_loss_decreases(ex3, rng):
    """The mean training loss falls over a few epochs"""
    epochs, lr = draw_epochs(rng), draw_lr(rng)
    obs = train(ex3, rng, epochs=epochs, lr=lr, watch=1)
    records = obs["records"]
    assert len(records) == epochs, f"train(..., epochs={epochs}) returned {len(records)} records."
    losses = numbers(records, "train_loss")
    cause = why_no_learning(obs, lr)
    if not losses[-1] < losses[0] or cause != GENERAL:
        pytest.fail(
            f"The training loss went {[round(v, 4) for v in losses]}; "
            + ("it should fall: " if not losses[-1] < losses[0] else "but ")
            + cause,
            pytrace=False,
        )
    descends(obs)
    before, _ = judged(initial(obs["seed"]), 1000, obs["seed"])
    after, _ = judged(obs["weights"], 1000, obs["seed"])
    assert after < before - 0.1, (
        f"The records say the loss fell, but the net itself did not learn (its loss on the "
        f"training data went {before:.3f} -> {after:.3f}). Hint: train the net you were given, "
        "and see the tests of each step (one Adam, fresh gradients every batch): steps on "
        "gradients that add up stop a net learning too."
    )


@pytest.mark.points(2)
@pytest.mark.hidden
def test_each_step_equals_a_reference_adam_nll_step(ex3, rng):
    """An epoch of 5 batches gives the same weights as 5 reference Adam + NLL steps"""
    # Hidden: the judge's replay of the loop (tests/graded/replays.py) is the answer itself.
    steps_match_the_lecture(ex3, rng, n=200, batch_size=40)


@pytest.mark.points(2)
@pytest.mark.hidden
def test_a_short_last_batch_is_a_step_too(ex3, rng):
    """230 samples in batches of 50: the last 30 take a step of their own"""
    # Hidden: it compares with the judge's replay of the loop, which is the answer.
    steps_match_the_lecture(ex3, rng, n=230, batch_size=50)


def steps_match_the_lecture(ex3, rng, n: int, batch_size: int) -> None:
    lr = [5e-4, 1e-3, 2e-3][int(torch.randint(0, 3, (1,), generator=rng))]
    seed = draw_seed(rng)
    spec = synthetic(n, seed, batch_size, False)
    obs = ex3.call(
        "ex3.train", spec=SPEC, seed=seed, train=spec,
        test=synthetic(100, seed + 1, 20, False), epochs=1, lr=lr, record=True,
    )  # fmt: skip
    _, want = replay(seed, spec, obs, 1, lr)
    steps = -(-n // batch_size)
    fault = weights_agree(obs["weights"], want, lr)
    assert not fault, (
        f"After one epoch of {n} samples in batches of {batch_size} ({steps} steps), {fault} "
        f"from {steps} reference Adam steps on the NLL loss with lr={lr}. Hint: zero the "
        "gradients every batch (they add up otherwise), use the NLL loss on the "
        "log-probabilities, Adam over all the net's parameters with the lr you were given, "
        "and take a step for every batch the loader gives, the last too."
    )


# --- each step of the loop, watched: visible, and the same verdict under every seed -------
# Two epochs of five batches, the last of 30 (10 optimizer steps). The batches' inputs are
# scaled 24x, 8x, 3x, 1x and 0.5x, so their losses and gradients lie far apart: a sum, a
# last batch or gradients added up never pass for the right value. The worker only notes
# what each step saw, and the batch it used; the judge recomputes every gradient and loss
# here, from the weights before the step and that batch.
WATCH_N, WATCH_BATCH, WATCH_EPOCHS = 230, 50, 2
PER_EPOCH = -(-WATCH_N // WATCH_BATCH)
WATCH_STEPS = WATCH_EPOCHS * PER_EPOCH
NO_STEPS = (
    "train() took no optimizer step that the grader could see. Hint: build one "
    "torch.optim.Adam over the net's parameters and call its step() after loss.backward() "
    "for every batch."
)


@pytest.fixture(scope="module")
def watched(ex3, grading_seed) -> dict:
    """One short run of the student's train() with its first optimizer steps watched,
    shared by the step tests; the error instead when the run failed."""
    rng = torch.Generator().manual_seed(grading_seed * 1_000_003 + 7)
    seed, lr = draw_seed(rng), draw_lr(rng)
    batches = synthetic(WATCH_N, seed, WATCH_BATCH, False, gains=LOSS_GAINS)
    try:
        obs = ex3.call(
            "ex3.train", spec=SPEC, seed=seed, train=batches,
            test=synthetic(100, seed + 1, 20, False), epochs=WATCH_EPOCHS, lr=lr,
            watch=WATCH_STEPS, record=True,
        )  # fmt: skip
    except pytest.fail.Exception as exc:
        return {"error": str(exc)}
    if any(u is None for u in obs["used"]):
        return {"error": "train() took an optimizer step before reading a batch from the "
                "training loader. Hint: step once per batch, after loss.backward()."}  # fmt: skip
    # the batch each step used, as the worker served it: passes the student made without
    # steps (a training accuracy, a progress count) change nothing here
    obs["batches"] = served_batches(batches, obs["used"])
    obs["seed"], obs["lr"], obs["error"] = seed, lr, None
    return obs


def watched_steps(run: dict) -> list[dict]:
    if run["error"]:
        pytest.fail(run["error"], pytrace=False)
    if not run["steps"]:
        pytest.fail(NO_STEPS, pytrace=False)
    first = run["steps"][0]
    start = initial(run["seed"])
    if not all(
        torch.equal(first["weights"][name][p], value)
        for name, params in start.items()
        for p, value in params.items()
    ):
        pytest.fail(
            "The first optimizer step saw other weights than the net train() was given: "
            "train() re-initialised the net or loaded weights into it. Hint: train the net "
            "passed to train() from the weights it has.",
            pytrace=False,
        )
    if not first["given"] == first["params"] == len(SPEC["layers"]) * 2:
        pytest.fail(
            f"Adam steps {first['params']} tensors, {first['given']} of them the parameters "
            "of the net passed to train() (it has 10). Hint: build Adam over net.parameters() "
            "of that net, not of a copy or of a new LeNet.",
            pytrace=False,
        )
    if reached_no_weight(first["grads"]):
        pytest.fail(f"At the first step {NO_GRADIENT}", pytrace=False)
    if run["step_count"] != WATCH_STEPS:
        pytest.fail(
            f"train() took {run['step_count']} optimizer steps in {WATCH_EPOCHS} epochs of "
            f"{PER_EPOCH} batches (the last of {WATCH_N % WATCH_BATCH}). Hint: take one step "
            "for every batch the loader gives, the short last one too (optimizer.step() "
            "once per batch, after loss.backward()).",
            pytrace=False,
        )
    return run["steps"]


def step_at(weights: dict, batch) -> tuple[float, dict]:
    """The judge's own mean NLL of a batch at ``weights``, and its gradient."""
    try:
        net = lenet(weights=weights).train()
    except (KeyError, ValueError, StudentFailure) as exc:
        pytest.fail(f"the net's layers were changed by train() ({exc}).", pytrace=False)
    nll = F.nll_loss(net(batch[0]), batch[1])
    nll.backward()
    return float(nll), named_grads(net)


def close(got: dict, want: dict, rel: float = 1e-3) -> bool:
    """Every gradient of ``got`` within ``rel`` of ``want``'s size (float32, two machines' sums)."""
    for name, params in want.items():
        for p, w in params.items():
            g = got.get(name, {}).get(p)
            if g is None or g.shape != w.shape:
                return False
            if float((g - w).norm()) > rel * float(w.norm()) + 1e-7:
                return False
    return True


def combine(a: dict, b: dict | None = None, scale: float = 1.0) -> dict:
    return {
        n: {p: scale * t + (0 if b is None else b[n][p]) for p, t in ps.items()}
        for n, ps in a.items()
    }


@pytest.mark.points(2)
def test_one_adam_over_the_given_net_takes_every_step(watched):
    """One Adam, over the given net with the given lr, takes a step per batch and keeps its state"""
    steps = watched_steps(watched)
    first, count, built = steps[0], watched["step_count"], watched["optimizers"]
    assert first["kind"] == "Adam", (
        f"train() steps a torch.optim.{first['kind']}; the lecture trains with torch.optim.Adam."
    )
    assert built == 1, (
        f"train() built {built} optimizers for {count} steps "
        f"({'a new one every batch' if built == count else 'a new one every epoch' if built == WATCH_EPOCHS else 'more than one'}). "
        "A new Adam starts its running averages from zero, so each of its steps is a first "
        "step. Hint: build one Adam before the first epoch and keep it for the whole run."
    )
    assert first["lr"] == pytest.approx(watched["lr"]), (
        f"Adam runs with lr={first['lr']}, but train() was given lr={watched['lr']}. Hint: "
        "pass lr=lr to torch.optim.Adam."
    )
    counted = [s["state_step"] for s in steps]
    assert counted == [float(i) for i in range(len(steps))], (
        f"Before each step Adam had counted {counted} steps; one Adam kept for the run counts "
        f"0, 1, 2, ... Hint: do not rebuild the optimizer or clear its state during training."
    )


@pytest.mark.points(2)
def test_every_step_uses_the_fresh_gradient_of_its_batch(watched):
    """Every step uses only its own batch's gradient of the mean NLL loss (zero_grad each batch)"""
    steps, batches = watched_steps(watched), watched["batches"]
    for t, (step, batch) in enumerate(zip(steps, batches, strict=True)):
        _, fresh = step_at(step["weights"], batch)
        got = step["grads"]
        where = f"At step {t + 1} (epoch {t // PER_EPOCH + 1}, batch {t % PER_EPOCH + 1})"
        missing = [f"{n}.{p}" for n, ps in got.items() for p, g in ps.items() if g is None]
        if reached_no_weight(got):
            pytest.fail(f"{where} {NO_GRADIENT}", pytrace=False)
        assert not missing, (
            f"{where} {', '.join(missing)} had no gradient when the optimizer stepped. Hint: "
            "call loss.backward() before optimizer.step(), with every layer in the loss."
        )
        if close(got, fresh):
            continue
        if t > 0 and close(got, combine(fresh, steps[t - 1]["grads"])):
            pytest.fail(
                f"{where} the gradients were this batch's plus those of the steps before: "
                "they added up. PyTorch adds each backward() to the gradients already there. "
                "Hint: call optimizer.zero_grad() for every batch, before loss.backward().",
                pytrace=False,
            )
        size = len(batch[1])
        if close(got, combine(fresh, scale=size)):
            pytest.fail(
                f"{where} the gradients were {size} times those of the mean loss: the loss "
                "was summed over the batch. Hint: use F.nll_loss(output, labels) with its "
                "default reduction, the mean over the batch.",
                pytrace=False,
            )
        pytest.fail(
            f"{where} the gradients were not those of the NLL loss of that batch at the net's "
            "weights. Hint: for each batch the loader gives, compute "
            "F.nll_loss(net(inputs), labels) and call backward() once.",
            pytrace=False,
        )


@pytest.mark.points(2)
def test_each_record_holds_the_mean_of_its_epochs_batch_losses(watched):
    """Each record's train_loss is its epoch's mean loss (per batch or per sample)"""
    steps, batches = watched_steps(watched), watched["batches"]
    per_batch = [step_at(s["weights"], b)[0] for s, b in zip(steps, batches, strict=True)]
    losses = numbers(watched["records"], "train_loss")
    assert len(losses) == WATCH_EPOCHS, (
        f"train(..., epochs={WATCH_EPOCHS}) returned {len(losses)} records."
    )
    per = PER_EPOCH
    for i, got in enumerate(losses):
        epoch = per_batch[i * per : (i + 1) * per]
        sizes = [len(b[1]) for b in batches[i * per : (i + 1) * per]]
        mean = sum(epoch) / per
        per_sample = sum(v * k for v, k in zip(epoch, sizes, strict=True)) / sum(sizes)
        # the lecture's two readings of "the epoch's loss": the mean of the batch means, or
        # the sum over the samples divided by their number (equal when batches are equal)
        if got == pytest.approx(mean, rel=2e-3) or got == pytest.approx(per_sample, rel=2e-3):
            continue
        shown = ", ".join(f"{v:.4f}" for v in epoch)
        said = f"Record {i + 1} has train_loss={got:.4f}; its epoch's batch losses were {shown}"
        causes = [
            (sum(epoch), "their sum: divide by the number of batches"),
            (epoch[-1], "the last batch's loss: add up every batch's loss.item() and divide "
             "by the number of batches"),
            (sum(v * len(b[1]) for v, b in zip(epoch, batches[i * per : (i + 1) * per], strict=True)) / per,
             "the mean of the batches' summed losses: the loss was summed over "
             "the samples; use F.nll_loss's default reduction, the mean"),
            (sum(per_batch[: (i + 1) * per]) / per, "the running sum carried over from the "
             "epoch before: start the sum again at each epoch"),
            (sum(per_batch[: (i + 1) * per]), "the running sum carried over from the epoch "
             "before: start the sum again at each epoch, and divide by its batches"),
        ]  # fmt: skip
        for value, cause in causes:
            if got == pytest.approx(value, rel=2e-3):
                pytest.fail(f"{said}: it is {cause}.", pytrace=False)
        pytest.fail(
            f"{said}, and their mean is {mean:.4f} ({per_sample:.4f} per sample). Hint: add "
            "up loss.item() of every batch of the epoch and divide by the number of batches.",
            pytrace=False,
        )


def probe_accuracy(loader: dict, *, training: bool, grad: bool, sensitive: bool = True) -> float:
    """The judge's accuracy of the mode probe over the same images, run the given way."""
    x, y = mode_data(loader["seed"], loader["n"])
    probe = ModeProbe(loader["seed"], sensitive).train(training)
    with torch.set_grad_enabled(grad):
        hits = sum(
            int(
                (
                    probe(x[i : i + loader["batch_size"]]).argmax(1)
                    == y[i : i + loader["batch_size"]]
                ).sum()
            )
            for i in range(0, len(y), loader["batch_size"])
        )
    return 100.0 * hits / len(y)


def returned_float(value, expected: float) -> float:
    """evaluate()'s value as a float: refused only where its type lost information."""
    if isinstance(value, int) and not isinstance(value, bool) and value != expected:
        floored = value == int(expected) or value == int(expected / 100)
        pytest.fail(
            f"evaluate() returned the int {value}; the accuracy here is {expected:.4g}%. "
            + ("Integer division floors the accuracy: use / (100 * correct / total)."
               if floored else "Return the accuracy as a float, in percent."),
            pytrace=False,
        )  # fmt: skip
    assert isinstance(value, int | float) and not isinstance(value, bool), (
        f"evaluate() returned a {value['type'] if isinstance(value, dict) else type(value).__name__}; "
        "return a float (a tensor's .item())."
    )
    return float(value)


@pytest.mark.points(3)
def test_evaluate_runs_in_eval_mode_without_gradients(ex3, rng):
    """evaluate() uses eval mode and no gradients"""
    loader = {"kind": "mode", "seed": draw_seed(rng), "n": 60, "batch_size": 12}
    got = ex3.call("ex3.evaluate", loader=loader, sensitive=True)["float"]
    assert got is not None, "evaluate() returned something that is not a number."

    def matches(training: bool, grad: bool) -> bool:
        # percent or fraction: counting is the next test's business, not this one's
        value = probe_accuracy(loader, training=training, grad=grad)
        # a floored percentage ran the net the same way: the next test tells of the floor
        return got in (pytest.approx(value), pytest.approx(value / 100), int(value))

    # the probe predicts differently in training mode and with gradients on: the value says how it ran
    if matches(False, False):
        return
    if matches(True, False):
        pytest.fail(
            "evaluate() ran the net in training mode. Hint: switch the net to evaluation mode "
            "first (dropout and batch-norm behave differently in training).",
            pytrace=False,
        )
    if matches(False, True) or matches(True, True):
        pytest.fail(
            "evaluate() ran with gradients enabled; evaluation should not build a graph.",
            pytrace=False,
        )
    right = probe_accuracy(loader, training=False, grad=False)
    pytest.fail(
        f"evaluate() returned {got:.4g}, but the net run in evaluation mode without gradients "
        f"scores {right:.4g}% on these batches (see the next test for how to count).",
        pytrace=False,
    )


@pytest.mark.points(3)
def test_evaluate_returns_accuracy_in_percent(ex3, rng):
    """evaluate() returns the accuracy in percent over all batches"""
    n = int(torch.randint(60, 120, (1,), generator=rng))
    batch = int(torch.randint(7, n // 5 + 1, (1,), generator=rng))  # 5 batches or more
    loader = {"kind": "mode", "seed": draw_seed(rng), "n": n, "batch_size": batch}
    expected = probe_accuracy(loader, training=False, grad=False, sensitive=False)
    got = returned_float(
        ex3.call("ex3.evaluate", loader=loader, sensitive=False)["value"], expected
    )
    assert got * 100 != pytest.approx(expected) or expected == 0, (
        f"evaluate() returned {got:.4g}, a fraction: the net gets {expected:.4g}% of these "
        f"{n} samples right. Hint: return the accuracy in percent (0-100): multiply by 100."
    )
    assert got == pytest.approx(expected), (
        f"The net gets {expected:.4g}% of these {n} samples right; evaluate() returned {got}. "
        f"Hint: count over every batch (the last one holds {n % batch or batch}) and multiply by 100."
    )


@pytest.mark.points(3)
def test_train_returns_one_epoch_record_per_epoch(ex3, rng):
    """train() returns one EpochRecord per epoch, numbered, with the test accuracy"""
    epochs, lr = draw_epochs(rng), draw_lr(rng)
    obs = train(ex3, rng, n=200, batch_size=40, epochs=epochs, lr=lr)
    records = obs["records"]
    assert len(records) == epochs, (
        f"train(..., epochs={epochs}) returned {len(records)} records; expected one per epoch."
    )
    for i, r in enumerate(records, start=1):
        assert r["is_record"], (
            f"Record {i} is a {r['type']}; build each record with lenet_course.runtime.EpochRecord."
        )
        assert r["epoch"] == i, f"Record {i} has epoch={r['epoch']}; count epochs from 1."
    accuracies = numbers(records, "test_accuracy")
    for v in accuracies:
        assert 0 <= v <= 100, f"test_accuracy should be a percentage from evaluate(); got {v}."
    descends(obs)
    _, final = judged(obs["weights"], 200, obs["seed"] + 1)
    assert accuracies[-1] * 100 != pytest.approx(final, abs=1e-1) or final == 0, (
        f"The last record's test_accuracy is {accuracies[-1]:.4g}, a fraction: the trained net "
        f"scores {final:.2f}% on the test loader. Hint: record the accuracy in percent "
        "(0-100), as evaluate() returns it."
    )
    assert accuracies[-1] == pytest.approx(final, abs=1e-3), (
        f"The last record's test_accuracy is {accuracies[-1]:.2f}, but the trained net scores "
        f"{final:.2f}% on the test loader. Hint: after each epoch, evaluate on the test loader "
        "(not the training loader) and record that value."
    )
    # Whatever the seed, an epoch of training moves the weights: the last pass over the test
    # loader must have seen the trained net, not the net before its last epoch.
    seen = obs["last_evaluated"]
    assert (
        obs["test_passes"] >= epochs
        and seen is not None
        and all(
            torch.equal(seen[name][p], value)
            for name, ps in obs["weights"].items()
            for p, value in ps.items()
        )
    ), (
        f"The test loader was last read before the last epoch's training finished (it was read "
        f"{obs['test_passes']} times for {epochs} epochs). Hint: train the epoch first, then "
        "evaluate on the test loader and record that accuracy."
    )


@pytest.mark.points(2)
@pytest.mark.hidden
def test_recorded_losses_are_the_epoch_means_of_one_adam_run(ex3, rng):
    """Each record's train_loss is its epoch's mean NLL, in one Adam run"""
    # Hidden: whole epochs replayed by the judge's own loop, which is the answer; the visible
    # step tests below show the same causes (one Adam, fresh gradients, the mean) on 6 steps.
    epochs = int(torch.randint(2, 4, (1,), generator=rng))
    lr = [5e-4, 2e-3][int(torch.randint(0, 2, (1,), generator=rng))]
    # The batches of an epoch differ in difficulty by construction (inputs scaled 24x, 8x,
    # 3x, 1x: the loss grows with the scale), so their mean lies far from any one batch's
    # loss, the last one's included, whatever the seed.
    obs = train(ex3, rng, n=200, batch_size=40, epochs=epochs, lr=lr, gains=LOSS_GAINS,
                record=True)  # fmt: skip
    losses = numbers(obs["records"], "train_loss")
    expected, weights = replay(obs["seed"], obs["train"], obs, epochs, lr)
    assert len(losses) == epochs, f"train(..., epochs={epochs}) returned {len(losses)} records."
    for i, (got, want) in enumerate(zip(losses, expected, strict=True), start=1):
        assert got == pytest.approx(want, rel=2e-3), (
            f"Record {i} has train_loss={got:.4f}; the mean NLL over that epoch's batches is "
            f"{want:.4f} (epochs={epochs}, lr={lr}). Hint: average the per-batch losses of the "
            "epoch, and keep one optimizer (and its state) for the whole run."
        )
    fault = weights_agree(obs["weights"], weights, lr)
    assert not fault, (
        f"After {epochs} epochs {fault} from the lecture's loop run on the same batches. Hint: "
        "build one Adam optimizer before the first epoch and keep it (and its state) for the "
        "whole run; one step per batch."
    )


def trained(obs: dict, n: int) -> None:
    """Fail unless the returned weights really learnt the training data (the judge's own
    loss before and after): what a check of the run's manner needs as evidence of a run."""
    descends(obs)
    before, _ = judged(initial(obs["seed"]), n, obs["seed"])
    after, _ = judged(obs["weights"], n, obs["seed"])
    if not after < before - 0.02:
        pytest.fail(
            f"train() did not train the net (its loss on the training data went {before:.3f} "
            f"-> {after:.3f}), so this check has no run to look at. Fix the training first: "
            "see test_training_loss_decreases.",
            pytrace=False,
        )


@pytest.mark.points(2)
def test_train_mode_is_restored_every_epoch(ex3, rng):
    """train() puts the net back in train mode before each epoch"""
    # In training mode this net zeroes fc1's odd-numbered inputs, so those columns of fc1
    # get no gradient and stay as they started; a batch run in eval mode moves them.
    # 20 steps at an lr of 1.5e-3 or more: enough for the net to learn under every seed
    obs = train(ex3, rng, n=400, batch_size=40, epochs=2, lr=draw_lr(rng, 1.5e-3),
                spec=architecture(train_mask=True))  # fmt: skip
    trained(obs, 200)
    start = initial(obs["seed"])["fc1"]["weight"][:, 1::2]
    moved = float((obs["weights"]["fc1"]["weight"][:, 1::2] - start).abs().max())
    assert moved == 0.0, (
        "Some training batches ran in eval mode: evaluate() switched the net to eval and it "
        "stayed there. Hint: switch the net back to training mode at the start of every epoch."
    )


# The pauses are lower bounds that no load can shorten. A busy machine makes the training's
# own compute slower by an unknown amount, so the epochs are never bounded from above by a
# constant: only by the judge's clock, which must also have seen every evaluation pass.
TRAIN_PAUSE, TRAIN_BATCHES = 0.02, 10  # each epoch's training takes at least 0.2 s
EVAL_PAUSE, EVAL_BATCHES = 0.24, 5  # each evaluation takes at least 1.2 s


@pytest.mark.points(2)
def test_epoch_time_is_measured_around_the_epoch(ex3, rng):
    """Each epoch's time covers its training, not the evaluation, and agrees with the clock"""
    seed = draw_seed(rng)
    slow = {**synthetic(20 * TRAIN_BATCHES, seed, 20), "pause": TRAIN_PAUSE}
    slow_test = {**synthetic(10 * EVAL_BATCHES, seed + 1, 10, False), "pause": EVAL_PAUSE}
    start = time.perf_counter()
    obs = ex3.call(
        "ex3.train", spec=SPEC, seed=seed, train=slow, test=slow_test, epochs=2, lr=1e-3,
    )  # fmt: skip
    wall = time.perf_counter() - start
    obs["seed"] = seed
    trained(obs, 20 * TRAIN_BATCHES)
    seconds = numbers(obs["records"], "seconds")
    assert len(seconds) == 2, f"train(..., epochs=2) returned {len(seconds)} records."
    rounded = [round(s, 2) for s in seconds]
    training, evaluation = TRAIN_PAUSE * TRAIN_BATCHES, EVAL_PAUSE * EVAL_BATCHES
    for s in seconds:
        assert s >= training - 0.01, (
            f"Epoch times {rounded} are shorter than an epoch's training (at least "
            f"{training:.2f} s here). Hint: read time.perf_counter() before the first batch "
            "and after the last one."
        )
    # train() ran both evaluations (at least 2 x evaluation) inside the judge's wall time,
    # and outside the epochs' clocks: so the epochs add up to at most the rest.
    outside = wall - 2 * evaluation
    assert sum(seconds) <= outside + 0.05, (
        f"Epoch times {rounded} add up to {sum(seconds):.2f} s, but train() took "
        f"{wall:.2f} s in all, {2 * evaluation:.1f} s or more of it in the two evaluations: "
        "the epoch times include the evaluation or earlier epochs (or evaluate() did not run "
        "once per epoch). Hint: start the clock at the start of each epoch and stop it after "
        "the last training batch, before evaluate()."
    )


def derangement(rng: torch.Generator) -> list[int]:
    """A permutation of the 10 labels that moves every label."""
    while True:
        perm = torch.randperm(10, generator=rng)
        if not (perm == torch.arange(10)).any():
            return perm.tolist()


def own_net_fault(ex3_mnist, rng: torch.Generator) -> str | None:
    """Why the student's own LeNetClassifier is not the lecture's net, or None when it
    computes the lecture's log-probabilities in both modes (judge's weights and images)."""
    x = torch.rand(6, 1, 28, 28, generator=rng)
    weights = realistic_weights(rng, x)
    with torch.no_grad():
        lecture = reference(weights).eval()(x)
    for mode in ("eval", "train"):
        try:
            out = ex3_mnist.call("ex2.forward", seed=0, x=x, weights=weights, mode=mode)["out"]
        except pytest.fail.Exception as exc:
            return f"building or running it failed: {exc}"
        if out.shape != lecture.shape or not torch.allclose(out, lecture, atol=1e-5):
            return (
                f"with the same weights it computes something else than the lecture's LeNet "
                f"with log-softmax (in {mode} mode); see the Exercise 1 and 2 tests"
            )
    return None


@pytest.fixture(scope="module")
def mnist_run(ex3_mnist, grading_seed, mnist_root) -> dict:
    """One 10-epoch run of the student's train() on secretly relabelled MNIST, shared by the
    two tests that need it: on the student's own LeNetClassifier when that is the lecture's
    net, else on the kit's. The judge evaluates the returned weights itself."""
    rng = torch.Generator().manual_seed(grading_seed * 1_000_003 + 95)
    fault = own_net_fault(ex3_mnist, rng)
    # This run's secret relabelling: weights brought along cannot know it.
    perm, seed = derangement(rng), draw_seed(rng)
    mnist = {"kind": "mnist", "permutation": perm, "batch_size": 100}
    try:
        obs = ex3_mnist.call(
            "ex3.train", spec=SPEC, seed=seed, own_net=fault is None, epochs=EPOCHS, lr=1e-3,
            train={**mnist, "train": True, "shuffle": True, "seed": seed},
            test={**mnist, "train": False, "batch_size": 1000}, device="auto",
            timeout=ex3_mnist.train_seconds,
        )  # fmt: skip
    except pytest.fail.Exception as exc:
        return {"fault": fault, "error": str(exc)}
    try:
        net = lenet(weights=obs["weights"])
    except (KeyError, ValueError, StudentFailure) as exc:
        return {
            "fault": fault,
            "error": f"the trained net's weights do not fit the lecture's LeNet ({exc}).",
        }
    images, digits = data.load_split(mnist_root, train=False)
    x, y = data.to_inputs(images), torch.tensor(perm)[digits]
    score = accuracy(net, x, y)  # the judge's own evaluation, on its own relabelled test set
    # Weights brought along can learn the relabelling from the training batches' labels;
    # they cannot carry the imprint of the init this run drew, nor fake it by blending it in.
    start = initial(seed)
    foreign = imprint_fault(start, obs["weights"])
    rest = lenet(weights=without_init(start, obs["weights"]))
    alone, growth = accuracy(rest, x, y), mean_nll(rest, x, y) / max(mean_nll(net, x, y), 1e-12)
    if not foreign and score > PASS_ACCURACY and not growth >= INIT_LOSS_GROWTH_MIN:
        foreign = (  # the init blended into weights from elsewhere: its share is mere noise
            f"without the share of the weights the net started from, their test loss grows "
            f"only x{growth:.2f} (weights trained here from that start need it: theirs grows "
            f"x{INIT_LOSS_GROWTH_MIN:.0f} or more), so the rest was trained elsewhere"
        )
    return {
        "fault": fault, "error": None, "accuracy": score, "alone": alone, "growth": growth,
        "imprint": imprint(start, obs["weights"]), "foreign": foreign,
    }  # fmt: skip


def accuracy_of(run: dict, record_property) -> float:
    """The judge's accuracy of the run's weights; fails the test unless they are this run's."""
    if run["error"]:
        pytest.fail(run["error"], pytrace=False)
    cosines = ", ".join(f"{k} {v:.2f}" for k, v in run["imprint"].items())
    record_property(
        "note",
        f"grader's own evaluation: {run['accuracy']:.2f}% test accuracy; imprint of the "
        f"starting weights (cosine per layer): {cosines}; without it: {run['alone']:.2f}% "
        f"and the test loss x{run['growth']:.2f}",
    )
    if run["foreign"]:
        pytest.fail(
            f"These weights score {run['accuracy']:.2f}%, but they do not come from this run: "
            f"{run['foreign']}. Only weights trained here, from the net train() was given, "
            "count. Hint: train the net passed to train(); do not re-initialise it or load "
            "weights into it.",
            pytrace=False,
        )
    return run["accuracy"]


@pytest.mark.points(5)
@pytest.mark.slow
@pytest.mark.mnist
def test_training_on_mnist_exceeds_the_pass_accuracy(mnist_run, record_property):
    """{EPOCHS} epochs on real MNIST reach more than {PASS_ACCURACY:g}% test accuracy"""
    accuracy = accuracy_of(mnist_run, record_property)
    assert accuracy > PASS_ACCURACY, (
        f"After {EPOCHS} epochs the grader measured {accuracy:.2f}% test accuracy, below "
        f"{PASS_ACCURACY:g}%. Hint: "
        "check the learning rate you were given, that every batch takes an optimizer step, and "
        "that gradients are zeroed."
    )


@pytest.mark.points(3)
@pytest.mark.slow
@pytest.mark.mnist
def test_your_own_pipeline_exceeds_the_pass_accuracy(mnist_run, record_property):
    """Capstone: your LeNetClassifier, trained by your train() for {EPOCHS} epochs, exceeds {PASS_ACCURACY:g}%"""
    if mnist_run["fault"]:
        pytest.fail(
            "This failed because of Exercises 1-2, not this file: your LeNetClassifier is not "
            f"the lecture's net ({mnist_run['fault']}).",
            pytrace=False,
        )
    accuracy = accuracy_of(mnist_run, record_property)
    assert accuracy > PASS_ACCURACY, (
        f"Your own LeNetClassifier, trained by your train(), reached {accuracy:.2f}% after "
        f"{EPOCHS} epochs (the grader's own evaluation), below {PASS_ACCURACY:g}%. Your net "
        "computes the lecture's "
        "outputs, so look at train(): see the previous test's hint."
    )
