"""Each visible test's failure rate over many grading seeds: on the solutions (must be 0)
and on mutants (a test that fails a mutant under some seed must fail it under every seed,
or not claim it). `python scripts/seed_power.py --seeds 20 [MUTANT ...]` prints a Markdown
table; with no mutant named, every mutant in tests/mutants/kit.json."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from lenet_course import mutation
from lenet_course.grading.jail.limits import Limits
from lenet_course.grading.judge.runner import grade_under_seeds
from lenet_course.kit import EXERCISES, kit_root


def rates(folder: Path, exercises: tuple[str, ...], seeds: tuple[int, ...]) -> dict[str, int]:
    by_seed = grade_under_seeds(folder, exercises, seeds, Limits(test_seconds=60), until_lost=False)
    failed: Counter = Counter()
    for results in by_seed.values():
        for t in results:
            if not t.hidden:
                failed[t.nodeid.split("::")[-1]] += t.status in ("failed", "error")
    return dict(failed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mutants", nargs="*")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--no-solutions", action="store_true", help="the mutants' rows only")
    args = parser.parse_args()
    seeds = tuple(range(1, args.seeds + 1))
    n = len(seeds)
    solutions = kit_root() / "solutions"
    print(f"| case | visible test | failed under {n} seeds |")
    print("| --- | --- | --- |")
    if not args.no_solutions:
        for test, count in sorted(rates(solutions, tuple(EXERCISES), seeds).items()):
            print(f"| solutions | {test} | {count}/{n} |", flush=True)
    kit_set = kit_root() / "tests" / "mutants" / "kit.json"
    with mutation.load([kit_set]) as cases:
        for case in cases:
            if args.mutants and case.name not in args.mutants:
                continue
            claimed = {t: c for t, c in rates(case.folder, (case.exercise,), seeds).items() if c}
            print_claims(case.name, claimed, n)


def print_claims(name: str, claimed: dict[str, int], n: int) -> None:
    """The mutant's rows: each visible test that failed it, under how many of the n seeds."""
    for test, count in sorted(claimed.items()):
        flag = "" if count == n else " (does not claim it)"
        print(f"| {name} | {test} | {count}/{n}{flag} |", flush=True)
    if not claimed:
        print(f"| {name} | (no visible test) | - |", flush=True)


if __name__ == "__main__":
    main()
