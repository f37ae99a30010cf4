"""Class-scale grading: submitit's local executor for real, Slurm through submitit's own
mock, the class report, and the error when the extra is missing."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import time

import matplotlib.image
import pytest

from lenet_course.errors import UserError
from lenet_course.grading.classroom import cluster
from lenet_course.grading.classroom.classreport import write_class_report
from lenet_course.grading.classroom.cluster import (
    ClusterConfig,
    failure_reason,
    make_executor,
    poll_delays,
)
from lenet_course.grading.classroom.gradebook import grade_all
from lenet_course.grading.classroom.status import Kind, Status
from lenet_course.grading.judge.catalog import points
from lenet_course.kit import kit_root
from tests.grading.conftest import FAST_MAX, SMALL, make_submission

submitit = pytest.importorskip("submitit", reason="submitit is in [dev]; install the kit with it")


def a_class(folder, *, broken: bool = True):
    """A correct submission, the unfinished stubs and, with ``broken``, one whose Exercise 3
    does not parse: worth FAST_MAX, 0 and FAST_MAX minus Exercise 3's fast points."""
    make_submission(folder / "ada")
    shutil.copytree(kit_root() / "exercises", folder / "bob", ignore=shutil.ignore_patterns("_*"))
    if broken:
        make_submission(folder / "cy", replace={"ex3_train": "def train(:\n"})
    return folder


def gradebook(out) -> dict[str, dict]:
    with open(out / "gradebook.csv") as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


@pytest.mark.validation
def test_local_executor_grades_a_class_and_a_rerun_skips_everyone(tmp_path):
    folder, out = a_class(tmp_path / "class"), tmp_path / "grades"
    executor = make_executor(ClusterConfig(kind="local", max_running=3), out / ".submitit")
    outcomes = grade_all(folder, out, SMALL, full=False, executor=executor, allow_partial=True)
    assert [(o.student, o.status) for o in outcomes] == [
        ("ada", "graded"), ("bob", "graded"), ("cy", "graded")
    ], outcomes  # fmt: skip
    book = gradebook(out)
    assert {s: int(r["total"]) for s, r in book.items()} == {
        "ada": FAST_MAX, "bob": 0, "cy": FAST_MAX - points()["fast_by_exercise"]["ex3_train"]
    }  # fmt: skip
    assert book["cy"]["ex3_train"] == "0" and book["cy"]["ex1_lenet"] == "25"
    jobs = list((out / ".submitit").glob("*_result.pkl"))
    assert len(jobs) == 3, "each student should have run as a submitit job of its own"

    again = grade_all(folder, out, SMALL, full=False, executor=executor, allow_partial=True)
    assert [o.status for o in again] == ["skipped"] * 3
    assert len(list((out / ".submitit").glob("*_result.pkl"))) == 3, "a rerun submitted jobs"
    assert {r["status"] for r in gradebook(out).values()} == {"graded (earlier run)"}


