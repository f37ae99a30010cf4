"""Build a Gradescope autograder bundle that runs this same grader."""

from __future__ import annotations

import zipfile
from pathlib import Path

from lenet_course.targets import kit_root

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image.
set -euo pipefail
apt-get update && apt-get install -y --no-install-recommends python3 python3-venv python3-pip \
    bubblewrap util-linux  # the jail for student code (bwrap, setpriv)
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install -e '/autograder/source[dev]'
/autograder/venv/bin/lenet-course data --data /autograder/mnist
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
lenet-course grade "$ROOT/submission" --out "$ROOT/results/results.json" --jobs 1 "$@"
"""

INCLUDE = ("pyproject.toml", "README.md", "lenet_course", "tests")


def build_bundle(out: Path) -> Path:
    """Write ``autograder.zip``: setup.sh, run_autograder and the kit's source."""
    root = kit_root()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER)):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            zf.writestr(info, text)
        for top in INCLUDE:
            path = root / top
            files = [path] if path.is_file() else sorted(path.rglob("*"))
            for f in files:
                if f.is_file() and "__pycache__" not in f.parts:
                    zf.write(f, f.relative_to(root).as_posix())
    return out
