"""The Gradescope bundle on a base like Gradescope's: its setup.sh, apt-get step included, in a
container, then its run_autograder there on the solutions, the stubs and a submission that
reads the kit's files.

Gradescope's base is Ubuntu 22.04 with Python 3.10 ($LENET_GRADESCOPE_BASE, which ``nox -s
image_test`` sets); where no registry answers, the Debian bookworm stand-in that ``nox -s
image`` makes with mmdebstrap (Python 3.11) stands in for it. Gradescope's layout is one
folder, ``/autograder`` (the zip in ``source/``), here a host folder mounted there, so the
venv that setup.sh writes is there for the runs that follow. The host's pip configuration
and the local folders it names are mounted read-only at their own paths for setup.sh's pip
(never into an image).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

from lenet_course.grading.judge.catalog import points
from lenet_course.kit import EXERCISES, kit_root
from tests.grading.test_gradescope_rules import RULES, metadata
from tests.image.test_documented_lines import ENGINE

pytestmark = pytest.mark.image

BASE = os.environ.get("LENET_GRADESCOPE_BASE", "")


def _pip_mounts() -> list[str]:
    """-v for the host's pip configuration files and the local folders they name, and -e
    for its PIP_* variables."""
    args = []
    debug = subprocess.run([sys.executable, "-m", "pip", "config", "debug"],
                           capture_output=True, text=True).stdout  # fmt: skip
    for path in re.findall(r"^\s+(/\S+), exists: True", debug, re.M):
        args += ["-v", f"{path}:{path.replace(str(Path.home()), '/root')}:ro"]
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"],
                            capture_output=True, text=True).stdout  # fmt: skip
    for value in re.findall(r"=\s*'?([^'\n]+)'?", listed):
        for item in value.split():
            path = item.removeprefix("file://").rstrip("/")
            if path.startswith("/") and os.path.exists(path):
                top = os.path.dirname(path) if item.startswith("file://") else path
                args += ["-v", f"{top}:{top}:ro"]
    mounts = list(
        dict.fromkeys(zip(args[::2], args[1::2], strict=True))
    )  # a path named twice: one mount
    env = [("-e", f"{k}={v}") for k, v in os.environ.items() if k.startswith("PIP_")]
    return [a for pair in mounts + env for a in pair]


@pytest.fixture(scope="module")
def autograder():
    if not BASE:
        pytest.skip(
            "set LENET_GRADESCOPE_BASE to a base like Gradescope's (nox -s image_test does)"
        )
    root = Path(tempfile.mkdtemp(prefix="lenet-gs-stand-in-"))
    root.chmod(0o755)
    try:
        # the instructor's command, as docs/instructors.md gives it, with the course's rules
        (root / "rules.toml").write_text(RULES)
        subprocess.run([sys.executable, "-m", "lenet_course.cli", "export", "gradescope",
                        "--out", str(root / "autograder.zip"), "--rules", str(root / "rules.toml")],
                       check=True, capture_output=True)  # fmt: skip
        with zipfile.ZipFile(root / "autograder.zip") as zf:
            names = set(zf.namelist())
            assert {"setup.sh", "run_autograder", "pyproject.toml"} <= names, sorted(names)
            zf.extractall(root / "source")
        (root / "autograder.zip").unlink()
        for script in ("setup.sh", "run_autograder"):
            (root / "source" / script).chmod(0o755)
        shutil.copytree(Path(os.environ["LENET_DATA"]) / "MNIST", root / "mnist" / "MNIST")
        base = subprocess.run([ENGINE, "image", "inspect", "--format", "{{.Id}}", BASE],
                              capture_output=True, text=True)  # fmt: skip
        if base.returncode != 0:
            pytest.skip(f"{BASE} is not in {ENGINE}'s store: run nox -s image first")
        setup = subprocess.run(
            [ENGINE, "run", "--rm", "-v", f"{root}:/autograder", *_pip_mounts(), BASE,
             "bash", "/autograder/source/setup.sh"],
            capture_output=True, text=True, timeout=1800,
        )  # fmt: skip
        assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def metadata_text(created_at: str) -> str:
    """submission_metadata.json as Gradescope writes it beside the submission, for Ada
    (due 2026-03-01 23:59 -05:00; the rules and the metadata are test_gradescope_rules')."""
    return json.dumps(metadata(created_at))


ON_TIME = metadata_text("2026-03-01T20:00:00.123456-05:00")


def run_autograder(root: Path, files: dict[str, str], *extra: str, meta: str = ON_TIME) -> dict:
    (root / "submission_metadata.json").write_text(meta)
    sub = root / "submission"
    shutil.rmtree(sub, ignore_errors=True)
    sub.mkdir()
    for name, text in files.items():
        (sub / f"{name}.py").write_text(text)
    (root / "results" / "results.json").unlink(missing_ok=True)
    done = subprocess.run(
        [ENGINE, "run", "--rm", "--network", "none", "-v", f"{root}:/autograder", BASE,
         "/autograder/source/run_autograder", *extra],
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    results = root / "results" / "results.json"
    assert results.is_file(), (done.stdout + done.stderr)[-3000:]
    print(re.search(r"isolation: \w+", done.stdout + done.stderr))
    return json.loads(results.read_text())


def test_setup_and_run_autograder_on_the_stand_in(autograder):
    """The bundle alone, as Gradescope runs it: full marks for the solutions (the 10-epoch
    training included), submitted a day and 6 hours late under the rules `export gradescope
    --rules` shipped, so the top-level score is 20% lower and the raw one is kept; nothing
    for the stubs, nothing for a submission that reaches for every kit file in its reach,
    and a missing file named in its tests' feedback."""
    sols = {e: (kit_root() / "solutions" / f"{e}.py").read_text() for e in EXERCISES}
    full = run_autograder(autograder, sols, meta=metadata_text("2026-03-03T05:59:00.365935-05:00"))
    assert full["extra_data"]["raw_score"] == FULL_MARKS, lost(full)
    assert full["score"] == pytest.approx(FULL_MARKS * 0.8), full["output"]
    assert "Late by 1 day 6 h (due 2026-03-01 23:59 -05:00" in full["output"], full["output"]
    assert "-20% of the points earned" in full["output"], full["output"]
    stubs = {e: (kit_root() / "exercises" / f"{e}.py").read_text() for e in EXERCISES}
    assert run_autograder(autograder, stubs)["score"] == 0
    reads = {
        e: READS_THE_KIT.format(n=i, source="/autograder/source", module="lenet_course.model")
        for i, e in enumerate(EXERCISES[:-1], start=1)
    }  # the last exercise's file is left out: its tests say so
    results = run_autograder(autograder, reads)
    level = re.search(r"isolation: (\w+)", results["output"])
    assert level, f"results.json does not name the isolation level: {results['output']}"
    if level.group(1) in ("bwrap", "landlock"):  # the levels that hide the kit's files
        assert results["score"] == 0, lost(results)
    else:
        assert "the filesystem was not hidden" in results["output"], results["output"]
    missing = [t for t in results["tests"] if t["name"].startswith(EXERCISES[-1])]
    assert missing and all(f"{EXERCISES[-1]}.py is missing" in t["output"] for t in missing), [
        t["output"][:200] for t in missing
    ]


FULL_MARKS = points()["total"]

# A submission that reaches for the kit's files: the reference model by import, and every
# Python file the bundle ships (its graded tests and the judge's references among them).
READS_THE_KIT = '''
"""Exercise {n}: borrowed from every kit file in reach."""
import glob, importlib

_found = {{}}
for _attempt in (
    lambda: vars(importlib.import_module("{module}")),
    lambda: _exec("".join(open(p).read() for p in glob.glob("{source}/**/*.py", recursive=True))),
):
    try:
        _found = _attempt()
        if _found:
            break
    except BaseException:
        continue


def _exec(src):
    ns = {{"__name__": "borrowed"}}
    exec(src, ns)
    return ns


globals().update({{k: v for k, v in _found.items() if not k.startswith("__")}})
'''


def lost(results: dict) -> str:
    """The report's first line, then each test that lost points and why."""
    tests = [t for t in results["tests"] if t["score"] < t["max_score"]]
    return "\n".join([results["output"], *(f"{t['name']}: {t['output'][:600]}" for t in tests)])
