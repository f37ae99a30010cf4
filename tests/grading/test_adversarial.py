"""Hostile submissions, one group per threat: each cheat earns exactly zero on what it
targets, the rest of the submission is graded as usual, and nothing outside the jail's
scratch changes. In CI this runs as root, so the cheats face the real jail.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import time

import pytest
import torch

from lenet_course import data
from lenet_course.grading.classroom.gradebook import grade_all, read_report
from lenet_course.grading.jail import levels
from lenet_course.grading.jail.limits import Limits
from lenet_course.grading.judge import runner
from lenet_course.grading.judge.catalog import catalog
from lenet_course.grading.judge.spec import IMPRINT_MIN
from lenet_course.kit import kit_root
from lenet_course.model import LeNet
from tests.grading.conftest import (
    FAST,
    FAST_MAX,
    SMALL,
    by_name,
    fast_grade,
    worker_can_start_or_skip,
)

# The fast suite meets the level the machine gives (bwrap in CI); `nox -s validation` (CI runs
# it too) meets every cheat the jail stops again at the landlock and reduced levels, forced by
# LENET_JAIL, and `nox -s jail_nonroot` (CI) at the levels a grader that is not root gets.
LEVELS = [
    pytest.param("auto"),
    pytest.param("landlock", marks=pytest.mark.validation),
    pytest.param("reduced", marks=pytest.mark.validation),
]


# A cheat that the judge stops, not the jail (made-up records, a start of its own, weights
# brought along, answers written on the reply pipe every level hands the worker), meets the
# machine's level only: the judge's process and code are the same at every level, and each
# such case at every level cost CI about nine minutes. Nor does the grader's uid change them:
# `nox -s jail_nonroot` deselects them (marker judge_side).
def judge_stops_it(test):
    """Meet the machine's level only, and be left out of `nox -s jail_nonroot`."""
    return pytest.mark.judge_side(
        pytest.mark.parametrize("jail_level", ["auto"], indirect=True)(test)
    )


@pytest.fixture(autouse=True, params=LEVELS)
def jail_level(request, monkeypatch):
    """The level each cheat faces; skipped, with the grader's reason, where a worker cannot
    start at it (a venv in a folder the worker's uid cannot enter)."""
    if request.param == "reduced" and os.geteuid() != 0:
        pytest.skip("the reduced level gives a uid of its own, which needs a grader run as root")
    if request.param != "auto":
        monkeypatch.setenv(levels.ENV_VAR, request.param)
    levels.level.cache_clear()
    try:  # a skip must not leave this level cached for the tests that follow
        chosen = levels.level()
        worker_can_start_or_skip(chosen)
        yield chosen
    finally:
        levels.level.cache_clear()


SOLUTIONS = {p.stem: p.read_text() for p in (kit_root() / "solutions").glob("ex*.py")}
KERNEL_CHANGE = "    return {name: after[name] - before[name] for name in before}\n"


OTHER_THAN = {e: tuple(x for x in SOLUTIONS if x != e) for e in SOLUTIONS}


def points(report, exercise: str) -> int:
    return sum(t.score for t in report.tests if t.exercise == exercise)


def failed(report, exercise: str | None = None) -> dict[str, str]:
    return {
        t.nodeid.split("::")[-1]: t.message
        for t in report.tests
        if t.status == "failed" and exercise in (None, t.exercise)
    }


# --- 1. changing a verdict ---------------------------------------------------------------

LYING_KERNEL_CHANGE = """
    import glob, json, os, torch

    class Liar(torch.Tensor):  # claims to equal anything
        def __eq__(self, other):
            return True

        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            return True if func.__name__ in ("allclose", "equal") else super().__torch_function__(func, types, args, kwargs or {})

    torch.allclose = lambda *a, **k: True  # the comparison functions, patched here
    torch.equal = lambda *a, **k: True
    for path in glob.glob("{kit}/tests/graded/*.py"):  # edit the tests
        open(path, "w").write("")
    for fd in os.listdir("/proc/self/fd"):  # forge a reply on every channel in reach
        for guess in range(1, 50):
            try:
                os.write(int(fd), (json.dumps({"id": guess, "ok": True, "value": {}}) + "\\n").encode())
            except OSError:
                pass
    return {k: torch.zeros_like(v).as_subclass(Liar) for k, v in before.items()}
"""


