"""Build a Gradescope autograder bundle that runs this same grader.

Like the student release (:mod:`lenet_course.release`), the bundle ships only what the
grader needs: the kit code of :data:`~lenet_course.release.STUDENT_MODULES` (the grader, its
jail and its reports), every graded test (the hidden ones and their judge-only helpers too)
and the project file. The kit's own model, engine, lecture pipeline and ``solutions/`` stay
out, and the release's scan for solution lines runs on the bundle before it is written, as
does its check that every module a shipped module imports when loaded is shipped too.

Which jail the bundle gives depends on the container Gradescope runs it in: bubblewrap
where the container allows namespaces, else Landlock where its kernel offers it (Docker's
default seccomp profile allows Landlock), else the reduced level. Each report names it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from lenet_course.errors import UserError
from lenet_course.kit import kit_root

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image. AUTOGRADER_ROOT lets tests
# use another tree; LENET_NO_APT=1 skips the system packages where the host has them.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
if [ "${LENET_NO_APT:-0}" != 1 ]; then
    apt-get update && apt-get install -y --no-install-recommends python3 python3-venv \\
        python3-pip bubblewrap util-linux  # the jail for student code (bwrap, setpriv)
fi
python3 -m venv "$ROOT/venv"
"$ROOT/venv/bin/pip" install -e "$ROOT/source[dev]"
"$ROOT/venv/bin/lenet-course" data --data "${LENET_DATA:-$ROOT/mnist}"
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this per submission. AUTOGRADER_ROOT lets tests use another tree.
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
export PATH="$ROOT/venv/bin:$PATH"
export LENET_DATA="${LENET_DATA:-$ROOT/mnist}"
mkdir -p "$ROOT/results"
# One exercise at a time: a full grade then peaks at about 1.6 GB (docs/benchmarks.md), so
# pick a container with 2 GB or more and an autograder timeout of 10 minutes or more.
# The course's rules, where `export gradescope --rules` shipped them: the score is the final
# one, timed by Gradescope's submission metadata (docs/instructors.md).
COURSE=()
if [ -f "$ROOT/source/course_rules/rules.toml" ]; then
    COURSE=(--rules "$ROOT/source/course_rules/rules.toml"
            --submission-metadata "$ROOT/submission_metadata.json")
fi
lenet-course grade "$ROOT/submission" --out "$ROOT/results/results.json" --jobs 1 \
    ${COURSE[@]+"${COURSE[@]}"} "$@"
"""

README = """# lenet-course autograder

The grader of the LeNet lab, as Gradescope runs it: `setup.sh` installs it once,
`run_autograder` grades each submission. Student code runs in a jail; the level in force
(bwrap, landlock or reduced) is written into every report.
"""


RULES_DIR = "course_rules"  # in the bundle: rules.toml and the CSVs it names
# The bundle's modules: the student release's, and the course's rules it grades with.
BUNDLE_MODULES = (
    "grading/classroom/__init__.py",
    "grading/classroom/rules.py",
    "grading/classroom/gradescope.py",
)


def bundle_files() -> list[str]:
    """The kit files the bundle ships, relative to the kit's root: the grader's modules, the
    graded tests (hidden ones included) and the project file; nothing that answers."""
    from lenet_course.release import STUDENT_MODULES

    root = kit_root()
    graded = sorted(p for p in (root / "tests" / "graded").glob("*.py"))
    return [
        "pyproject.toml",
        *(f"lenet_course/{m}" for m in STUDENT_MODULES + BUNDLE_MODULES),
        "tests/__init__.py",
        "tests/conftest.py",
        *(p.relative_to(root).as_posix() for p in graded),
    ]


def rules_files(rules: Path) -> dict[str, Path]:
    """The course's rules for the bundle: name in the bundle -> file here. The rules are
    read and checked whole first, and the CSVs they name must lie beside them or below."""
    from lenet_course.grading.classroom.rules import named_files, read_rules

    rules = Path(rules)
    read_rules(rules)  # its mistakes stop the export before anything is written
    files = {f"{RULES_DIR}/rules.toml": rules}
    for name in named_files(rules):
        inside = Path(name)
        if inside.is_absolute() or ".." in inside.parts:
            raise UserError(
                f"{rules}: {name!r} lies outside the rules' folder, so the bundle cannot "
                "ship it at the same relative path. Fix: put the CSV beside the rules file "
                "and name it relative to it."
            )
        files[f"{RULES_DIR}/{inside.as_posix()}"] = rules.parent / inside
    return files


def build_bundle(out: Path, rules: Path | None = None) -> Path:
    """Write ``autograder.zip``: setup.sh, run_autograder, a README and :func:`bundle_files`,
    with the course's ``rules`` (:func:`rules_files`) where given. Nothing is written if the
    bundle would hold a solution line, or the rules have a mistake."""
    from lenet_course.release import STUDENT_MODULES, check_ships_its_imports, leaks

    root = kit_root()
    out = Path(out)
    check_ships_its_imports(STUDENT_MODULES + BUNDLE_MODULES, "Gradescope bundle")
    course = rules_files(rules) if rules is not None else {}
    with tempfile.TemporaryDirectory(prefix="lenet-bundle-") as tmp:
        staging = Path(tmp)
        for name in bundle_files():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / name, staging / name)
        edition = staging / "lenet_course" / "edition.py"  # its CLI offers what it has code for
        edition.write_text(edition.read_text().replace('EDITION = "kit"', 'EDITION = "bundle"'))
        (staging / "README.md").write_text(README)
        for name, path in course.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, staging / name)
        found = leaks(staging, root / "solutions")
        if found:
            raise UserError(
                "the Gradescope bundle would hold solution code, so nothing was written:\n  "
                + "\n  ".join(found[:10])
            )
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(f".{out.name}.partial")  # renamed once whole: never half a zip
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER)):
                info = zipfile.ZipInfo(name)
                info.external_attr = 0o755 << 16
                zf.writestr(info, text)
            for path in sorted(p for p in staging.rglob("*") if p.is_file()):
                zf.write(path, path.relative_to(staging).as_posix())
        os.replace(partial, out)
    return out
