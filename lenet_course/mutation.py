"""Mutation testing of the graded tests: are realistic bugs caught, and correct code spared?

A *mutant* is the reference solution with one student-style bug; it must lose points, on
the exercise it touches. A *variant* is a correct submission written another way; it must
lose none. Sets come in two forms, both accepted by :func:`load`:

* a JSON file of patches, ``[{"name", "file", "old", "new", "bug"}, ...]``, applied to
  ``solutions/`` (the kit's own set is ``tests/mutants/kit.json``);
* a folder of submissions, one subfolder each. A subfolder whose name starts with
  ``variant`` (or any subfolder of a folder named ``variants``) is a variant: it holds the
  exercise files it writes its own way, and is graded on those. Any other subfolder is a
  mutant, and the exercise it touches is the file that differs from ``solutions/``.

Each case is graded by the ordinary judge and jail (fast tier) under several grading seeds
at once (:func:`~lenet_course.grading.judge.runner.grade_under_seeds`): a test's power must not
depend on the cases a seed draws.
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lenet_course.errors import UserError
from lenet_course.grading.jail.limits import Limits
from lenet_course.grading.judge.runner import grade_under_seeds
from lenet_course.kit import EXERCISES, kit_root


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # mutant | variant
    folder: Path
    exercise: str | None  # the exercise a mutant touches
    bug: str = ""
    hidden_only: str = ""  # why only hidden tests may catch this mutant ("" : check must)


@dataclass
class Outcome:
    case: Case
    ok: bool  # a mutant killed on its exercise under every seed, or a variant never losing
    lost: list[str]  # the tests that lost points (under any seed)
    detail: str = ""
    seeds: list[int] = field(default_factory=list)  # where it went wrong: survived, or lost
    in_check: bool = False  # a mutant: a visible test (what `check` runs) lost under every seed


def _solutions() -> dict[str, str]:
    return {e: (kit_root() / "solutions" / f"{e}.py").read_text() for e in EXERCISES}


@contextmanager
def load(paths: list[Path]) -> Iterator[list[Case]]:
    """The cases of every set in ``paths``; patch sets are written to a temporary folder."""
    solutions = _solutions()
    with tempfile.TemporaryDirectory(prefix="lenet-mutants-") as tmp:
        cases: list[Case] = []
        for path in map(Path, paths):
            if path.is_file():
                cases += _from_patches(path, Path(tmp), solutions)
            elif path.is_dir():
                cases += _from_folder(path, solutions)
            else:
                raise UserError(f"mutant set {path} is neither a JSON file nor a folder.")
        yield cases


def _from_patches(path: Path, tmp: Path, solutions: dict[str, str]) -> list[Case]:
    try:
        patches = json.loads(path.read_text())
    except ValueError as exc:
        raise UserError(f"{path} is not valid JSON ({exc}).") from None
    cases = []
    for p in patches:
        text = solutions.get(p["file"])
        if text is None or text.count(p["old"]) != 1:
            raise UserError(
                f"{path}: mutant {p['name']!r}: its 'old' text must occur exactly once in "
                f"solutions/{p['file']}.py. Fix the patch or the solution."
            )
        folder = tmp / p["name"]
        folder.mkdir()
        (folder / f"{p['file']}.py").write_text(text.replace(p["old"], p["new"]))
        cases.append(
            Case(p["name"], "mutant", folder, p["file"], p.get("bug", ""), p.get("hidden_only", ""))
        )
    return cases


def _from_folder(path: Path, solutions: dict[str, str]) -> list[Case]:
    cases = []
    for sub in sorted(p for p in path.iterdir() if p.is_dir()):
        if sub.name.startswith("variant") or path.name == "variants":
            cases.append(Case(sub.name, "variant", sub, None))
            continue
        changed = [
            e
            for e in EXERCISES
            if (sub / f"{e}.py").is_file() and (sub / f"{e}.py").read_text() != solutions[e]
        ]
        if len(changed) != 1:
            raise UserError(
                f"mutant {sub} changes {len(changed)} exercise files; a mutant changes exactly one."
            )
        cases.append(Case(sub.name, "mutant", sub, changed[0]))
    return cases


def draw_seeds(n: int = 5) -> tuple[int, ...]:
    """``n`` grading seeds, drawn afresh: every run of the mutants asks the tests' power
    under seeds no earlier run tried."""
    return tuple(secrets.randbits(31) for _ in range(n))


def run(
    cases: list[Case],
    limits: Limits | None = None,
    *,
    seeds: tuple[int, ...] = (0,),
    jobs: int = 2,
    on_done: Callable[[Outcome], None] | None = None,
    variant_seeds: int | None = None,
) -> list[Outcome]:
    """Grade every case's fast tier under each of ``seeds``: a mutant on its own exercise, a
    variant on the exercises it writes its own way. A mutant is killed only if it loses a
    point on its exercise under every seed; a variant may lose none under any.

    ``variant_seeds``: each variant is graded instead under that many seeds drawn for it
    alone. A variant runs every test under every seed (it loses nothing, so nothing stops
    early); one fresh seed per variant still asks a new seed of every variant on every run."""
    limits = limits or Limits(test_seconds=60)
    # ``jobs`` cases at once share the cores: more threads than cores makes PyTorch's
    # OpenMP workers wait on each other, and costs more than it gives
    per_case = limits.shared(jobs)

    def one(case: Case) -> Outcome:
        seeds_here = (
            draw_seeds(variant_seeds)
            if case.kind == "variant" and variant_seeds is not None
            else seeds
        )
        mine = (
            [case.exercise]
            if case.kind == "mutant"
            else [e for e in EXERCISES if (case.folder / f"{e}.py").is_file()]
        )
        with tempfile.TemporaryDirectory(prefix="lenet-case-") as tmp:
            folder = Path(tmp) / "submission"
            folder.mkdir()
            for exercise in mine:
                shutil.copyfile(case.folder / f"{exercise}.py", folder / f"{exercise}.py")
            by_seed = grade_under_seeds(folder, tuple(mine), seeds_here, per_case)
        lost = {
            seed: [t for t in results if t.status in ("failed", "error")]
            for seed, results in by_seed.items()
        }
        in_check = all(any(not t.hidden for t in lost[seed]) for seed in seeds_here)
        if case.kind == "mutant":
            wrong = [seed for seed in seeds_here if not lost[seed]]  # seeds it survived
        else:
            wrong = [seed for seed in seeds_here if lost[seed]]  # seeds with a false alarm
        tests = list(dict.fromkeys(t.nodeid for seed in seeds_here for t in lost[seed]))
        detail = "; ".join(
            f"seed {seed}: {t.message[:160]}" for seed in seeds_here for t in lost[seed][:1]
        )
        outcome = Outcome(case, not wrong, tests, detail, wrong, in_check and case.kind == "mutant")
        if on_done:
            on_done(outcome)
        return outcome

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, cases))


def summary(outcomes: list[Outcome], seeds: tuple[int, ...] = ()) -> dict:
    """Two kill rates over the mutants (killed under every seed): by the whole grade, and by
    the visible tests alone, which is what a student's ``check`` shows; each mutant only
    hidden tests catch, with its reason (``unexplained``: those with none); the false alarms
    over the variants, and the seeds under which anything went wrong."""
    mutants = [o for o in outcomes if o.case.kind == "mutant"]
    variants = [o for o in outcomes if o.case.kind == "variant"]
    killed = sum(o.ok for o in mutants)
    in_check = sum(o.ok and o.in_check for o in mutants)
    return {
        "seeds": list(seeds),
        "mutants": len(mutants),
        "killed": killed,
        "kill_rate": killed / len(mutants) if mutants else 1.0,
        "killed_in_check": in_check,
        "check_kill_rate": in_check / len(mutants) if mutants else 1.0,
        "hidden_only": {
            o.case.name: o.case.hidden_only or "(no reason given: a visible test should catch it)"
            for o in mutants
            if o.ok and not o.in_check
        },
        # caught by hidden tests only with no reason given: the set must say why check
        # cannot show the bug, or a visible test must catch it (`mutants` exits 1)
        "unexplained": [
            o.case.name for o in mutants if o.ok and not o.in_check and not o.case.hidden_only
        ],
        "survivors": [o.case.name for o in mutants if not o.ok],
        "survived_under": {o.case.name: o.seeds for o in mutants if not o.ok},
        "variants": len(variants),
        "false_alarms": [o.case.name for o in variants if not o.ok],
        "false_alarm_under": {o.case.name: o.seeds for o in variants if not o.ok},
    }