def test_lying_tensors_patched_comparisons_and_forged_replies_earn_nothing(submission, untouched):
    lying = LYING_KERNEL_CHANGE.replace("{kit}", str(kit_root()))
    sub = submission({"ex4_kernels": (KERNEL_CHANGE, lying)}, drop=OTHER_THAN["ex4_kernels"])
    report = fast_grade(sub)
    assert "test_kernel_change_is_after_minus_before" in failed(report)
    change = next(
        i["points"]
        for i in catalog()
        if i["nodeid"].endswith("::test_kernel_change_is_after_minus_before")
    )
    assert points(report, "ex4_kernels") == FAST["ex4_kernels"] - change, failed(report)


# --- 2. reusing the kit's reference code or the solutions ---------------------------------

BORROWED_EX1 = '''
"""Exercise 1, borrowed from the kit in every way a student might try."""
import importlib, inspect, glob, sys
import pytest
import torch
from torch import nn

LeNet = None
for attempt in (
    lambda: importlib.import_module("lenet_course.model").LeNet,
    lambda: importlib.import_module("solutions.ex1_lenet").LeNet,
    lambda: _exec(open({solution!r}).read())["LeNet"],
    lambda: _exec("".join(open(p).read() for p in glob.glob({kit!r} + "/*/ex1_lenet.py")))["LeNet"],
):
    try:
        LeNet = attempt()
        break
    except BaseException:
        continue


def _exec(src):
    ns = {{"__name__": "borrowed"}}
    exec(src, ns)
    return ns
'''
BORROWED_EX3 = """
import importlib
from lenet_course.runtime import EpochRecord


def evaluate(net, loader, device="cpu"):
    return importlib.import_module("lenet_course.engine").evaluate(net, loader, device)


def train(net, train_loader, test_loader, *, epochs=10, lr=1e-3, device="cpu"):
    ns = {{}}
    exec(open({solution!r}).read(), ns)
    return ns["train"](net, train_loader, test_loader, epochs=epochs, lr=lr, device=device)
"""


def test_borrowing_the_reference_or_the_solutions_earns_nothing(submission, untouched, jail_level):
    ex1 = BORROWED_EX1.format(
        solution=str(kit_root() / "solutions" / "ex1_lenet.py"), kit=str(kit_root())
    )
    ex3 = BORROWED_EX3.format(solution=str(kit_root() / "solutions" / "ex3_train.py"))
    report = fast_grade(submission(replace={"ex1_lenet": ex1, "ex3_train": ex3}))
    if jail_level == "reduced":  # the kit's files are world-readable: the report must say so
        assert "the filesystem was not hidden" in " ".join(report.notes), report.notes
        return
    assert points(report, "ex1_lenet") == 0 and points(report, "ex3_train") == 0
    assert points(report, "ex2_log_softmax") == FAST["ex2_log_softmax"], (
        "Exercise 2 stands on a trusted Exercise 1"
    )
    assert points(report, "ex4_kernels") == FAST["ex4_kernels"]


# --- 3. bringing results instead of computing them ----------------------------------------

MADE_UP_RECORDS = """
from lenet_course.runtime import EpochRecord


def evaluate(net, loader, device="cpu"):
    raise NotImplementedError


def train(net, train_loader, test_loader, *, epochs=10, lr=1e-3, device="cpu"):
    return [EpochRecord(e, 2.3 / e, 90.0 + e, 0.5) for e in range(1, epochs + 1)]
"""

