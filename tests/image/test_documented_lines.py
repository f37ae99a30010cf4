"""Each `docker run` line of the README, run in the built image as written (STYLE habit 13).

`nox -s image` builds the image and `nox -s image_test` runs this file (marker ``image``;
never collected by the README's test command). Each line is taken word for word from the
README's "GPU validation and Docker" block, with stated substitutions: ``docker`` is the
engine found ($LENET_ENGINE), the image is $LENET_IMAGE (default lenet-course), ``--gpus all`` is dropped (the CPU stands in for the GPU,
so validate gets ``--allow-cpu --epochs 1``), and ``"$(id -u):$(id -g)"`` is a non-root uid
(:data:`HOST_USER`) that owns the mounted folders, as an instructor's own uid would (CI runs
as root, where that expression would give 0).

:data:`EXPECTED` is the one table of what each line must give; the README's table of lines,
users and levels is checked against it and was written from the run that measured it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from lenet_course.grading.judge.catalog import points
from lenet_course.kit import EXERCISES, kit_root

pytestmark = pytest.mark.image

ENGINE = os.environ.get("LENET_ENGINE", "podman")
IMAGE = os.environ.get("LENET_IMAGE", "lenet-course")
HOST_USER = "1234:1234"  # stands in for "$(id -u):$(id -g)" of an instructor who is not root
FAST_MAX = points()["fast"]  # the fast tier (no 10-epoch training), from the tests' markers
README = (kit_root() / "README.md").read_text()

# The one table: for each documented line (found in the README by the words here), the user
# it runs as and the isolation level it must report (measured 2026-12-03, podman 4.3.1 +
# runc, Linux 6.18: the plain line gives landlock since issue 27, Landlock under the
# grader's own uid; before it, none). Change a level here and in the README's table.
EXPECTED = {
    "bwrap": ("--cap-add NET_ADMIN", "root", "bwrap"),
    "root": ("--user 0 -v", "root", "landlock"),
    "plain": (
        '$(id -g)" -v "$PWD/subs:/subs" lenet-course lenet-course grade',
        "host uid",
        "landlock",
    ),
}
# What each level keeps a submission that borrows the kit's files from: the exercises it can
# score. Where files are hidden (bwrap, landlock) it scores nothing on ex1 and ex3.
HIDES_FILES = {"bwrap": True, "landlock": True, "none": False}


def documented_lines() -> list[str]:
    block = README.split("## Instructors: GPU validation and Docker", 1)[1].split("```bash", 1)[1]
    block = block.split("```", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip().startswith("docker run")]


def line_with(words: str) -> str:
    found = [line for line in documented_lines() if words in line]
    assert len(found) == 1, f"the README must have one `docker run` line with {words!r}: {found}"
    return found[0]


def run_line(
    line: str,
    workdir: Path,
    *,
    extra: tuple[str, ...] = (),
    opts: tuple[str, ...] = (),
    timeout: float = 1800,
):
    """Run a README line as written, with the stated substitutions; ``extra`` is appended
    to its command (a shorter variant, stated where used), ``opts`` to the engine's options
    (before the image)."""
    text = line.replace('"$(id -u):$(id -g)"', HOST_USER).replace("$PWD", str(workdir))
    argv = shlex.split(text)
    assert argv[:2] == ["docker", "run"], line
    argv[0] = ENGINE
    at = argv.index("lenet-course")  # the first bare `lenet-course` is the image
    argv[at : at + 1] = [*opts, IMAGE]
    while "--gpus" in argv:  # the CPU stands in for the GPU
        i = argv.index("--gpus")
        del argv[i : i + 2]
    start = time.monotonic()
    done = subprocess.run([*argv, *extra], capture_output=True, text=True, timeout=timeout)
    done.seconds = time.monotonic() - start
    return done


def folders(tmp_path: Path, *names: str) -> Path:
    """The mounted folders, made by their owner (the README's mkdir line) before the run."""
    uid, gid = (int(x) for x in HOST_USER.split(":"))
    tmp_path.chmod(0o755)
    for name in names:
        (tmp_path / name).mkdir(parents=True, exist_ok=True)
        os.chown(tmp_path / name, uid, gid)
    return tmp_path


def submission(root: Path, name: str, files: dict[str, str]) -> Path:
    uid, gid = (int(x) for x in HOST_USER.split(":"))
    folder = root / "subs" / name
    folder.mkdir(parents=True, exist_ok=True)
    for exercise, text in files.items():
        (folder / f"{exercise}.py").write_text(text)
    for path in [folder, *folder.iterdir()]:
        os.chown(path, uid, gid)
    return folder


SOLUTIONS = {e: (kit_root() / "solutions" / f"{e}.py").read_text() for e in EXERCISES}
STUBS = {e: (kit_root() / "exercises" / f"{e}.py").read_text() for e in EXERCISES}
BORROWS = '''
"""Borrowed from the image's own copy of the kit: {path}."""
_ns = {{"__name__": "borrowed"}}
try:
    exec(open("/opt/lenet-course/solutions/{name}.py").read().replace("from .", "from _x."), _ns)
except BaseException:
    pass
globals().update({{k: v for k, v in _ns.items() if not k.startswith("__")}})
'''
HANGS = SOLUTIONS["ex2_log_softmax"].replace(
    "import torch", "import time\nimport torch\ntime.sleep(10**6)", 1
)
HOSTILE = {
    **SOLUTIONS,
    "ex1_lenet": BORROWS.format(path="ex1", name="ex1_lenet"),
    "ex2_log_softmax": HANGS,
    "ex3_train": BORROWS.format(path="ex3", name="ex3_train"),
}


def grade_line(
    kind: str, tmp_path: Path, files: dict[str, str], *extra: str, opts: tuple[str, ...] = ()
) -> tuple[dict, str]:
    line = line_with(EXPECTED[kind][0])
    root = folders(tmp_path, "subs")
    submission(root, "alice", files)
    done = run_line(line, root, extra=extra, opts=opts)
    out = done.stdout + done.stderr
    results = root / "subs" / "alice" / "results.json"
    assert results.is_file(), (
        f"{line}\n wrote no results.json (exit {done.returncode}):\n{out[-3000:]}"
    )
    level = re.search(r"isolation: (\w+)", out)
    assert level, f"{line}\n reported no isolation level:\n{out[-3000:]}"
    print(f"[{kind}] {done.seconds:.0f} s, exit {done.returncode}, isolation: {level.group(1)}")
    return json.loads(results.read_text()), level.group(1)


@pytest.mark.parametrize("kind", [k for k in EXPECTED if k != "bwrap"])  # bwrap: full marks below
def test_each_grade_line_gives_its_level_and_the_solutions_the_fast_tier(kind, tmp_path):
    results, level = grade_line(kind, tmp_path, SOLUTIONS, "--fast")
    assert level == EXPECTED[kind][2], f"{line_with(EXPECTED[kind][0])}\n gave {level}"
    assert results["score"] == FAST_MAX, results["output"]


def test_the_jails_cost_against_no_jail_in_the_image(tmp_path):
    """The root line with ``-e LENET_JAIL=none`` (no jail, forced): the baseline that the
    levels' fast-tier times in the log are read against (README, "cost of the jail")."""
    results, level = grade_line(
        "root", tmp_path, SOLUTIONS, "--fast", opts=("-e", "LENET_JAIL=none")
    )
    assert (level, results["score"]) == ("none", FAST_MAX), results["output"]


def test_the_stubs_earn_nothing(tmp_path):
    results, _ = grade_line("root", tmp_path, STUBS, "--fast")
    assert results["score"] == 0, results["output"]


def test_the_bwrap_line_gives_the_solutions_full_marks(tmp_path):
    results, level = grade_line("bwrap", tmp_path, SOLUTIONS)
    assert (level, results["score"]) == ("bwrap", points()["total"]), results["output"]


def test_a_forced_level_the_line_cannot_give_stops_before_grading(tmp_path):
    """README: "Force a level with `-e LENET_JAIL=bwrap` ...: the grader then stops with an
    error where the container cannot give it." The plain root line cannot give bwrap."""
    root = folders(tmp_path, "subs")
    submission(root, "alice", SOLUTIONS)
    done = run_line(line_with(EXPECTED["root"][0]), root, opts=("-e", "LENET_JAIL=bwrap"))
    out = done.stdout + done.stderr
    assert done.returncode == 2, f"a user mistake exits 2, not {done.returncode}:\n{out[-3000:]}"
    assert "LENET_JAIL=bwrap: bubblewrap cannot start here" in out, out[-3000:]
    assert "--cap-add NET_ADMIN" in out, f"the error must say how to fix it:\n{out[-3000:]}"
    assert "Traceback" not in out, out[-3000:]
    assert not (root / "subs" / "alice" / "results.json").exists(), "it graded anyway"


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_a_hostile_submission_at_each_level(kind, tmp_path):
    """Two cases of the adversarial suite in one submission, to keep CI short: Exercises 1
    and 3 borrow the image's own solutions, Exercise 2 hangs on import (each of its five
    tests then runs out of its 8 s, as in tests/grading/test_adversarial.py)."""
    results, level = grade_line(kind, tmp_path, HOSTILE, "--fast", "--test-timeout", "8")
    assert level == EXPECTED[kind][2], f"{line_with(EXPECTED[kind][0])}\n gave {level}"
    scores = {}
    for t in results["tests"]:
        ex = t["name"].split(":")[0]
        scores[ex] = scores.get(ex, 0) + t["score"]
    assert scores["ex2_log_softmax"] == 0, f"a hang must cost its tests: {results['output']}"
    if HIDES_FILES[level]:
        assert scores["ex1_lenet"] == 0 and scores["ex3_train"] == 0, results["output"]
        assert scores["ex4_kernels"] == points()["fast_by_exercise"]["ex4_kernels"], (
            f"the rest is graded as usual: {results['output']}"
        )
    else:  # no jail: the borrowed files are in reach, and the report says there is no jail
        assert "isolation: none" in results["output"], results["output"]


def test_the_validate_line_writes_a_complete_report_into_the_mounted_folder(tmp_path):
    """Short variant: --allow-cpu --epochs 1 (the CPU stands in; one epoch per timed
    training). The one run of the whole `validate` in CI: the report's checks and timings
    are asserted here, as the instructor's line writes them."""
    line = line_with("/opt/lenet-course/validation")
    root = folders(tmp_path, "validation")
    done = run_line(
        line, root, extra=("nox", "-s", "validate", "--", "--allow-cpu", "--epochs", "1")
    )
    print(f"[validate] {done.seconds:.0f} s, exit {done.returncode}")
    out = (done.stdout + done.stderr)[-3000:]
    assert (root / "validation" / "validation.json").is_file(), f"no report:\n{out}"
    report = json.loads((root / "validation" / "validation.json").read_text())
    checks = {c["name"]: c["passed"] for c in report["checks"]}
    assert checks["solutions pass every graded test"], report["checks"]
    assert checks["exercises fail every test with NotImplementedError"], report["checks"]
    assert checks["benchmarks ran"], report["checks"]
    assert done.returncode == (0 if report["passed"] else 1), out
    timings = {t["path"]: t for t in report["timings"]}
    assert set(timings) == {"tensor loader, eager", "tensor loader, CUDA graph",
                            "torchvision DataLoader (lecture)"}  # fmt: skip
    graph = timings.pop("tensor loader, CUDA graph")
    assert graph["seconds_per_epoch"] is None and "needs a CUDA device" in graph["skipped"]
    assert all(t["seconds_per_epoch"] > 0 for t in timings.values()), timings
    md = (root / "validation" / "validation.md").read_text()
    assert "| check | result | detail |" in md and report["environment"]["torch"] in md


def test_the_train_line_writes_its_run_into_the_mounted_folder(tmp_path):
    """Short variant: --epochs 1."""
    line = line_with("lenet-course train")
    root = folders(tmp_path, "runs")
    done = run_line(line, root, extra=("--epochs", "1"))
    print(f"[train] {done.seconds:.0f} s, exit {done.returncode}")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert list((root / "runs").rglob("history.json")), "train wrote no history.json"


def test_the_check_line_passes_the_solutions(tmp_path):
    line = line_with("lenet-course check")
    root = folders(tmp_path, "subs")
    submission(root, "alice", SOLUTIONS)
    done = run_line(line, root)
    print(f"[check] {done.seconds:.0f} s, exit {done.returncode}")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]


def test_the_default_command_fails_without_a_gpu():
    """The image's default command validates on a GPU; without one it says so and exits 1."""
    done = subprocess.run([ENGINE, "run", "--rm", "--network", "none", IMAGE],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode != 0
    assert "GPU" in done.stdout + done.stderr or "CUDA" in done.stdout + done.stderr


def test_the_readme_table_is_the_measured_one():
    for words, user, level in EXPECTED.values():
        row = [r for r in README.splitlines() if r.startswith("|") and f"`{level}`" in r]
        assert any(user in r for r in row), (
            f"the README's table must give {words!r}: {user}, {level}"
        )
    assert "untested here" not in README


if shutil.which(ENGINE) is None:  # pragma: no cover - a clear skip, not a crash
    pytestmark = [pytest.mark.image, pytest.mark.skip(reason=f"{ENGINE} is not installed")]
