"""The judge reads a layer by its values, however forward reaches it: the worker observes
conv2d and linear calls by the identity of the layer's weight tensor, not module hooks."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lenet_course.grading.judge.runner import grade
from lenet_course.grading.sandbox import probes
from lenet_course.kit import kit_root
from tests.grading.conftest import FAST, SMALL


class Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.fc1 = nn.Conv2d(1, 2, 3), nn.Linear(8, 3)
        self.other = nn.Linear(8, 3)

    def forward(self, x):
        x = F.max_pool2d(torch.conv2d(x, self.conv1.weight, self.conv1.bias), 2)  # (N, 2, 2, 2)
        x = x.flatten(1)
        return F.linear(x, weight=self.fc1.weight, bias=self.fc1.bias) + self.other(x)


def test_layer_trace_sees_functional_calls_with_a_layers_weight_and_nothing_else():
    net = Functional()
    x = torch.randn(3, 1, 6, 6)
    with torch.no_grad(), probes.LayerTrace(net) as trace:
        net(x)
    assert set(trace.seen) == {"conv1:in", "conv1:out", "fc1:in", "fc1:out"}
    assert torch.equal(trace.seen["conv1:in"], x)
    assert torch.equal(trace.seen["conv1:out"], F.conv2d(x, net.conv1.weight, net.conv1.bias))
    assert trace.seen["fc1:in"].shape == (3, 8) and trace.seen["fc1:out"].shape == (3, 3)


def test_a_lenet_that_calls_the_functional_ops_with_its_layers_weights_scores_in_full():
    """F.conv2d and F.linear with the layers' own weights compute the lecture's LeNet: all
    25 points of Exercise 1 (module hooks never fired for it and cost it 15)."""
    variant = kit_root() / "tests" / "grading" / "variants" / "functional"
    report = grade(variant, SMALL, full=False, exercises=("ex1_lenet",))
    lost = {t.title: t.message for t in report.tests if t.score < t.max_score}
    assert report.score == report.max_score == FAST["ex1_lenet"], lost
