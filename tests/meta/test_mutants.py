"""Mutation testing in CI: every mutant in the kit's set loses points on the exercise it
touches under each of three fresh grading seeds; every correct variant keeps all its points
under a fresh seed of its own (a variant runs every test under every seed, where a mutant
stops at its first lost point; the tolerance the variants lean on is asked 200 seeds in
tests/grading/test_equivalent_formulations.py). A test whose power depends on the seed fails
here, sooner or later.
And what a student sees: at least 90% of the mutants lose points in a visible test (what
`lenet-course check` runs), and each one only hidden tests catch says why in kit.json."""

from __future__ import annotations

import pytest

from lenet_course import mutation
from lenet_course.kit import kit_root

pytestmark = pytest.mark.validation  # 541 s on 2 busy cores: `nox -s validation`, which CI runs

CHECK_KILL_FLOOR = 0.9  # the share of mutants a student's check must show
SETS = [
    kit_root() / "tests" / "mutants" / "kit.json",
    kit_root() / "tests" / "grading" / "variants",
]


def test_every_kit_mutant_is_killed_and_no_variant_loses_a_point():
    with mutation.load(SETS) as cases:
        assert sum(c.kind == "mutant" for c in cases) >= 20 and any(
            c.kind == "variant" for c in cases
        )
        seeds = mutation.draw_seeds(3)  # 535 s in CI under five; `lenet-course mutants` draws five
        outcomes = mutation.run(cases, seeds=seeds, jobs=2, variant_seeds=1)
    s = mutation.summary(outcomes, seeds)
    details = {o.case.name: o.detail for o in outcomes if not o.ok}
    assert not s["survivors"], (
        f"mutants the graded tests miss, by the seeds they survived: {s['survived_under']} "
        f"(reproduce: lenet-course mutants --seeds SEED)"
    )
    assert not s["false_alarms"], f"correct variants that lost points, by seed: {details}"
    assert s["check_kill_rate"] >= CHECK_KILL_FLOOR, (
        f"only {s['killed_in_check']}/{s['mutants']} mutants lose points in a visible test, "
        f"so a student's check misses the others: {s['hidden_only']}"
    )
    assert not s["unexplained"], (
        f"mutants only hidden tests catch, with no 'hidden_only' reason in kit.json: "
        f"{s['unexplained']}"
    )