BROUGHT_ALONG = """
import base64, io, torch
from lenet_course.runtime import EpochRecord

WEIGHTS = "{weights}"


def evaluate(net, loader, device="cpu"):
    raise NotImplementedError


def train(net, train_loader, test_loader, *, epochs=10, lr=1e-3, device="cpu"):
    start = {{name: layer.weight.detach().clone() for name, layer in net.named_children()}}
    state = torch.load(io.BytesIO(base64.b64decode(WEIGHTS)), weights_only=True)
    net.load_state_dict(state)
    if {relabel}:  # learn this run's secret labels from the first batches, permute fc3 to match
        votes = torch.zeros(10, 10)
        with torch.no_grad():
            for i, (inputs, labels) in enumerate(train_loader):
                if i == 20:
                    break
                digits = net(inputs.to(device)).argmax(1).cpu()
                votes.index_put_((labels.cpu(), digits), torch.ones(len(labels)), accumulate=True)
            row_for = votes.argmax(1)  # secret label -> the digit it stands for
            net.fc3.weight.copy_(net.fc3.weight[row_for].clone())
            net.fc3.bias.copy_(net.fc3.bias[row_for].clone())
    with torch.no_grad():  # fake the imprint: blend the given start back in, just enough
        for name, share in {blend}.items():
            theirs, mine = start[name].double(), getattr(net, name).weight.double()
            low, high = 0.0, 100.0
            for _ in range(60):
                mid = (low + high) / 2
                mixed = mine + mid * theirs
                cosine = (mixed * theirs).sum() / (mixed.norm() * theirs.norm())
                low, high = (mid, high) if cosine < share else (low, mid)
            getattr(net, name).weight.copy_(mine + high * theirs)
    return [EpochRecord(e, 0.05, 98.0, 1.0) for e in range(1, epochs + 1)]
"""

# A train() that trains honestly, but from a start of its own: the weights it returns learnt
# the data, and descend from another init than the one the judge seeded.
OWN_START = (
    "    device = torch.device(device)\n",
    "    torch.manual_seed(12345)\n"
    "    for layer in net.children():\n"
    "        layer.reset_parameters()\n"
    "    device = torch.device(device)\n",
)


@judge_stops_it
def test_made_up_epoch_records_earn_nothing(submission, untouched):
    report = fast_grade(
        submission(replace={"ex3_train": MADE_UP_RECORDS}, drop=OTHER_THAN["ex3_train"])
    )
    assert points(report, "ex3_train") == 0, failed(report)


@judge_stops_it
def test_training_from_a_start_of_its_own_earns_nothing_for_the_trained_weights(
    submission, untouched
):
    report = fast_grade(submission({"ex3_train": OWN_START}, drop=OTHER_THAN["ex3_train"]))
    lost = failed(report, "ex3_train")
    weighed = {  # every test that scores the weights train() returns, or needs them trained
        "test_training_loss_decreases", "test_train_returns_one_epoch_record_per_epoch",
        "test_train_mode_is_restored_every_epoch", "test_epoch_time_is_measured_around_the_epoch",
        "test_each_step_equals_a_reference_adam_nll_step",
        "test_a_short_last_batch_is_a_step_too",
        "test_recorded_losses_are_the_epoch_means_of_one_adam_run",
    }  # fmt: skip
    watched = {  # the steps of a run that did not start from the given weights
        "test_one_adam_over_the_given_net_takes_every_step",
        "test_every_step_uses_the_fresh_gradient_of_its_batch",
        "test_each_record_holds_the_mean_of_its_epochs_batch_losses",
    }
    assert set(lost) == weighed | watched, lost
    for name in weighed - {"test_each_step_equals_a_reference_adam_nll_step",
                           "test_a_short_last_batch_is_a_step_too",
                           "test_recorded_losses_are_the_epoch_means_of_one_adam_run"}:  # fmt: skip
        assert "no trace of the weights the net started from" in lost[name], lost[name]
    for name in watched:
        assert "re-initialised the net" in lost[name], lost[name]
    evaluate = [i for i in catalog() if "test_evaluate_" in i["nodeid"]]
    # the two tests of evaluate() still count
    assert points(report, "ex3_train") == sum(i["points"] for i in evaluate)


