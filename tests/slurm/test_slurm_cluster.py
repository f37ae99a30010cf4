"""`grade-all --executor slurm` against a real slurmctld, run the way an instructor runs it
(the CLI, in a subprocess): `nox -s slurm`, after `scripts/slurm_local.sh start`.

Each test logs the Slurm commands it calls (squeue, sacct, scancel) and what they said.
Without a cluster the tests skip with the reason; with LENET_REQUIRE_SLURM=1 (CI) they fail.
The classes are small and graded with --fast: a student's grade is the slow part.
"""

from __future__ import annotations

import csv
import html
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lenet_course.kit import kit_root
from tests.grading.conftest import FAST_MAX, make_submission

pytestmark = pytest.mark.slurm
log = logging.getLogger("slurm-tests")
SCRIPT = kit_root() / "scripts" / "slurm_local.sh"
SMALL_JOB = ["--cpus", "1", "--mem-gb", "1"]  # two jobs fit the 2-CPU test node at once


@pytest.fixture(scope="module", autouse=True)
def cluster():
    """A Slurm cluster that answers sinfo and sacct, or a skip (a failure in CI) saying why."""
    check = subprocess.run(["bash", str(SCRIPT), "check"], capture_output=True, text=True)
    if check.returncode != 0:
        why = check.stderr.strip() or f"{SCRIPT} check exited {check.returncode}"
        if os.environ.get("LENET_REQUIRE_SLURM") == "1":
            pytest.fail(f"LENET_REQUIRE_SLURM=1 but {why}", pytrace=False)
        pytest.skip(why)
    log.info("%s", check.stderr.strip())
    pytest.importorskip("submitit", reason="submitit is in [dev]; install the kit with it")


def slurm(*command: str, quiet: bool = False) -> str:
    """Run a Slurm command for real and log it with its answer (``quiet``: only a failure)."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if not quiet or result.returncode:
        log.info("$ %s -> rc %d: %s", " ".join(command), result.returncode,
                 (result.stdout + result.stderr).strip().replace("\n", " | ")[:300])  # fmt: skip
    return result.stdout if result.returncode == 0 else ""


def grade_all(folder: Path, out: Path, *flags: str) -> list[str]:
    return [sys.executable, "-m", "lenet_course.cli", "grade-all", str(folder), "--out",
            str(out), "--fast", "--allow-partial", *flags]  # fmt: skip


def run(command: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    log.info("$ %s -> rc %d", " ".join(command[3:]), result.returncode)
    return result


def gradebook(out: Path) -> dict[str, dict]:
    with open(out / "gradebook.csv") as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


def stubs(folder: Path, replace: dict[str, str] | None = None) -> Path:
    shutil.copytree(kit_root() / "exercises", folder, ignore=shutil.ignore_patterns("_*"))
    for name, text in (replace or {}).items():
        (folder / f"{name}.py").write_text(text)
    return folder


def array_id(out: Path, timeout: float = 60) -> str:
    """The job array a grade-all run submitted, from submitit's folder."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted((out / ".submitit").glob("*_submission.sh"))
        if found:
            return found[-1].name.split("_")[0]
        time.sleep(0.2)
    raise AssertionError(f"no job array was submitted under {out / '.submitit'}")


def states(array: str, quiet: bool = False) -> dict[str, str]:
    """Each task of ``array`` and its state, from squeue (queued and running) and sacct."""
    found = {}
    sacct = slurm("sacct", "-X", "-n", "-P", "-j", array, "-o", "JobID,State", quiet=quiet)
    for line in sacct.splitlines():
        job, state = line.split("|")
        if "[" not in job:  # not the record of an array's tasks still to start (21_[1-2%1])
            found[job] = state
    squeue = slurm("squeue", "-h", "-r", "-j", array, "-o", "%i|%T", quiet=quiet)
    for line in squeue.splitlines():
        job, state = line.split("|")
        found[job] = state
    return found


