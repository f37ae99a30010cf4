"""Class-scale grading: submitit's local executor for real, Slurm through submitit's own
mock, the class report, and the error when the extra is missing."""

from __future__ import annotations

import csv
import json
import shutil
import sys

import matplotlib.image
import pytest

from lenet_course.errors import UserError
from lenet_course.grading.classroom.classreport import write_class_report
from lenet_course.grading.classroom.cluster import ClusterConfig, make_executor
from lenet_course.grading.classroom.gradebook import grade_all
from lenet_course.kit import kit_root
from tests.grading.conftest import FAST_MAX, SMALL, make_submission

submitit = pytest.importorskip("submitit", reason="submitit is in [dev]; install the kit with it")


def a_class(folder, *, broken: bool = True):
    """A correct submission, the unfinished stubs and, with ``broken``, one whose Exercise 3
    does not parse: worth FAST_MAX, 0 and FAST_MAX minus Exercise 3's 27 fast points."""
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
    outcomes = grade_all(folder, out, SMALL, full=False, executor=executor)
    assert [(o.student, o.status) for o in outcomes] == [
        ("ada", "graded"), ("bob", "graded"), ("cy", "graded")
    ], outcomes  # fmt: skip
    book = gradebook(out)
    assert {s: int(r["total"]) for s, r in book.items()} == {
        "ada": FAST_MAX, "bob": 0, "cy": FAST_MAX - 27
    }  # fmt: skip
    assert book["cy"]["ex3_train"] == "0" and book["cy"]["ex1_lenet"] == "25"
    jobs = list((out / ".submitit").glob("*_result.pkl"))
    assert len(jobs) == 3, "each student should have run as a submitit job of its own"

    again = grade_all(folder, out, SMALL, full=False, executor=executor)
    assert [o.status for o in again] == ["skipped"] * 3
    assert len(list((out / ".submitit").glob("*_result.pkl"))) == 3, "a rerun submitted jobs"
    assert {r["status"] for r in gradebook(out).values()} == {"graded (earlier run)"}


@pytest.mark.validation
def test_slurm_array_carries_the_resources_and_is_collected_by_a_later_run(tmp_path):
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
            first = grade_all(
                folder, out, SMALL, full=False, executor=executor, wait=False, data_root=mnist
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
            waiting = grade_all(folder, out, SMALL, full=False, executor=executor, wait=False)
            assert [o.status for o in waiting] == ["pending (job 12_0)", "pending (job 12_1)"]
            assert mock.job_count == 13, "a second run submitted the class again"

            for job_id in ("12_0", "12_1"):  # the cluster runs the jobs (here, in-process)
                with mock.job_context(job_id):
                    submission.process_job(SlurmJob(logs, job_id).paths.folder)
            mock.set_job_state("12", "COMPLETED", array=2)
            done = grade_all(folder, out, SMALL, full=False, executor=executor)
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
    statuses = {"ada": "graded", "bob": "graded", "cy": "skipped", "dan": "error: no MNIST"}
    page = write_class_report(tmp_path, statuses, rows, None, "not screened").read_text()
    assert "dan</b>: grader error: error: no MNIST" in page
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
