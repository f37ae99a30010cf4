"""Where ``grade-all`` runs its units on a cluster: submitit's Slurm executor, or its local
executor (real processes on this machine, the same code path). No scheduler of our own:
Slurm gets one job array capped at ``max_running`` jobs at once; the local executor gets at
most ``max_running`` jobs at a time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lenet_course.errors import UserError

FINISHED_POLL_SECONDS = {"local": 1.0, "slurm": 15.0}


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


def job_running(executor, job_id: str) -> bool:
    """Whether a Slurm job submitted by an earlier run is still queued or running."""
    if _kind(executor) != "slurm":
        return False  # local jobs die with the run that started them
    submitit = submitit_module()
    return not submitit.SlurmJob(folder=executor.folder, job_id=job_id).done()


def run_jobs(executor, fn: Callable, tasks: Sequence, *, wait: bool, on_result: Callable,
             on_status: Callable) -> dict[str, str]:  # fmt: skip
    """Run ``fn(task)`` for every task on ``executor``. Each job's return value goes to
    ``on_result``; a job that was only submitted, or died, goes to ``on_status(task, status)``.
    Returns the jobs left running (``task.submission`` -> job id) when ``wait`` is False."""
    kind = _kind(executor)
    if kind == "slurm":
        jobs = executor.map_array(fn, list(tasks))
        queue: list = []
        running = dict(zip(jobs, tasks, strict=True))
        if not wait:
            for job, task in running.items():
                on_status(task, f"submitted (job {job.job_id})")
            return {task.submission: job.job_id for job, task in running.items()}
    else:  # the local executor starts every job at once: keep at most max_running alive
        queue, running = list(tasks), {}
    cap = executor.lenet_config.max_running
    while queue or running:
        while queue and len(running) < cap:
            task = queue.pop(0)
            running[executor.submit(fn, task)] = task
        finished = [job for job in running if job.done()]
        for job in finished:
            task = running.pop(job)
            try:
                on_result(job.result())
            except Exception as exc:  # noqa: BLE001 - a job killed or lost: that student only
                first = str(exc).strip().splitlines()
                why = first[-1] if first else type(exc).__name__
                on_status(task, f"error: job {job.job_id} failed: {why}")
        if running and not finished:
            time.sleep(FINISHED_POLL_SECONDS[kind])
    return {}
