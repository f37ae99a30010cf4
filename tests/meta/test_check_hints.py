"""What a student's `check` says about the common bugs: each mutant in the kit's set that
names a ``hint`` loses points in a visible test under each of three fresh grading seeds,
and one of those failures says the hint's words, the cause. The solutions keep every point
(the curriculum and mutation tests, and `validate`, hold that)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from lenet_course import mutation
from lenet_course.grading.jail.limits import Limits
from lenet_course.grading.judge.runner import grade_under_seeds
from lenet_course.kit import kit_root

pytestmark = pytest.mark.validation  # about 2 minutes on 2 cores: `nox -s validation`

KIT_SET = kit_root() / "tests" / "mutants" / "kit.json"
HINTS = {p["name"]: p["hint"] for p in json.loads(KIT_SET.read_text()) if p.get("hint")}


def visible_failures(case: mutation.Case, seeds: tuple[int, ...]) -> dict[int, list[str]]:
    """The messages of the visible tests the mutant fails, by seed (every test run)."""
    by_seed = grade_under_seeds(
        case.folder, (case.exercise,), seeds, Limits(test_seconds=60, threads=1), until_lost=False
    )
    return {
        seed: [t.message for t in results if not t.hidden and t.status in ("failed", "error")]
        for seed, results in by_seed.items()
    }


def test_each_common_bug_costs_points_in_check_with_a_hint_that_names_its_cause():
    assert len(HINTS) >= 10, "the kit's set names a hint for each common bug"
    seeds = mutation.draw_seeds(3)
    with mutation.load([KIT_SET]) as cases, ThreadPoolExecutor(max_workers=2) as pool:
        hinted = [c for c in cases if c.name in HINTS]
        found = dict(
            zip(
                [c.name for c in hinted],
                pool.map(lambda c: visible_failures(c, seeds), hinted),
                strict=True,
            )
        )
    unseen = {
        name: [s for s, msgs in by_seed.items() if not msgs] for name, by_seed in found.items()
    }
    unseen = {name: s for name, s in unseen.items() if s}
    assert not unseen, (
        f"bugs a student's check does not show, by the seeds it missed them: {unseen}"
    )
    wrong = {
        name: {
            seed: msgs[:2] for seed, msgs in found[name].items() if not any(hint in m for m in msgs)
        }
        for name, hint in HINTS.items()
    }
    wrong = {name: w for name, w in wrong.items() if w}
    assert not wrong, (
        f"check shows these bugs, but no hint names the cause (the hint's words): {wrong}"
    )
