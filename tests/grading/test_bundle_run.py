"""The Gradescope bundle as Gradescope runs it (STYLE habit 13): unzipped into a folder of its
own, installed by its own ``setup.sh`` into a fresh venv, and ``run_autograder`` run there,
from a folder outside the kit, with no kit checkout on any path (no PYTHONPATH, the kit's
venv off PATH). A test that imports the kit from the checkout cannot show this; one did not.

Gradescope's own layout is mirrored under ``AUTOGRADER_ROOT``: ``source/`` (the zip),
``venv/``, ``submission/`` and ``results/results.json``. ``LENET_NO_APT=1`` skips setup.sh's
apt-get step: the host's bubblewrap, setpriv and python3-venv stand in for it. ``nox -s
image_test`` runs the whole setup.sh, apt-get included, on a Debian stand-in for
Gradescope's base image.

Slow (a venv of the kit's dependencies, then three full grades with the 10-epoch training on
the CPU), so it runs in ``nox -s validation``, which CI runs on every push.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from lenet_course import export
from lenet_course.kit import EXERCISES, kit_root
from tests.grading.conftest import needs_root

pytestmark = [pytest.mark.validation, pytest.mark.mnist, needs_root]

FULL_MARKS = 100
# Where a grader as root runs student code with the kit's files out of its reach; the cheat
# below would read them at the reduced level (its report then says the files were not hidden).
HIDING_LEVELS = ("bwrap", "landlock")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# A submission that reaches for the kit's files: the reference model by import (the bundle
# has none), the checkout's solutions by absolute path (it lies on this disk, as a TA's
# clone might beside Gradescope's grader), and the bundle's own graded tests.
READS_THE_KIT = '''
"""Exercise {n}: borrowed from every kit file in reach."""
import glob, importlib

_found = {{}}
for _attempt in (
    lambda: vars(importlib.import_module("lenet_course.model")),
    lambda: _exec(open({solution!r}).read()),
    lambda: _exec("".join(open(p).read() for p in glob.glob({clones!r} + "/*/solutions/{name}.py"))),
    lambda: _exec("".join(open(p).read() for p in glob.glob({source!r} + "/**/*.py", recursive=True))),
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


def _env(root: Path) -> dict[str, str]:
    """The environment Gradescope's scripts see: the host's, less every trace of the kit."""
    kit = str(kit_root())
    env = {
        k: v
        for k, v in os.environ.items()
        if kit not in v and k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env.update(PATH=SYSTEM_PATH, AUTOGRADER_ROOT=str(root), LENET_NO_APT="1", PYTHONNOUSERSITE="1")
    return env


@pytest.fixture(scope="module")
def installed():
    """The bundle unzipped into ``ROOT/source`` and set up there by its setup.sh; the root is
    a folder every user may enter, as the jailed worker's uid must run the venv's Python."""
    root = Path(tempfile.mkdtemp(prefix="lenet-gradescope-"))
    root.chmod(0o755)
    try:
        zipped = export.build_bundle(root / "autograder.zip")
        with zipfile.ZipFile(zipped) as zf:
            zf.extractall(root / "source")
        zipped.unlink()
        for script in ("setup.sh", "run_autograder"):
            (root / "source" / script).chmod(0o755)
        start = time.monotonic()
        setup = subprocess.run(["bash", str(root / "source" / "setup.sh")], cwd=root,
                               env=_env(root), capture_output=True, text=True, timeout=1800)  # fmt: skip
        seconds = time.monotonic() - start
        assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
        yield root, seconds
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_autograder(root: Path, files: dict[str, str]) -> tuple[dict, subprocess.CompletedProcess]:
    """Put ``files`` in ROOT/submission as Gradescope does, run the bundle's run_autograder
    from ROOT and return its results.json."""
    submission = root / "submission"
    shutil.rmtree(submission, ignore_errors=True)
    submission.mkdir()
    for name, text in files.items():
        (submission / f"{name}.py").write_text(text)
    results = root / "results" / "results.json"
    results.unlink(missing_ok=True)
    done = subprocess.run([str(root / "source" / "run_autograder")], cwd=root, env=_env(root),
                          capture_output=True, text=True, timeout=1800)  # fmt: skip
    assert results.is_file(), (
        f"run_autograder wrote no results.json:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    )
    return json.loads(results.read_text()), done


def lost(results: dict) -> str:
    """The report's first line, then each test that lost points and why: the message a
    failing assertion shows."""
    tests = [t for t in results["tests"] if t["score"] < t["max_score"]]
    return "\n".join([results["output"], *(f"{t['name']}: {t['output'][:600]}" for t in tests)])


def level_of(results: dict) -> str:
    found = re.search(r"isolation: (\w+)", results["output"])
    assert found, f"results.json does not name the isolation level: {results['output']}"
    return found.group(1)


def test_the_bundle_installs_from_its_own_folder_alone(installed):
    root, seconds = installed
    where = subprocess.run(
        [str(root / "venv" / "bin" / "python"), "-c", "import lenet_course; print(lenet_course.__file__)"],
        cwd=root, env=_env(root), capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert where.startswith(str(root / "source")), f"the bundle's venv imports the kit from {where}"
    print(f"setup.sh: {seconds:.0f} s")


def test_run_autograder_gives_the_solutions_full_marks(installed):
    root, _ = installed
    sols = {e: (kit_root() / "solutions" / f"{e}.py").read_text() for e in EXERCISES}
    results, done = run_autograder(root, sols)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert results["score"] == FULL_MARKS, lost(results)


def test_run_autograder_gives_the_stubs_nothing(installed):
    root, _ = installed
    stubs = {e: (kit_root() / "exercises" / f"{e}.py").read_text() for e in EXERCISES}
    results, _ = run_autograder(root, stubs)
    assert results["score"] == 0, results["output"]
    assert results["tests"], "the stubs' results.json lists no tests"


def test_run_autograder_gives_a_submission_that_reads_the_kit_nothing(installed):
    root, _ = installed
    cheat = {
        e: READS_THE_KIT.format(
            n=i,
            name=e,
            solution=str(kit_root() / "solutions" / f"{e}.py"),
            source=str(root / "source"),
            clones=str(kit_root().parent),
        )  # fmt: skip
        for i, e in enumerate(EXERCISES, start=1)
    }
    results, _ = run_autograder(root, cheat)
    level = level_of(results)
    if level not in HIDING_LEVELS:
        assert "the filesystem was not hidden" in results["output"], results["output"]
        pytest.skip(f"the jail here is {level}, which hides no files; the report says so")
    assert results["score"] == 0, results["output"]
