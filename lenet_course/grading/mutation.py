"""Mutation testing of the graded tests: are realistic bugs caught, and correct code spared?

A *mutant* is the reference solution with one student-style bug; it must lose points, on
the exercise it touches. A *variant* is a correct submission written another way; it must
lose none. Sets come in two forms, both accepted by :func:`load`:

* a JSON file of patches, ``[{"name", "file", "old", "new", "bug"}, ...]``, applied to
  ``solutions/`` (the kit's own set is ``tests/mutants/kit.json``);
* a folder of submissions, one subfolder each. A subfolder whose name starts with
  ``variant`` (or any subfolder of a folder named ``variants``) is a variant: it holds the
  exercise files it writes its own way, and the others are taken from ``solutions/``. Any
  other subfolder is a mutant, and the exercise it touches is the file that differs from
  ``solutions/``.

Each case is graded by the ordinary grader (fast tier), so the judge and the jail apply.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from lenet_course.errors import UserError
from lenet_course.grading.runner import Limits, grade
from lenet_course.targets import EXERCISES, kit_root


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # mutant | variant
    folder: Path
    exercise: str | None  # the exercise a mutant touches
    bug: str = ""


@dataclass
class Outcome:
    case: Case
    ok: bool  # a mutant killed on its exercise, or a variant with full marks
    lost: list[str]  # the tests that lost points
    detail: str = ""


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
        cases.append(Case(p["name"], "mutant", folder, p["file"], p.get("bug", "")))
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


def run(
    cases: list[Case],
    limits: Limits | None = None,
    *,
    jobs: int = 2,
    on_done: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Grade every case (fast tier); a mutant is graded on its own exercise only."""
    per_case = replace(limits or Limits(test_seconds=60), jobs=1)

    def one(case: Case) -> Outcome:
        with tempfile.TemporaryDirectory(prefix="lenet-case-") as tmp:
            folder = Path(tmp) / "submission"
            if case.kind == "mutant":
                folder.mkdir()
                shutil.copyfile(case.folder / f"{case.exercise}.py", folder / f"{case.exercise}.py")
            else:  # the variant's own files over the solutions
                shutil.copytree(kit_root() / "solutions", folder,
                                ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
                for own in case.folder.glob("*.py"):
                    shutil.copyfile(own, folder / own.name)
            report = grade(folder, per_case, full=False)
        lost = [t.nodeid for t in report.tests if t.status == "failed"]
        if case.kind == "variant":
            outcome = Outcome(case, not lost, lost, "; ".join(
                t.message[:120] for t in report.tests if t.status == "failed"
            ))  # fmt: skip
        else:
            mine = [t for t in report.tests if t.exercise == case.exercise and t.status == "failed"]
            outcome = Outcome(
                case, bool(mine), [t.nodeid for t in mine], "; ".join(t.message[:200] for t in mine)
            )
        if on_done:
            on_done(outcome)
        return outcome

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, cases))


def summary(outcomes: list[Outcome]) -> dict:
    """Kill rate over the mutants and the false alarms over the variants."""
    mutants = [o for o in outcomes if o.case.kind == "mutant"]
    variants = [o for o in outcomes if o.case.kind == "variant"]
    killed = sum(o.ok for o in mutants)
    return {
        "mutants": len(mutants),
        "killed": killed,
        "kill_rate": killed / len(mutants) if mutants else 1.0,
        "survivors": [o.case.name for o in mutants if not o.ok],
        "variants": len(variants),
        "false_alarms": [o.case.name for o in variants if not o.ok],
    }
