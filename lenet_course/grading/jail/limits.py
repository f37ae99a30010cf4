"""How much time and memory grading may take: one frozen dataclass, free of torch, from the
CLI's flags to the jailed worker's rlimits.

The CLI builds its limit flags from these defaults without importing the grader; the runner
fixes the threads (:meth:`Limits.per_worker`) and hands the whole of it to each judge as
JSON (:meth:`Limits.to_json`), and the judge to each worker it starts.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace

from lenet_course.errors import UserError
from lenet_course.kit import THRESHOLDS


@dataclass(frozen=True)
class Limits:
    """Resource limits for grading; every one has a default sized for this kit, the time
    limits from the course's declaration (:data:`lenet_course.kit.THRESHOLDS`)."""

    test_seconds: float = THRESHOLDS["TEST_SECONDS"]
    """Per graded test, except the 10-epoch training test."""
    train_seconds: float = THRESHOLDS["TRAIN_SECONDS"]
    """The 10-epoch MNIST training test (about 50 s on 2 CPU cores; leave headroom)."""
    submission_seconds: float = THRESHOLDS["SUBMISSION_SECONDS"]
    """Everything for one submission; tests not run by then score zero."""
    memory_mb: int = 6144
    """Address-space limit per worker process (0: none; off on GPUs, CUDA maps a lot)."""
    jobs: int = 2
    """Exercises graded at once."""
    threads: int = 0
    """CPU threads per worker; 0 shares the cores among the jobs running at once."""
    train_threads: int = 0
    """CPU threads of the worker that trains for 10 epochs; 0: ``threads``, else every core
    (the training outlasts the other exercises, whose cores it then gets)."""
    file_mb: int = 256
    """The largest file a worker may write."""
    processes: int = 512
    """Processes and threads a worker's uid may run."""

    def __post_init__(self) -> None:
        for name in ("test_seconds", "train_seconds", "submission_seconds"):
            if getattr(self, name) <= 0:
                raise UserError(f"{name} must be positive, got {getattr(self, name)}")
        if self.memory_mb < 0 or self.jobs < 1:
            raise UserError("memory_mb must be >= 0 and jobs >= 1")

    @property
    def cpu_seconds(self) -> int:
        """A worker's CPU-time rlimit: the submission's time on each of its own threads, and a
        minute (the training worker's limits carry its threads: :meth:`training`)."""
        return int(self.submission_seconds * max(self.threads, 1)) + 60

    def per_worker(self, judges: int = 1) -> Limits:
        """These limits with each worker's threads fixed while ``judges`` judges share the
        cores: ``threads`` 0 becomes the cores over the judges, ``train_threads`` 0 becomes
        ``threads`` when that was set, else every core."""
        cores = os.cpu_count() or 1
        return replace(
            self,
            threads=self.threads or max(1, cores // judges),
            train_threads=self.train_threads or self.threads or cores,
        )

    def shared(self, runs: int) -> Limits:
        """These limits for one of ``runs`` grades running at once (students of a class, or
        mutants): one exercise at a time, and the cores split evenly, the training's too."""
        each = max(1, (os.cpu_count() or 1) // runs)
        return replace(
            self,
            jobs=1,
            threads=self.threads or each,
            train_threads=self.train_threads or self.threads or each,
        )

    def training(self) -> Limits:
        """The limits of the worker that trains for 10 epochs: its own threads."""
        return replace(self, threads=self.train_threads or self.threads)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Limits:
        return cls(**json.loads(text)) if text else cls()