@pytest.fixture(scope="module")
def pretrained(mnist_root) -> str:
    """A LeNet's weights after 3 epochs on MNIST's own labels (98.2%), base64."""
    torch.manual_seed(0)
    net = LeNet()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    train_loader, _ = data.tensor_loaders(mnist_root, batch_size=100)
    for _ in range(3):
        for inputs, labels in train_loader:
            optimizer.zero_grad()
            torch.nn.functional.nll_loss(net(inputs), labels).backward()
            optimizer.step()
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    return base64.b64encode(buf.getvalue()).decode()


BLEND = {k: v + 0.02 for k, v in IMPRINT_MIN.items()}  # each layer just over the threshold
# Under this grading seed the blend scores 98.2% (the judge's init, measured beside the
# thresholds): the accuracy test alone would pay it. Most seeds give 95-98%.
BLEND_SEED = 7


@pytest.mark.validation  # 97 s (weights trained first): the README command stays short
@judge_stops_it
@pytest.mark.parametrize(
    ("relabel", "blend"),
    [(False, {}), (True, {}), (True, BLEND)],
    ids=["as-trained", "relabelled-from-batches", "relabelled-and-blended-into-the-init"],
)
def test_weights_brought_along_earn_nothing_even_when_they_learn_the_relabelling(
    relabel, blend, pretrained, submission, monkeypatch, mnist_root, untouched
):
    """Weights trained beforehand meet this run's secret relabelling; a train() that learns it
    from the first batches' labels and permutes fc3 to match scores well above 95% on the
    judge's own test set (red team, issue 19), and earns nothing: its weights keep no trace
    of the init this run seeded. Blending that init back in, just enough to pass the imprint
    check, leaves a part that is a trained net on its own: nothing again."""
    cheat = BROUGHT_ALONG.format(weights=pretrained, relabel=relabel, blend=blend)
    monkeypatch.setattr(runner, "MAX_FILE_BYTES", 10 * 1024 * 1024)  # past the size check
    sub = submission(replace={"ex3_train": cheat}, drop=OTHER_THAN["ex3_train"])
    seed = BLEND_SEED if blend else None
    report = runner.grade(sub, SMALL, full=True, data_root=mnist_root, seed=seed)
    mnist = by_name(report)["test_training_on_mnist_exceeds_the_pass_accuracy"]
    assert mnist.score == 0 and "do not come from this run" in mnist.message, mnist.message
    scored = float(re.search(r"These weights score ([\d.]+)%", mnist.message).group(1))
    if blend:  # the imprint is faked, and the init's share is worth nothing to the rest
        assert scored > 95.0 and "trained elsewhere" in mnist.message, mnist.message
    elif relabel:  # the case would pass on accuracy alone: the imprint is what stops it
        assert scored > 95.0 and "no trace" in mnist.message, mnist.message
    else:
        assert scored < 50.0, mnist.message
    assert report.score == 0


def test_oversized_exercise_files_are_refused_with_a_reason(submission):
    padded = SOLUTIONS["ex3_train"] + "\n# " + "0" * (runner.MAX_FILE_BYTES + 10) + "\n"
    report = fast_grade(submission(replace={"ex3_train": padded}, drop=OTHER_THAN["ex3_train"]))
    ex3 = [t for t in report.tests if t.exercise == "ex3_train" and t.status != "skipped"]
    assert ex3 and all(t.score == 0 and "larger than" in t.message for t in ex3)


# --- 4. outliving the grading; escaping the test ------------------------------------------

ESCAPES = {
    # test function -> (file, anchor, attack) ; each attack costs only the tests calling it
    "kernel_change": ("ex4_kernels", KERNEL_CHANGE, "    import sys\n    sys.exit(0)\n"),
    "plot": ("ex4_kernels", "    fig, axes = plt.subplots(2, 6, figsize=(9, 3.4))\n",
             # a shell, not sys.executable: a venv whose interpreter lies in a folder the
             # worker's uid cannot enter (root's 0700 home) cannot be run again from inside
             "    import os, subprocess\n"
             "    subprocess.Popen(['/bin/sh', '-c', 'setsid sleep 600.4242 & sleep 600.4242'],\n"
             "                     start_new_session=True)\n"
             "    os._exit(0)\n"),
    "snapshot": ("ex4_kernels", "    return {\n        \"conv1\": net.conv1.weight", "    while True:\n        pass\n"),
    "classifier": ("ex2_log_softmax", "        return F.log_softmax(super().forward(x), dim=1)\n",
                   "        hoard = []\n        while True:\n            hoard.append(bytearray(256 * 1024 * 1024))\n"),
}  # fmt: skip


