"""The judge's imprint measures: what trained weights keep of the init they started from."""

from __future__ import annotations

import torch

from lenet_course.grading.judge.spec import (
    IMPRINT_MIN,
    imprint,
    imprint_fault,
    lenet,
    without_init,
)
from lenet_course.grading.sandbox.probes import named_weights


def copy(weights: dict) -> dict:
    return {k: {p: v.detach().clone() for p, v in d.items()} for k, d in weights.items()}


def test_weights_from_another_init_show_no_imprint_and_fail_every_layer():
    start, other = named_weights(lenet(1)), named_weights(lenet(2))
    assert all(abs(v - 1.0) < 1e-9 for v in imprint(start, start).values())
    assert imprint_fault(start, start) is None
    cosines = imprint(start, other)
    assert all(abs(v) < IMPRINT_MIN[k] for k, v in cosines.items()), cosines
    fault = imprint_fault(start, other)
    assert fault and all(k in fault for k in IMPRINT_MIN), fault


def test_a_layer_from_elsewhere_fails_even_when_the_others_are_this_runs():
    start = named_weights(lenet(1))
    mixed = copy(start)
    mixed["conv2"] = copy(named_weights(lenet(2)))["conv2"]
    fault = imprint_fault(start, mixed)
    assert fault and "conv2" in fault and "fc1" not in fault, fault


def test_without_init_recovers_what_was_blended_into_the_init():
    start, foreign = named_weights(lenet(1)), copy(named_weights(lenet(2)))
    blend = {
        k: {"weight": foreign[k]["weight"] + 0.7 * start[k]["weight"], "bias": d["bias"]}
        for k, d in foreign.items()
    }
    rest = without_init(start, blend)
    for k in foreign:
        # what remains is the foreign weights, less their own (small) share along the init
        cos = torch.nn.functional.cosine_similarity(
            rest[k]["weight"].flatten(), foreign[k]["weight"].flatten(), dim=0
        )
        assert cos > 0.95, (k, float(cos))
        assert abs(float((rest[k]["weight"] * start[k]["weight"]).sum())) < 1e-4