def last_end(array: str) -> float:
    """When the array's last task ended (sacct's End), as a Unix time."""
    ends = slurm("sacct", "-X", "-n", "-P", "-j", array, "-o", "End").split()
    stamps = [time.mktime(time.strptime(e, "%Y-%m-%dT%H:%M:%S")) for e in ends if e[:1].isdigit()]
    assert stamps, f"sacct has no end time for job {array}"
    return max(stamps)


def test_a_class_submitted_with_no_wait_one_job_at_a_time_is_collected_like_local(tmp_path):
    """Solutions, stubs and one broken submission; --no-wait --max-running 1; a second run
    while they are queued resubmits nothing; squeue never shows two running; a run after
    they finish collects them (each skipped) into the gradebook that --executor local writes."""
    folder = tmp_path / "class"
    make_submission(folder / "ada")
    stubs(folder / "bob")
    stubs(folder / "cy", replace={"ex1_lenet": "class LeNet(:\n"})
    out, local_out = tmp_path / "slurm", tmp_path / "local"

    first = run(grade_all(folder, out, "--executor", "slurm", "--no-wait", "--max-running", "1",
                          *SMALL_JOB))  # fmt: skip
    assert first.returncode == 0, first.stdout + first.stderr
    pending = json.loads((out / "pending.json").read_text())
    assert sorted(pending) == ["ada", "bob", "cy"], pending
    array = pending["ada"]["job"].split("_")[0]
    assert first.stdout.count(f"submitted (job {array}_") == 3, first.stdout

    again = run(grade_all(folder, out, "--executor", "slurm", "--no-wait", *SMALL_JOB))
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count(f"pending (job {array}_") + again.stdout.count("skipped") == 3, (
        again.stdout
    )
    assert len(list((out / ".submitit").glob("*_submission.sh"))) == 1, "a rerun resubmitted"

    local = subprocess.Popen(
        grade_all(folder, local_out, "--executor", "local", "--max-running", "1", *SMALL_JOB),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    most, seen, before, deadline = 0, set(), None, time.monotonic() + 900
    while True:  # while the array runs: never two of its tasks running at once
        now = states(array, quiet=True)
        if now != before:  # the log shows each change of the array's states
            log.info("sacct and squeue -r -j %s: %s", array, now)
            before = now
        running = [job for job, state in now.items() if state == "RUNNING"]
        most = max(most, len(running))
        seen.update(running)
        if len(now) == 3 and all(
            s not in ("PENDING", "RUNNING", "COMPLETING") for s in now.values()
        ):
            break
        assert time.monotonic() < deadline, f"the class's jobs did not end in 15 min: {now}"
        time.sleep(1)
    log.info("array %s: at most %d task(s) running at once; seen running: %s", array, most, seen)
    assert most == 1, f"--max-running 1, but squeue showed {most} of the class's jobs running"
    assert len(seen) == 3, f"squeue saw only {sorted(seen)} running"
    assert set(now.values()) == {"COMPLETED"}, now
    ended = last_end(array)

    collect = run(grade_all(folder, out, "--executor", "slurm"))
    collected = time.time()
    assert collect.returncode == 0, collect.stdout + collect.stderr
    assert collect.stdout.count("skipped") == 3, collect.stdout
    log.info("last job ended -> gradebook written by the collecting run: %.1f s",
             collected - ended)  # fmt: skip
    assert json.loads((out / "pending.json").read_text()) == {}

    local_out_text, _ = local.communicate(timeout=600)
    assert local.returncode == 0, local_out_text
    book, expected = gradebook(out), gradebook(local_out)
    assert book["ada"]["total"] == str(FAST_MAX) and book["bob"]["total"] == "0", book
    for student in expected:
        expected[student]["status"] = expected[student]["status"].replace(
            "graded", "graded (earlier run)"
        )
    assert book == expected, f"Slurm's gradebook differs from the local executor's:\n{book}"


def test_a_cancelled_job_and_one_killed_at_its_time_limit_say_why_and_the_others_are_graded(
    tmp_path,
):
    """Two classes graded at once, each waiting. Sam, asleep in Exercise 1, has --time-min 1
    (Slurm warns the job 15 s before the limit, a quarter of it; submitit's 90 s came before
    the job started): his job stops at the limit. Quinn's job is cancelled with scancel while
    it waits behind bob's (--max-running 1), and bob, in the same array, is graded. A task of
    an array cancelled while pending may have no sacct record (Slurm 22.05), or get one a
    moment after squeue drops it: the run must see it gone from squeue, not wait for it
    forever, and say "cancelled" whenever accounting records it. The gradebooks and the class reports give each reason,
    then the log; bob's class is collected within 30 s of its last job."""
    short, rest = tmp_path / "short", tmp_path / "class"
    stubs(short / "sam", replace={"ex1_lenet": "import time\n\ntime.sleep(600)\n"})
    stubs(rest / "bob")
    stubs(rest / "quinn")
    started = time.time()
    sleeper = subprocess.Popen(
        grade_all(short, tmp_path / "short-grades", "--executor", "slurm", "--time-min", "1",
                  "--test-timeout", "300", *SMALL_JOB),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    out = tmp_path / "grades"
    grading = subprocess.Popen(
        grade_all(rest, out, "--executor", "slurm", "--max-running", "1", *SMALL_JOB),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    array = array_id(out)
    slurm("scancel", f"{array}_1")  # quinn: students are submitted in name order
    text, _ = grading.communicate(timeout=400)
    log.info("grade-all (bob, quinn) took %.0f s:\n%s", time.time() - started, text)
    assert grading.returncode == 1, text
    final = states(array)
    # Accounting may or may not keep a record of a task cancelled while pending; the kit
    # asks it again before it concludes there is none, so either way is said right.
    quinn_state = final.pop(f"{array}_1", "")
    assert final == {f"{array}_0": "COMPLETED"}, f"bob's job did not complete: {final}"
    ended = last_end(array)
    written = (out / "gradebook.csv").stat().st_mtime
    log.info("last job ended -> gradebook written: %.1f s", written - ended)
    assert written - ended < 30, f"the gradebook came {written - ended:.0f} s after the last job"
    slept, _ = sleeper.communicate(timeout=400)
    log.info("grade-all (sam, --time-min 1) took %.0f s:\n%s", time.time() - started, slept)
    assert sleeper.returncode == 1, slept

    book = gradebook(out)
    assert book["bob"]["status"] == "graded" and book["bob"]["total"] == "0", book["bob"]
    logs = out.resolve() / ".submitit"
    quinn = book["quinn"]["status"]
    why = (
        "cancelled (scancel, or the cluster's administrators)"
        if quinn_state.startswith("CANCELLED")
        else "left the queue with no record in sacct (cancelled before it started?)"
    )
    assert quinn_state in ("",) or quinn_state.startswith("CANCELLED"), quinn_state
    assert quinn == f"error: job {array}_1 {why}; log: {logs}/{array}_1_0_log.err", (
        f"sacct says {quinn_state or 'nothing'} of quinn's job; the gradebook: {quinn}"
    )
    sam = gradebook(tmp_path / "short-grades")["sam"]["status"]
    assert sam.startswith("error: job ") and " killed at its time limit (--time-min 1); log: " \
        in sam and sam.endswith("_log.err"), sam  # fmt: skip
    for grades, status in ((out, quinn), (tmp_path / "short-grades", sam)):
        page = html.unescape((grades / "report.html").read_text())
        assert status.split("; log: ")[0] in page and status.split("; log: ")[1] in page, page


def test_a_job_cancelled_after_no_wait_says_why_when_the_next_run_collects(tmp_path):
    folder, out = tmp_path / "class", tmp_path / "grades"
    stubs(folder / "quinn")
    first = run(grade_all(folder, out, "--executor", "slurm", "--no-wait", *SMALL_JOB))
    assert first.returncode == 0, first.stdout + first.stderr
    job = json.loads((out / "pending.json").read_text())["quinn"]["job"]
    slurm("scancel", job)
    deadline = time.monotonic() + 60
    while not states(job.split("_")[0]).get(job, "").startswith("CANCELLED"):
        assert time.monotonic() < deadline, f"job {job} was not cancelled"
        time.sleep(1)
    collect = run(grade_all(folder, out, "--executor", "slurm", "--no-wait", *SMALL_JOB))
    assert collect.returncode == 1, collect.stdout + collect.stderr
    status = gradebook(out)["quinn"]["status"]
    logs = out.resolve() / ".submitit"
    assert status == (
        f"error: job {job} cancelled (scancel, or the cluster's administrators); "
        f"log: {logs}/{job}_0_log.err (run again to resubmit)"
    ), status
    assert len(list(logs.glob("*_submission.sh"))) == 1, "the collecting run resubmitted"
    assert json.loads((out / "pending.json").read_text()) == {}


@pytest.mark.parametrize(
    "flags, says",
    [
        (["--partition", "nosuch"], ["--partition nosuch: Slurm has no such partition", "debug",
                                     "`sinfo -s`"]),
        (["--account", "nosuch"], ["--account nosuch: you have no Slurm account", "sacctmgr"]),
        (["--mem-gb", "100000"], ["Slurm refused the class's job array",
                                  "Requested node configuration is not available",
                                  "nothing was submitted"]),
    ],
)  # fmt: skip
def test_a_wrong_partition_account_or_option_is_a_clear_error_and_submits_nothing(
    flags, says, tmp_path
):
    folder = tmp_path / "class"
    stubs(folder / "bob")
    before = slurm("squeue", "-h", "-o", "%i")
    result = run(grade_all(folder, tmp_path / "out", "--executor", "slurm", *flags), timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    for words in says:
        assert words in result.stderr, result.stderr
    assert slurm("squeue", "-h", "-o", "%i") == before, "a job was submitted"
    assert (
        not (tmp_path / "out" / "pending.json").exists()
        or json.loads((tmp_path / "out" / "pending.json").read_text()) == {}
    )


def test_a_cluster_without_accounting_is_refused_before_anything_is_submitted(tmp_path):
    """The test cluster's slurm.conf with accounting off (SLURM_CONF, read by sacct itself):
    without sacct a cancelled or killed job would be waited for forever."""
    conf = tmp_path / "slurm.conf"
    text = Path(os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf")).read_text()
    conf.write_text("\n".join(
        "AccountingStorageType=accounting_storage/none" if line.startswith("AccountingStorageType")
        else line for line in text.splitlines()
    ))  # fmt: skip
    folder = tmp_path / "class"
    stubs(folder / "bob")
    command = grade_all(folder, tmp_path / "out", "--executor", "slurm")
    result = subprocess.run(command, capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, SLURM_CONF=str(conf)))  # fmt: skip
    log.info("with accounting off: rc %d: %s", result.returncode, result.stderr.strip())
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "accounting does not answer (sacct: Slurm accounting storage is disabled)" in (
        result.stderr
    ), result.stderr
    assert "What the cluster must provide" in result.stderr


def test_a_short_time_limit_runs_jobs_and_a_job_that_raises_says_what(tmp_path):
    """The library under the CLI, with cheap jobs: --time-min 1 used to fail every job at
    once (the warning came 90 s before a 60 s limit); a job's exception is its reason."""
    from lenet_course.grading.classroom.cluster import ClusterConfig, make_executor, run_jobs

    executor = make_executor(ClusterConfig(time_min=1, cpus=1, mem_gb=1), tmp_path / "logs")
    results, statuses = [], []
    started = time.monotonic()
    run_jobs(executor, int, ["7", "x"], wait=True, on_result=results.append,
             on_status=lambda task, status: statuses.append((task, status)))  # fmt: skip
    log.info("two one-line jobs on Slurm, submission to results: %.1f s",
             time.monotonic() - started)  # fmt: skip
    script = next((tmp_path / "logs").glob("*_submission.sh")).read_text()
    assert "#SBATCH --signal=USR2@15" in script and "#SBATCH --time=1" in script, script
    assert results == [7], statuses
    assert len(statuses) == 1 and statuses[0][0] == "x", statuses
    assert "failed: ValueError: invalid literal for int() with base 10: 'x'" in statuses[0][1]
    assert "; log: " in statuses[0][1] and statuses[0][1].endswith("_1_0_log.err"), statuses