def test_exits_kills_hangs_and_memory_hogs_cost_only_their_own_tests(submission, untouched):
    edits: dict[str, str] = {}
    for name, (file, anchor, attack) in ESCAPES.items():
        text = edits.get(file, SOLUTIONS[file])
        assert anchor in text, name
        edits[file] = text.replace(anchor, attack + anchor)
    limits = Limits(test_seconds=8, submission_seconds=600, memory_mb=4096)
    start = time.monotonic()
    report = fast_grade(submission(replace=edits, drop=("ex1_lenet", "ex3_train")), limits)
    lost = failed(report)
    assert set(lost) == {
        "test_kernel_change_is_after_minus_before",  # sys.exit
        "test_plot_has_one_image_per_kernel_slice",  # os._exit, after starting an escapee
        "test_each_image_shows_its_kernel_slice",
        "test_snapshots_are_copies_that_training_cannot_change",  # endless loop
        "test_snapshots_have_the_kernel_shapes",
        "test_rows_are_log_probabilities",  # memory hog
        "test_output_is_log_softmax_of_the_lenet_scores",
        "test_batch_of_one_normalises_over_the_classes",
        "test_stays_finite_for_huge_scores",
        "test_each_row_is_stabilised_by_its_own_maximum",
    } | {
        t.nodeid.split("::")[-1]
        for t in report.tests
        if t.exercise in ("ex1_lenet", "ex3_train") and t.status != "skipped"
    }, lost
    assert report.score == 0
    assert "SystemExit" in lost["test_kernel_change_is_after_minus_before"]
    assert "ended in the middle" in lost["test_plot_has_one_image_per_kernel_slice"]
    assert "ran out of time" in lost["test_snapshots_have_the_kernel_shapes"]
    assert "memory" in lost["test_rows_are_log_probabilities"].lower()
    assert time.monotonic() - start < 180
    from tests.grading.test_jail import jailed_uids, survivors

    time.sleep(0.5)
    assert not survivors("600.4242"), "a process started by the submission outlived its grading"
    if os.geteuid() == 0:  # and nothing at all of a worker's own uid
        assert not jailed_uids(), "a process started by the submission outlived its grading"


# --- 5. other submissions in grade-all ----------------------------------------------------

MALLORY_EX1 = """
import json, os, shutil
from torch import nn

for path in ({alice_results!r}, {alice_report!r}):  # void a classmate's report
    try:
        with open(path, "w") as fh:
            fh.write("garbage")
    except OSError:
        pass
try:  # copy a classmate's work
    exec(open({alice_ex1!r}).read())
except OSError:
    pass
"""


@pytest.mark.validation  # 57 s at one level (a class graded twice): the README command stays short
def test_a_classmate_cannot_be_read_or_sabotaged_in_grade_all(tmp_path, submission, untouched):
    from tests.grading.conftest import make_submission

    folder = tmp_path / "class"
    make_submission(folder / "alice")
    grades = tmp_path / "grades"
    mallory = MALLORY_EX1.format(
        alice_results=str(grades / "alice" / "results.json"),
        alice_report=str(grades / "alice" / "report.json"),
        alice_ex1=str(folder / "alice" / "ex1_lenet.py"),
    )
    make_submission(
        folder / "mallory", replace={"ex1_lenet": mallory}, drop=OTHER_THAN["ex1_lenet"]
    )
    outcomes = grade_all(folder, grades, SMALL, jobs=2, full=False, allow_partial=True)
    assert [o.status for o in outcomes] == ["graded", "graded"]
    alice, mal = (
        read_report(grades / "alice" / "report.json"),
        read_report(grades / "mallory" / "report.json"),
    )
    assert alice is not None and alice["score"] == FAST_MAX
    assert json.loads((grades / "alice" / "results.json").read_text())["score"] == FAST_MAX
    assert sum(t["score"] for t in mal["tests"] if t["exercise"] == "ex1_lenet") == 0
    # a rerun trusts the reports it wrote, and regrades what changed or was damaged
    (grades / "mallory" / "report.json").write_text("garbage")
    again = grade_all(folder, grades, SMALL, jobs=2, full=False, allow_partial=True)
    assert {o.student: o.status for o in again} == {"alice": "skipped", "mallory": "graded"}