@pytest.mark.validation
def test_slurm_array_carries_the_resources_and_is_collected_by_a_later_run(tmp_path, monkeypatch):
    from submitit.core import submission
    from submitit.core.test_core import MockedSubprocess
    from submitit.slurm.slurm import SlurmJob

    folder, out = a_class(tmp_path / "class", broken=False), tmp_path / "grades"
    logs = out / ".submitit"
    config = ClusterConfig(
        kind="slurm", max_running=1, gpus=1, cpus=4, mem_gb=3, time_min=20,
        partition="teach", account="cs101", sbatch=(("qos", "short"),),
    )  # fmt: skip
    mnist = tmp_path / "shared-mnist"  # where the jobs read MNIST: carried by each task
    mnist.mkdir()
    mock = MockedSubprocess(known_cmds=["srun"])
    try:
        with mock.context():
            executor = make_executor(config, logs)
            monkeypatch.setattr(cluster, "check_slurm", lambda config: None)  # no real sinfo
            first = grade_all(
                folder,
                out,
                SMALL,
                full=False,
                executor=executor,
                wait=False,
                data_root=mnist,
                allow_partial=True,
            )
            assert [o.status for o in first] == ["submitted (job 12_0)", "submitted (job 12_1)"]
            sbatch = SlurmJob(logs, "12").paths.submission_file.read_text().splitlines()
            for line in ("#SBATCH --array=0-1%1", "#SBATCH --gpus-per-node=1",
                         "#SBATCH --cpus-per-task=4", "#SBATCH --mem=3GB", "#SBATCH --time=20",
                         "#SBATCH --partition=teach", "#SBATCH --account=cs101",
                         "#SBATCH --qos=short"):  # fmt: skip
                assert line in sbatch, f"{line!r} missing from the sbatch file:\n" + "\n".join(
                    sbatch
                )
            for job_id in ("12_0", "12_1"):
                task = SlurmJob(logs, job_id).submission().args[0]
                assert task.data_root == str(mnist), "a job would not know where MNIST is"
            pending = json.loads((out / "pending.json").read_text())
            assert {s: p["job"] for s, p in pending.items()} == {"ada": "12_0", "bob": "12_1"}

            # Still queued: a second run resubmits nothing and says so.
            waiting = grade_all(
                folder, out, SMALL, full=False, executor=executor, wait=False, allow_partial=True
            )
            assert [o.status for o in waiting] == ["pending (job 12_0)", "pending (job 12_1)"]
            assert mock.job_count == 13, "a second run submitted the class again"

            for job_id in ("12_0", "12_1"):  # the cluster runs the jobs (here, in-process)
                with mock.job_context(job_id):
                    submission.process_job(SlurmJob(logs, job_id).paths.folder)
            mock.set_job_state("12", "COMPLETED", array=2)
            done = grade_all(folder, out, SMALL, full=False, executor=executor, allow_partial=True)
    finally:
        SlurmJob.watcher.clear()
    assert [o.status for o in done] == ["skipped", "skipped"]
    assert {s: int(r["total"]) for s, r in gradebook(out).items()} == {"ada": FAST_MAX, "bob": 0}
    assert json.loads((out / "pending.json").read_text()) == {}


def test_without_submitit_the_cluster_executors_name_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "submitit", None)
    for kind in ("slurm", "local"):
        with pytest.raises(UserError, match=r"pip install 'lenet-course\[slurm\]'"):
            make_executor(ClusterConfig(kind=kind), tmp_path)


def test_class_report_draws_the_scores_and_pass_rates_and_lists_who_needs_a_look(tmp_path):
    def report(scores: dict[str, int], timeout: bool = False) -> dict:
        tests = [
            {"nodeid": f"t.py::{name}", "exercise": "ex1_lenet", "score": s, "max_score": 5,
             "status": "passed" if s else "failed",
             "message": "not run: the submission's time limit was reached" if timeout and not s else ""}
            for name, s in scores.items()
        ]  # fmt: skip
        return {"tests": tests, "max_score": 10, "fingerprint": "x"}

    rows = {
        "ada": report({"a": 5, "b": 5}),
        "bob": report({"a": 5, "b": 0}, timeout=True),
        "cy": report({"a": 0, "b": 0}),
        "dan": None,
    }
    graded, skipped = Status(Kind.GRADED), Status(Kind.SKIPPED)
    statuses = {"ada": graded, "bob": graded, "cy": skipped, "dan": Status(Kind.ERROR, "no MNIST")}
    page = write_class_report(tmp_path, statuses, rows, None, "not screened").read_text()
    assert "dan</b>: grader error: no MNIST" in page
    assert "bob</b>: 1 test(s) hit a time limit" in page
    assert "ada</b>" not in page and "cy</b>" not in page
    assert "3 graded" in page and "mean total 5.0 of 10" in page
    for name in ("scores.png", "pass-rates.png"):
        image = matplotlib.image.imread(tmp_path / name)
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 400, image.shape
        assert image[..., :3].std() > 0.05, f"{name} is blank"
        assert f'src="{name}"' in page


