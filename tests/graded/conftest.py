"""The judge's side of the graded tests: workers for each exercise, and references.

Nothing here imports a submission. Each fixture below is a handle on a jailed worker that
runs the student's code; the tests send it plain data and compare what comes back with
references computed here, from this run's random cases.
"""

from __future__ import annotations

import pytest
import torch

from lenet_course.grading.judge.spec import architecture, lenet
from lenet_course.grading.sandbox.probes import named_weights


def draw_seed(rng: torch.Generator) -> int:
    return int(torch.randint(0, 2**31 - 1, (1,), generator=rng))


def random_weights(rng: torch.Generator) -> dict:
    """Named weights of a freshly initialised LeNet, drawn from this run's generator."""
    return named_weights(lenet(draw_seed(rng)))


ACTIVATION_PEAK = 30.0  # a trained LeNet's activations reach the tens


def realistic_weights(rng: torch.Generator, x: torch.Tensor) -> dict:
    """This run's weights, each layer scaled in turn so that its largest output on ``x`` in
    the lecture's net is ``ACTIVATION_PEAK`` in size, as a trained net's are: an activation
    that clips (ReLU6, hardtanh, a clamp) then computes something else than a ReLU, and
    shows. Init weights on images in [0, 1] stay below 6 everywhere."""
    weights = random_weights(rng)
    for name in weights:
        seen = {}
        net = reference(weights)
        layer = getattr(net, name)
        hook = layer.register_forward_hook(lambda m, i, out, seen=seen: seen.update(out=out))
        with torch.no_grad():
            net.eval()(x)
        hook.remove()
        scale = ACTIVATION_PEAK / max(float(seen["out"].abs().max()), 1e-6)
        weights[name] = {p: value * scale for p, value in weights[name].items()}
    return weights


def reference(weights: dict) -> torch.nn.Module:
    """The lecture's LeNet (log-probabilities out) holding ``weights``."""
    return lenet(weights=weights)


def images(rng: torch.Generator, n: int) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=rng)


@pytest.fixture(scope="session")
def ex1(worker_factory):
    return worker_factory("ex1_lenet")


@pytest.fixture(scope="session")
def ex2(worker_factory):
    # A trusted Exercise 1 stands in for the student's, so Exercise 2 scores on its own.
    return worker_factory("ex2_log_softmax", standin=architecture(log_softmax=False))


@pytest.fixture(scope="session")
def ex3(worker_factory):
    return worker_factory("ex3_train")


@pytest.fixture(scope="session")
def ex3_mnist(worker_factory, mnist_root):
    return worker_factory("ex3_train", data_root=mnist_root)


@pytest.fixture(scope="session")
def ex4(worker_factory):
    return worker_factory("ex4_kernels")
