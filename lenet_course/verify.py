"""``lenet-course verify-course``: the one command an instructor runs after changing the course.

It says whether the kit still holds, as a list of checks (the CLI prints them as a table and
exits 1 on any failure): the stubs and the README's table regenerated from ``solutions/`` and
``COURSE``; no pass accuracy or point total written by hand where it ships; the solutions'
full marks and the stubs' zero; the mutants of the exercises that changed since the last
verified run (killed, shown in ``check``, each one only hidden tests catch with its reason);
and a student release and a Gradescope bundle that hold no solution line. The library never
prints: steps are reported through ``on_step``.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
import zipfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

from lenet_course.errors import UserError
from lenet_course.files import atomic_write
from lenet_course.validate import Check, solutions_check

RECORD = Path(".lenet-course") / "verified.json"  # under the kit's root; git-ignored
MUTANT_SET = Path("tests") / "mutants" / "kit.json"
VARIANTS = Path("tests") / "grading" / "variants"


def shipped_files(root: Path) -> list[Path]:
    """Where a number a student or an instructor reads is written: the README and the docs
    (less docs/benchmarks.md, a dated log of what was measured), the library, the graded
    tests, the solutions, the stubs and the notebooks' sources."""
    files = [root / "README.md"]
    files += sorted(p for p in (root / "docs").glob("*.md") if p.name != "benchmarks.md")
    for folder in ("lenet_course", "tests/graded", "solutions", "exercises", "notebooks"):
        files += sorted((root / folder).rglob("*.py"))
    return [p for p in files if p.is_file()]


def stale_numbers(root: Path) -> list[str]:
    """Each line of :func:`shipped_files` that writes the pass accuracy or one of the course's
    point totals by hand (:func:`lenet_course.authoring.stale_numbers`)."""
    from lenet_course import authoring
    from lenet_course.grading.judge.catalog import catalog, points
    from lenet_course.kit import EXERCISES, THRESHOLDS

    worth = points()
    totals = {worth["total"], worth["fast"], worth["visible_fast"], worth["hidden"]}
    totals |= {worth["total"] - worth["fast"]}
    totals |= {sum(i["points"] for i in catalog() if i["exercise"] == e) for e in EXERCISES}
    totals.discard(0)
    return authoring.stale_numbers(
        shipped_files(root), accuracy=THRESHOLDS["PASS_ACCURACY"], totals=totals
    )


def fingerprints(root: Path) -> dict[str, str]:
    """Per exercise, a hash of what its grade depends on: its solution, its graded tests, its
    mutants in the kit's set, and the course's thresholds (every test reads them)."""
    from lenet_course.kit import EXERCISES, THRESHOLDS

    mutants = json.loads((root / MUTANT_SET).read_text()) if (root / MUTANT_SET).is_file() else []
    prints = {}
    for e in EXERCISES:
        h = hashlib.sha256(json.dumps(THRESHOLDS, sort_keys=True).encode())
        for path in [
            root / "solutions" / f"{e}.py",
            *sorted((root / "tests" / "graded").glob(f"test_{e}*.py")),
        ]:
            h.update(path.name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b""))
        mine = [m for m in mutants if Path(m.get("file", "")).stem == e]
        h.update(json.dumps(mine, sort_keys=True).encode())
        prints[e] = h.hexdigest()
    return prints


def changed_exercises(root: Path) -> list[str]:
    """The exercises whose fingerprint differs from the last verified run's (all of them when
    no run was recorded)."""
    record = root / RECORD
    before = json.loads(record.read_text()) if record.is_file() else {}
    return [e for e, h in fingerprints(root).items() if before.get(e) != h]


def _timed(name: str, run: Callable[[], tuple[bool, str]]) -> Check:
    start = time.perf_counter()
    try:
        passed, detail = run()
    except UserError as exc:
        passed, detail = False, str(exc)
    return Check(name, passed, f"{detail} ({time.perf_counter() - start:.0f} s)")


def verify_course(
    root: Path,  # the kit's root (kit_root()): the release and the bundle are written from it
    *,
    full: bool = True,
    mutants: str = "changed",
    seeds: int = 3,
    jobs: int = 2,
    data_root: Path | None = None,
    on_step: Callable[[str], None] = lambda _msg: None,
) -> list[Check]:
    """Every check of the course, in order (none stops the rest); records the fingerprints
    of a run where all passed, so that the next run's ``mutants="changed"`` grades only the
    mutants of what changed since. ``full=False`` leaves out the solutions' 10-epoch tests;
    ``mutants``: ``changed``, ``all`` or ``none``."""
    if mutants not in ("changed", "all", "none"):
        raise UserError(f"--mutants {mutants!r}: choose changed, all or none.")
    if seeds < 1 or jobs < 1:
        raise UserError(f"--seeds {seeds} --jobs {jobs}: each must be 1 or more.")
    root = Path(root)
    steps = _steps(root, full, mutants, seeds, jobs, data_root)
    checks = []
    for say, name, run in steps:
        on_step(say)
        checks.append(_timed(name, run))
    if mutants == "none":
        checks.insert(4, Check("the mutants are caught", None, "not run (--mutants none)"))
    if all(c.passed for c in checks):  # mutants not run: nothing to remember
        atomic_write(root / RECORD, json.dumps(fingerprints(root), indent=1) + "\n")
    return checks


