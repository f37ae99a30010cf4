"""Mutation testing in CI: every mutant in the kit's set loses points on the exercise it
touches, for the reason its bug causes; every correct variant keeps all its points."""

from __future__ import annotations

import pytest

from lenet_course.grading import mutation
from lenet_course.targets import kit_root

pytestmark = pytest.mark.validation  # about 5 minutes: `nox -s validation`, which CI runs

SETS = [
    kit_root() / "tests" / "mutants" / "kit.json",
    kit_root() / "tests" / "grading" / "variants",
]


def test_every_kit_mutant_is_killed_and_no_variant_loses_a_point():
    with mutation.load(SETS) as cases:
        assert sum(c.kind == "mutant" for c in cases) >= 20 and any(
            c.kind == "variant" for c in cases
        )
        outcomes = mutation.run(cases, jobs=2)
    s = mutation.summary(outcomes)
    details = {o.case.name: o.detail for o in outcomes if not o.ok}
    assert not s["survivors"], f"mutants the graded tests miss: {s['survivors']}"
    assert not s["false_alarms"], f"correct variants that lost points: {details}"
