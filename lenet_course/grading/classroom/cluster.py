"""Where ``grade-all`` runs its units on a cluster: submitit's Slurm executor, or its local
executor (real processes on this machine, the same code path). No scheduler of our own:
Slurm gets one job array capped at ``max_running`` jobs at once; the local executor gets at
most ``max_running`` jobs at a time.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from lenet_course.errors import UserError
from lenet_course.grading.classroom.status import Kind, Status

POLL_FIRST_SECONDS = 1.0  # the first wait for a job; each wait after it is 1.5 times longer
POLL_MAX_SECONDS = {"local": 1.0, "slurm": 15.0}  # up to this: one sacct call for the class
SIGNAL_DELAY_MAX_SECONDS = 90  # submitit's own default warning before the time limit
# A job gone from squeue that sacct does not know yet: accounting may record it a moment
# later (slurmdbd writes behind the controller), so it is asked again for up to this long.
ACCOUNTING_WAIT_SECONDS = 20.0
ACCOUNTING_POLL_SECONDS = 2.0
# Slurm states in which a job ended without a result: why, for the gradebook.
KILLED = {
    "CANCELLED": "cancelled (scancel, or the cluster's administrators)",
    "TIMEOUT": "killed at its time limit (--time-min {time_min})",
    "OUT_OF_MEMORY": "killed for using more memory than --mem-gb {mem_gb}",
    "NODE_FAIL": "its node failed",
    "BOOT_FAIL": "its node failed to boot",
    "DEADLINE": "killed at its deadline",
    "PREEMPTED": "preempted by the scheduler",
    "VANISHED": "left the queue with no record in sacct (cancelled before it started?)",
}
TIMED_OUT = "timed-out and not checkpointable"  # submitit's words for a job stopped at its limit


@dataclass(frozen=True)
class ClusterConfig:
    """Resources for each student's job. Defaults from measurement (docs/benchmarks.md)."""

    kind: str = "slurm"  # slurm | local
    max_running: int = 8  # jobs running at once: the class's share of the cluster
    gpus: int = 0  # GPUs per job
    cpus: int = 2  # CPUs per job
    mem_gb: int = 3  # memory per job: a full grade peaked at 1.6 GB PSS here
    time_min: int = 20  # wall time per job: a full grade took 2.5 min on 2 CPUs here
    partition: str | None = None
    account: str | None = None
    sbatch: tuple[tuple[str, str], ...] = ()  # extra sbatch options, (name, value)

    def __post_init__(self) -> None:
        for flag, value in (
            ("--max-running", self.max_running),
            ("--cpus", self.cpus),
            ("--mem-gb", self.mem_gb),
            ("--time-min", self.time_min),
        ):
            if value < 1:
                raise UserError(f"{flag} {value}: must be at least 1.")
        if self.gpus < 0:
            raise UserError(f"--gpus {self.gpus}: must be 0 or more.")

    @property
    def signal_delay_s(self) -> int:
        """Seconds before the time limit at which Slurm warns the job (submitit stops it
        there with a "timed out" error): a quarter of the limit, at most submitit's 90 s, so
        that a short ``--time-min`` does not signal the job as it starts."""
        return min(SIGNAL_DELAY_MAX_SECONDS, self.time_min * 60 // 4)


def submitit_module():
    try:
        import submitit
    except ImportError:
        raise UserError(
            "--executor slurm and --executor local need submitit, an optional extra. Fix: "
            "pip install 'lenet-course[slurm]'"
        ) from None
    return submitit


def make_executor(config: ClusterConfig, logs: Path):
    """A submitit executor whose jobs get ``config``'s resources; logs go to ``logs``."""
    submitit = submitit_module()
    if config.kind == "local":
        executor = submitit.LocalExecutor(folder=logs)
        executor.update_parameters(timeout_min=config.time_min)
    elif config.kind == "slurm":
        executor = submitit.SlurmExecutor(folder=logs)
        params: dict = {
            "job_name": "lenet-grade",
            "time": config.time_min,
            "cpus_per_task": config.cpus,
            "mem": f"{config.mem_gb}GB",
            "array_parallelism": config.max_running,
            "signal_delay_s": config.signal_delay_s,
            "additional_parameters": dict(config.sbatch),
        }
        if config.gpus:
            params["gpus_per_node"] = config.gpus
        if config.partition:
            params["partition"] = config.partition
        if config.account:
            params["account"] = config.account
        executor.update_parameters(**params)
    else:
        raise UserError(f"unknown executor {config.kind!r}: use threads, local or slurm")
    executor.lenet_config = config
    return executor


def _kind(executor) -> str:
    return executor.lenet_config.kind


def slurm_command(*args: str) -> subprocess.CompletedProcess:
    """A Slurm command's answer; one that cannot run answers with exit 127 and why."""
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(args, 127, "", str(exc))


def check_slurm(config: ClusterConfig) -> None:
    """Before anything is submitted: Slurm's commands are here, accounting answers (submitit
    learns from ``sacct`` that a job was cancelled or killed; without it the run would wait
    for ever), and the partition and account exist. Each failure is a UserError naming the fix."""
    for command in ("sbatch", "squeue", "sacct"):
        if shutil.which(command) is None:
            raise UserError(
                f"--executor slurm: {command} is not on PATH here. Fix: run grade-all on the "
                "cluster's login node, where Slurm's commands are."
            )
    sacct = slurm_command("sacct", "--noheader", "-X", "-S", "now")
    if sacct.returncode != 0:
        said = (sacct.stderr or sacct.stdout).strip().splitlines()
        raise UserError(
            f"--executor slurm: Slurm's job accounting does not answer (sacct: "
            f"{said[-1] if said else f'exit {sacct.returncode}'}). grade-all learns from sacct "
            "that a job was cancelled or killed; without it such a job is waited for forever. "
            "Fix: ask the cluster's administrators for accounting (slurmdbd), or see "
            "docs/class-grading.md, 'What the cluster must provide'."
        )
    if config.partition:
        listed = slurm_command("sinfo", "--noheader", "--format=%R")
        names = sorted(set(listed.stdout.split()))
        if listed.returncode == 0 and config.partition not in names:
            raise UserError(
                f"--partition {config.partition}: Slurm has no such partition (it has: "
                f"{', '.join(names) or 'none'}). Fix: pick one from `sinfo -s`."
            )
    if config.account:
        listed = slurm_command(
            "sacctmgr",
            "--noheader",
            "--parsable2",
            "show",
            "associations",
            f"user={_user()}",
            "format=account",
        )
        names = sorted(set(listed.stdout.split()))
        if listed.returncode == 0 and names and config.account not in names:
            raise UserError(
                f"--account {config.account}: you have no Slurm account of that name (yours: "
                f"{', '.join(names)}). Fix: pick one from `sacctmgr show associations "
                f"user={_user()} format=account,partition`."
            )


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        import os

        return str(os.getuid())


def queued(job_ids) -> set[str] | None:
    """The tasks of these jobs' arrays that ``squeue`` lists (queued, running, completing),
    or None when it does not answer. A task of an array cancelled while still pending has
    no sacct record of its own (Slurm 22.05): only its absence from squeue says it ended."""
    arrays = sorted({str(job_id).split("_")[0] for job_id in job_ids})
    said = slurm_command(
        "squeue",
        "--noheader",
        "--array",
        f"--jobs={','.join(arrays)}",
        "--states=all",
        "--format=%i|%T",
    )
    if said.returncode != 0:
        return set() if "Invalid job id" in said.stderr else None
    lines = (line.split("|") for line in said.stdout.split())
    return {job for job, state in lines if state in ("PENDING", "RUNNING", "COMPLETING")}


def _vanished(job, listed: set[str] | None) -> bool:
    """A job that neither sacct nor squeue knows, with no result: it will never end."""
    if listed is None or job.job_id in listed or job.paths.result_pickle.exists():
        return False
    return job.watcher.get_state(job.job_id, mode="cache") == "UNKNOWN"


def accounted_state(job_id: str, wait: float = ACCOUNTING_WAIT_SECONDS) -> str:
    """sacct's state for one job (``CANCELLED by 0``, ``TIMEOUT``, ...), asked again every
    few seconds for up to ``wait`` seconds; "" when accounting still has no record of it."""
    deadline = time.monotonic() + wait
    while True:
        said = slurm_command(
            "sacct", "--noheader", "-X", "--parsable2", "--format=JobID,State", f"--jobs={job_id}"
        )
        for line in said.stdout.splitlines():
            found, _, state = line.partition("|")
            if found == str(job_id) and state.strip():
                return state.strip()
        if time.monotonic() + ACCOUNTING_POLL_SECONDS > deadline:
            return ""
        time.sleep(ACCOUNTING_POLL_SECONDS)


def job_running(executor, job_id: str) -> bool:
    """Whether a Slurm job submitted by an earlier run is still queued or running."""
    if _kind(executor) != "slurm":
        return False  # local jobs die with the run that started them
    submitit = submitit_module()
    job = submitit.SlurmJob(folder=executor.folder, job_id=job_id)
    return not job.done() and not _vanished(job, queued([job_id]))


def ended_job_status(executor, job_id: str) -> Status:
    """The status of a job an earlier run submitted that has ended with no report: why it
    died (:func:`failure_reason`) and its log, or the status the job itself returned."""
    submitit = submitit_module()
    job = submitit.SlurmJob(folder=executor.folder, job_id=job_id)
    said: list[str] = []
    _collect(
        job,
        executor.lenet_config,
        lambda outcome: said.append(outcome.status),
        lambda task, status: said.append(status),
        None,
    )
    return said[0]


def poll_delays(kind: str) -> Iterator[float]:
    """How long to wait between looks at the jobs: from about a second, 1.5 times longer
    each time, up to ``POLL_MAX_SECONDS[kind]``; back to the start after a job finishes."""
    delay = min(POLL_FIRST_SECONDS, POLL_MAX_SECONDS[kind])
    while True:
        yield delay
        delay = min(delay * 1.5, POLL_MAX_SECONDS[kind])


def failure_reason(exc: BaseException | None, state: str, config: ClusterConfig) -> str:
    """Why a job ended without a grade, in a few words: the Slurm state it was killed in
    (``sacct``), submitit's stop at the time limit, or the last line of the job's traceback."""
    word = (state.split() or [""])[0].upper()
    text = str(exc or "")
    if word in KILLED or TIMED_OUT in text:
        return KILLED[word if word in KILLED else "TIMEOUT"].format(
            time_min=config.time_min, mem_gb=config.mem_gb
        )
    if "with trace:" in text:  # submitit's FailedJobError: the trace between dashed lines
        text = text.split("with trace:", 1)[1].split("-" * 22 + "\n")[1]
    lines = [line.strip() for line in text.splitlines() if line.strip() and "-" * 22 not in line]
    if "has not produced any output" in str(exc):  # the job died outside the kit's code
        return f"ended without a result (Slurm state {word or 'unknown'}): {lines[-1]}"
    return f"failed: {lines[-1]}" if lines else f"failed ({type(exc).__name__})"


def _sbatch_time(script: Path, default: int) -> int:
    """The ``#SBATCH --time`` (minutes) a job was submitted with, else ``default``."""
    try:
        for line in Path(script).read_text().splitlines():
            if line.startswith("#SBATCH --time="):
                return int(line.split("=", 1)[1])
    except (OSError, ValueError):
        pass
    return default


def _collect(job, config: ClusterConfig, on_result: Callable, on_status: Callable, task) -> None:
    """Hand a finished job's grade to ``on_result``, or why it has none to ``on_status``."""
    log = getattr(job.paths, "stderr", None)
    state = ""
    if config.kind == "slurm":  # the job's own limit: an earlier run may have asked another
        config = replace(config, time_min=_sbatch_time(job.paths.submission_file, config.time_min))
    if config.kind == "slurm" and not job.paths.result_pickle.exists():
        state = job.state  # from the sacct call that found the job done
        if state == "UNKNOWN":  # neither sacct nor squeue knew it (see queued): ask again
            state = accounted_state(job.job_id) or "VANISHED"
        if state.split()[:1] and state.split()[0].upper() in KILLED:  # no result will come
            why = failure_reason(None, state, config)
            on_status(task, Status(Kind.ERROR, f"job {job.job_id} {why}; log: {log}"))
            return
    try:
        on_result(job.result())
    except Exception as exc:  # noqa: BLE001 - a job killed or lost: that student only
        if config.kind == "slurm":
            state = job.state
        why = failure_reason(exc, state, config)
        on_status(task, Status(Kind.ERROR, f"job {job.job_id} {why}; log: {log}"))


def run_jobs(
    executor, fn: Callable, tasks: Sequence, *, wait: bool, on_result: Callable, on_status: Callable
) -> dict[str, str]:
    """Run ``fn(task)`` for every task on ``executor``. Each job's return value goes to
    ``on_result``; a job that was only submitted, or died, goes to ``on_status(task, status)``,
    a death with its reason and its log. Returns the jobs left running (``task.submission``
    -> job id) when ``wait`` is False. Waits back off from a second (:func:`poll_delays`);
    none follows the last job."""
    kind = _kind(executor)
    config = executor.lenet_config
    if kind == "slurm":
        check_slurm(config)
        submitit = submitit_module()
        try:
            jobs = executor.map_array(fn, list(tasks))
        except submitit.core.utils.FailedJobError as exc:
            said = [line for line in str(exc).splitlines() if "error" in line.lower()]
            raise UserError(
                f"Slurm refused the class's job array ({(said or [str(exc)])[-1].strip()}); "
                "nothing was submitted. Fix: check --partition, --account, --cpus, --mem-gb, "
                "--gpus, --time-min and --sbatch against what `sinfo -s` and `scontrol show "
                "partition` list and `sacctmgr show associations user=$USER` allows."
            ) from None
        queue: list = []
        running = dict(zip(jobs, tasks, strict=True))
        if not wait:
            for job, task in running.items():
                on_status(task, Status(Kind.SUBMITTED, f"job {job.job_id}"))
            return {task.submission: job.job_id for job, task in running.items()}
    else:  # the local executor starts every job at once: keep at most max_running alive
        queue, running = list(tasks), {}
    cap = config.max_running
    delays = poll_delays(kind)
    missing: dict = {}  # job -> looks in a row at which neither sacct nor squeue knew it
    while queue or running:
        while queue and len(running) < cap:
            task = queue.pop(0)
            running[executor.submit(fn, task)] = task
        finished = [job for job in running if job.done()]
        if kind == "slurm" and len(finished) < len(running):
            listed = queued([job.job_id for job in running])
            for job in running:
                missing[job] = missing.get(job, 0) + 1 if _vanished(job, listed) else 0
            finished += [job for job in running if missing[job] >= 2 and job not in finished]
        for job in finished:
            _collect(job, config, on_result, on_status, running.pop(job))
        if finished:
            delays = poll_delays(kind)
        elif running:
            time.sleep(next(delays))
            if kind == "slurm":  # one sacct call for the whole class, however long the wait
                next(iter(running)).watcher.update()
    return {}