# --- 6. the network: see tests/grading/test_jail.py (a server on the host's loopback) ------


# --- the jail costs a correct submission nothing ------------------------------------------


def test_a_correct_submission_written_differently_scores_the_whole_fast_tier():
    """Containers behind named layers, a hand-written log-softmax, another loop style and
    rescaled kernel images: all correct, so all points."""
    report = fast_grade(kit_root() / "tests" / "grading" / "variants" / "different")
    assert report.score == FAST_MAX, failed(report)


# --- 3b. bringing observations: answers forged on the worker's own reply pipe --------------

FORGER = '''
"""No LeNet and no training loop: at import, find the worker's reply pipe and the request in
its frames, and answer every probe with the observation the tests look for: the lecture's
shapes, tensors of the right sizes, made-up epoch records, untrained weights."""
import os, sys
import torch
from lenet_course.grading.sandbox import probes
from lenet_course.grading.sandbox import protocol

SHAPES = {"conv1": [6, 1, 5, 5], "conv2": [16, 6, 5, 5], "fc1": [120, 256], "fc2": [84, 120],
          "fc3": [10, 84]}
STAGES = {"conv1:out": [6, 24, 24], "conv2:in": [6, 12, 12], "conv2:out": [16, 8, 8],
          "fc1:in": [256], "fc1:out": [120], "fc2:in": [120], "fc2:out": [84], "fc3:in": [84],
          "fc3:out": [10]}


def answer(op, args):
    if op == "ex1.build":
        layers = {k: {"weight": torch.rand(v), "bias": torch.rand(v[:1])} for k, v in SHAPES.items()}
        return {"layers": layers, "parameters": [t for l in layers.values() for t in l.values()]}
    if op == "ex1.forward":
        x = args["x"]
        stages = {k: torch.rand(len(x), *v) for k, v in STAGES.items()}
        stages["conv1:in"] = x
        return {"out": stages["fc3:out"], "stages": stages, "single": stages["fc3:out"]}
    if op == "ex3.train":
        net = probes.build_net(args["spec"], args["seed"])
        records = [{"is_record": True, "type": "EpochRecord", "epoch": e + 1,
                    "train_loss": 2.3 - 0.2 * e, "test_accuracy": 60.0 + e, "seconds": 0.5}
                   for e in range(args["epochs"])]
        return {"records": records, "weights": probes.named_weights(net)}
    if op == "ex3.evaluate":
        return {"value": 50.0, "float": 50.0}
    return None


frame = sys._getframe()
while frame is not None:
    seen = frame.f_locals
    if "replies" in seen and isinstance(seen.get("request"), dict):
        request = seen["request"]
        value = answer(request["op"], protocol.decode(request.get("args", {})))
        if value is not None:
            reply = {"id": request["id"], "ok": True, "value": protocol.encode(value)}
            protocol.write_all(seen["replies"], protocol.dumps(reply))
            os._exit(0)
    frame = frame.f_back
'''


@judge_stops_it
@pytest.mark.parametrize("exercise", ["ex1_lenet", "ex3_train"])
def test_observations_forged_on_the_reply_pipe_earn_nothing(submission, untouched, exercise):
    """The worker runs the kit's probe code next to the student's, so a submission can write
    its own answers on the reply pipe; a forged answer holds no computed values, and every
    test needs them: the layers' values from seeded re-initialisation, each layer's output
    from its input, the judge's own loss of the returned weights."""
    report = fast_grade(submission(replace={exercise: FORGER}, drop=OTHER_THAN[exercise]))
    assert points(report, exercise) == 0, failed(report)