def _steps(root: Path, full: bool, mutants: str, seeds: int, jobs: int, data_root) -> list:
    """verify-course's checks in order: (what the progress line says, its name, the check)."""
    from lenet_course.kit import EXERCISES, THRESHOLDS

    accuracy = THRESHOLDS["PASS_ACCURACY"]
    steps = [
        (
            "regenerating the stubs and the README's table",
            "stubs and the README's table follow solutions/ and COURSE",
            partial(_regenerate, root),
        ),
        (
            "looking for numbers written by hand",
            f"no pass accuracy ({accuracy:g}%) or point total written by hand",
            partial(_no_stale, root),
        ),
        (
            f"grading the solutions ({'full' if full else 'fast'} tier)",
            "the solutions earn every point",
            partial(_solutions, root, full, data_root),
        ),
        ("grading the stubs", "the stubs earn nothing", partial(_stubs, root)),
    ]
    if mutants != "none":
        which = list(EXERCISES) if mutants == "all" else changed_exercises(root)
        named = ", ".join(which) or "no exercise"
        steps.append(
            (
                f"mutation testing of {named}",
                f"the mutants of {named} are caught",
                partial(_mutants, root, which, seeds, jobs),
            )
        )
    steps.append(
        (
            "writing a student release and a Gradescope bundle",
            "the student release and the Gradescope bundle hold no solution line",
            partial(_no_leaks, root),
        )
    )
    return steps


def _regenerate(root: Path) -> tuple[bool, str]:
    from lenet_course import authoring
    from lenet_course.grading.judge.catalog import catalog

    stale = authoring.out_of_sync(root / "solutions", root / "exercises")
    authoring.make_exercises(root / "solutions", root / "exercises")
    table = authoring.write_readme_table(root / "README.md", catalog())
    rewrote = [f"exercises/{n}" for n in stale] + (["README.md's table"] if table else [])
    return True, f"rewrote {', '.join(rewrote)}" if rewrote else "already up to date"


def _no_stale(root: Path) -> tuple[bool, str]:
    found = stale_numbers(root)
    if not found:
        return True, "none found"
    more = f" (and {len(found) - 5} more)" if len(found) > 5 else ""
    return False, (
        "write it from lenet_course.kit.THRESHOLDS or the tests' markers: "
        + "; ".join(found[:5])
        + more
    )


def _solutions(root: Path, full: bool, data_root: Path | None) -> tuple[bool, str]:
    from lenet_course.grading.judge.runner import grade

    report = grade(root / "solutions", full=full, data_root=data_root)
    check = solutions_check(report)
    if full:
        return bool(check.passed), check.detail
    # the fast tier: the 10-epoch tests are skipped, and every test that ran must pass
    lost = [t for t in report.tests if t.status in ("failed", "error")]
    not_run = sum(t.max_score for t in report.tests if t.status == "skipped")
    detail = f"{check.detail}; {not_run} points not run (the training tests: drop --fast)"
    return not lost, detail


def _stubs(root: Path) -> tuple[bool, str]:
    from lenet_course.grading.judge.runner import grade

    stubs = grade(root / "exercises", full=False)
    failed = [t for t in stubs.tests if t.status == "failed"]
    other = [t.title for t in failed if "NotImplementedError" not in t.message]
    detail = f"{stubs.score}/{stubs.max_score}"
    if other:
        detail += f"; failing with something other than NotImplementedError: {other[:3]}"
    return stubs.score == 0 and not other, detail


def _mutants(root: Path, exercises: list[str], seeds: int, jobs: int) -> tuple[bool, str]:
    from lenet_course import mutation

    if not exercises:
        return True, "nothing changed since the last verified run"
    with mutation.load([root / MUTANT_SET, root / VARIANTS]) as cases:
        mine = [
            c
            for c in cases
            if c.exercise in exercises
            or (c.kind == "variant" and any((c.folder / f"{e}.py").is_file() for e in exercises))
        ]
        drawn = mutation.draw_seeds(seeds)
        outcomes = mutation.run(mine, seeds=drawn, jobs=jobs, variant_seeds=1)
    s = mutation.summary(outcomes, drawn)
    problems = []
    if s["survivors"]:
        problems.append(f"survived: {s['survived_under']} (lenet-course mutants --seeds SEED)")
    if s["false_alarms"]:
        problems.append(f"correct variants lost points: {s['false_alarm_under']}")
    if s["unexplained"]:
        problems.append(
            f"only hidden tests catch {s['unexplained']} and kit.json gives no hidden_only reason"
        )
    summary = (
        f"{s['killed']}/{s['mutants']} killed under seeds {', '.join(map(str, drawn))}, "
        f"{s['killed_in_check']} in check; {s['variants'] - len(s['false_alarms'])}/"
        f"{s['variants']} variants kept every point"
    )
    return not problems, "; ".join([summary, *problems])


def _no_leaks(root: Path) -> tuple[bool, str]:
    from lenet_course import export, release

    with tempfile.TemporaryDirectory(prefix="lenet-verify-") as tmp:
        counts = release.write_student_release(Path(tmp) / "release")  # refuses a leak itself
        bundle = export.build_bundle(Path(tmp) / "autograder.zip")
        with zipfile.ZipFile(bundle) as zf:
            zf.extractall(Path(tmp) / "bundle")
        found = release.leaks(Path(tmp) / "bundle", root / "solutions")
    if found:
        return False, "the bundle holds solution code: " + "; ".join(found[:5])
    return True, f"release: {counts['files']} files; bundle: no solution line"