@pytest.mark.parametrize(
    "flags, says",
    [
        (["--no-wait"], "--no-wait needs --executor slurm"),
        (["--executor", "local", "--no-wait"], "--no-wait needs --executor slurm"),
        (["--executor", "slurm", "--sbatch", "qos"], "write NAME=VALUE"),
        (["--student", "nobody"], "no student folder named nobody"),
        (["--executor", "slurm", "--time-min", "0"], "--time-min 0: must be at least 1"),
    ],
)
def test_grade_all_refuses_contradictory_cluster_flags_with_a_message(flags, says, tmp_path):
    import subprocess

    make_submission(tmp_path / "class" / "ada")
    result = subprocess.run(
        [sys.executable, "-m", "lenet_course.cli", "grade-all", str(tmp_path / "class"),
         "--out", str(tmp_path / "out"), *flags],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr


def test_the_time_limit_warning_comes_a_quarter_of_the_limit_before_it_at_most_90_s():
    # submitit's fixed 90 s warning came before a 1-minute job started: every job failed.
    assert [ClusterConfig(time_min=m).signal_delay_s for m in (1, 2, 3, 6, 20)] == [
        15, 30, 45, 90, 90
    ]  # fmt: skip
    with pytest.raises(UserError, match="--time-min 0: must be at least 1"):
        ClusterConfig(time_min=0)
    with pytest.raises(UserError, match="--max-running 0"):
        ClusterConfig(max_running=0)


def test_polling_starts_at_a_second_and_backs_off_to_the_cap():
    slurm = poll_delays("slurm")
    delays = [next(slurm) for _ in range(10)]
    assert delays[0] == 1.0 and delays == sorted(delays) and delays[-1] == 15.0, delays
    local = poll_delays("local")
    assert [next(local) for _ in range(3)] == [1.0, 1.0, 1.0]


class _Job:
    """A job that is done after ``polls`` looks."""

    def __init__(self, task, polls):
        self.task, self.polls, self.job_id = task, polls, f"1_{task}"

    def done(self):
        self.polls -= 1
        return self.polls < 0

    def result(self):
        return self.task

    paths = None


def test_the_wait_backs_off_and_no_sleep_follows_the_last_job(monkeypatch):
    sleeps = []
    monkeypatch.setattr(cluster.time, "sleep", sleeps.append)
    monkeypatch.setitem(cluster.POLL_MAX_SECONDS, "local", 15.0)  # Slurm's cap, to see it grow
    executor = type("Executor", (), {})()
    executor.lenet_config = ClusterConfig(kind="local", max_running=2)
    polls = {"a": 4, "b": 1}  # b is done at the second look, a at the fifth
    executor.submit = lambda fn, task: _Job(task, polls[task])
    results = []
    cluster.run_jobs(executor, None, ["a", "b"], wait=True, on_result=results.append,
                     on_status=None)  # fmt: skip
    assert sorted(results) == ["a", "b"]
    # 1 s, then b is done (no wait, and back to 1 s), 1 s, 1.5 s, then a is done: no wait.
    assert sleeps == [1.0, 1.0, 1.5], "a wait after the last job, or no backoff between looks"


TRACE = """Job (task=1) failed during processing with trace:
----------------------
Traceback (most recent call last):
  File "grade.py", line 3, in grade_one
ValueError: the kit broke
----------------------
You can check full logs with 'job.stderr(1)' and 'job.stdout(1)'or at paths:
  - /grades/.submitit/5_1_0_log.err
  - /grades/.submitit/5_1_0_log.out"""


@pytest.mark.parametrize(
    "exc, state, says",
    [
        (None, "CANCELLED by 0", "cancelled (scancel, or the cluster's administrators)"),
        (None, "TIMEOUT", "killed at its time limit (--time-min 20)"),
        (None, "OUT_OF_MEMORY", "killed for using more memory than --mem-gb 3"),
        (RuntimeError("Job not requeued because: timed-out and not checkpointable."), "FAILED",
         "killed at its time limit (--time-min 20)"),
        (RuntimeError(TRACE), "FAILED", "failed: ValueError: the kit broke"),
        (RuntimeError("Job 5_1 (task: 0) with path /x/5_1_0_result.pkl\nhas not produced any "
                      "output (state: FAILED)\nError stream produced:\n----\nsrun: error: "
                      "python3: No such file or directory"), "FAILED",
         "ended without a result (Slurm state FAILED): srun: error: python3: No such file"),
    ],
)  # fmt: skip
def test_a_failed_job_says_why_in_a_few_words(exc, state, says):
    assert failure_reason(exc, state, ClusterConfig()).startswith(says)


def _answers(**said):
    """Stand-ins for Slurm's commands: name -> (exit code, stdout, stderr)."""

    def run(*args):
        code, out, err = said[args[0]]
        return cluster.subprocess.CompletedProcess(args, code, out, err)

    return run


def test_the_cluster_is_checked_before_anything_is_submitted(monkeypatch):
    monkeypatch.setattr(cluster.shutil, "which", lambda name: None)
    with pytest.raises(UserError, match="sbatch is not on PATH here.*login node"):
        cluster.check_slurm(ClusterConfig())
    monkeypatch.setattr(cluster.shutil, "which", lambda name: f"/usr/bin/{name}")
    off = "sacct: error: Slurm accounting storage is disabled"
    monkeypatch.setattr(cluster, "slurm_command", _answers(sacct=(1, "", off)))
    with pytest.raises(UserError, match="accounting does not answer.*storage is disabled"):
        cluster.check_slurm(ClusterConfig())
    monkeypatch.setattr(
        cluster, "slurm_command",
        _answers(sacct=(0, "", ""), sinfo=(0, "teach\ngpu\n", ""), sacctmgr=(0, "cs101\n", "")),
    )  # fmt: skip
    cluster.check_slurm(ClusterConfig(partition="teach", account="cs101"))
    with pytest.raises(UserError, match=r"--partition nosuch: .*gpu, teach.*`sinfo -s`"):
        cluster.check_slurm(ClusterConfig(partition="nosuch"))
    with pytest.raises(UserError, match=r"--account cs999: .*cs101.*sacctmgr"):
        cluster.check_slurm(ClusterConfig(account="cs999"))


def test_squeue_says_which_tasks_are_still_queued_or_running(monkeypatch):
    listing = "5_0|COMPLETED\n5_1|RUNNING\n5_2|PENDING\n6|CANCELLED\n"
    monkeypatch.setattr(cluster, "slurm_command", _answers(squeue=(0, listing, "")))
    assert cluster.queued(["5_0", "5_2", "6"]) == {"5_1", "5_2"}
    gone = "slurm_load_jobs error: Invalid job id specified"
    monkeypatch.setattr(cluster, "slurm_command", _answers(squeue=(1, "", gone)))
    assert cluster.queued(["5_0"]) == set(), "an array purged from the queue has nothing queued"
    monkeypatch.setattr(cluster, "slurm_command", _answers(squeue=(1, "", "timed out")))
    assert cluster.queued(["5_0"]) is None, "squeue not answering says nothing"
    monkeypatch.setattr(cluster.subprocess, "run", lambda *a, **k: (_ for _ in ()).throw(
        FileNotFoundError("squeue")))  # fmt: skip
    assert cluster.queued(["5_0"]) is None, "no squeue here says nothing either"


def test_a_job_sacct_records_late_is_said_cancelled_not_vanished(monkeypatch):
    """slurmdbd writes behind the controller: a task cancelled while pending may be gone from
    squeue before sacct knows it. The kit asks again, within a bounded wait, before it
    concludes that accounting has no record."""
    answers = iter(["", "", "7_1|CANCELLED by 0\n"])
    asked = []

    def sacct(*args):
        asked.append(args)
        return subprocess.CompletedProcess(args, 0, next(answers), "")

    monkeypatch.setattr(cluster, "slurm_command", sacct)
    monkeypatch.setattr(cluster, "ACCOUNTING_POLL_SECONDS", 0.01)
    state = cluster.accounted_state("7_1", wait=5)
    assert state == "CANCELLED by 0" and len(asked) == 3, (state, asked)
    assert "cancelled" in cluster.failure_reason(None, state, ClusterConfig())
    none = lambda *a: subprocess.CompletedProcess(a, 0, "", "")  # noqa: E731
    monkeypatch.setattr(cluster, "slurm_command", none)
    started = time.monotonic()
    assert cluster.accounted_state("7_1", wait=0.2) == "", "no record within the wait: none"
    assert time.monotonic() - started < 2, "the wait is bounded"
