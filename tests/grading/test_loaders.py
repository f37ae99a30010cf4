"""What a student's code receives behaves as in an ordinary PyTorch program: the loaders
are DataLoaders over a dataset, the net the kit builds pickles and deep-copies, and numpy's
scalars are numbers. The judge's watching lives inside the loader, never replacing it."""

from __future__ import annotations

import copy
import io

import numpy as np
import torch
from torch.utils.data import DataLoader

from lenet_course.grading.judge.spec import architecture
from lenet_course.grading.sandbox.probes import (
    build_net,
    make_loader,
    named_weights,
    number,
    served_batches,
    watch_passes,
)

SPEC = {"kind": "synthetic", "n": 230, "seed": 4, "batch_size": 50, "shuffle": False}


def test_the_loader_a_student_gets_is_a_dataloader_with_its_dataset_and_batch_size():
    loader = make_loader(SPEC)
    assert isinstance(loader, DataLoader)
    assert len(loader.dataset) == 230 and loader.batch_size == 50 and len(loader) == 5
    first = [labels for _, labels in loader]
    again = [labels for _, labels in loader]
    assert [len(b) for b in first] == [50, 50, 50, 50, 30]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    # the pytorch/examples way of computing an accuracy reads the dataset's length
    assert 100.0 * sum(len(b) for b in first) / len(loader.dataset) == 100.0


def test_gains_scale_each_place_in_a_pass_and_the_judge_rebuilds_the_served_batches():
    spec = {**SPEC, "gains": [24.0, 8.0, 3.0, 1.0, 0.5], "shuffle": True}
    loader = make_loader(spec, record=True)
    x, _ = loader.dataset.tensors
    for _ in range(2):
        batches = list(loader)
    served = loader.dataset.served
    assert [(p, place) for p, place, _ in served] == [(1, i) for i in range(5)] + [
        (2, i) for i in range(5)
    ]
    last_pass = served[5:]
    for (inputs, _), (_, place, idx) in zip(batches, last_pass, strict=True):
        assert torch.equal(inputs, x[idx] * spec["gains"][place])
    rebuilt = served_batches(spec, last_pass)
    assert all(
        torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
        for a, b in zip(rebuilt, batches, strict=True)
    )
    # shuffled: the second pass is another order
    assert not torch.equal(served[0][2], served[5][2])


def test_each_pass_notes_the_weights_it_began_with():
    net = build_net(architecture(), 3)
    loader = make_loader(SPEC)
    seen = watch_passes(loader, net)
    list(loader)
    with torch.no_grad():
        net.fc3.bias.add_(1.0)
    list(loader)
    assert len(seen) == 2
    assert torch.equal(seen[1]["fc3"]["bias"], seen[0]["fc3"]["bias"] + 1.0)


def test_the_net_the_kit_builds_pickles_and_deep_copies_like_a_students_own():
    net = build_net(architecture(), 5)
    buffer = io.BytesIO()
    torch.save(net, buffer)  # a checkpoint of the whole model, as tutorials write it
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    twin = copy.deepcopy(net)
    x = torch.rand(3, 1, 28, 28)
    assert type(loaded).__name__ == "LeNet"
    assert torch.equal(loaded(x), net(x)) and torch.equal(twin(x), net(x))
    assert named_weights(loaded).keys() == named_weights(net).keys()


def test_numpy_scalars_are_numbers_and_tensors_are_not():
    assert number(np.float64(97.5)) == 97.5 and isinstance(number(np.float64(97.5)), float)
    assert number(np.float32(0.25)) == 0.25 and isinstance(number(np.float32(0.25)), float)
    assert number(np.int64(3)) == 3 and isinstance(number(np.int64(3)), int)
    assert number(torch.tensor(1.0)) == {"type": "Tensor"}
