"""How much time and memory grading may take: one frozen dataclass, free of torch.

The CLI builds its limit flags from these defaults without importing the grader;
:mod:`lenet_course.grading.judge.runner` re-exports :class:`Limits`.
"""

from __future__ import annotations

from dataclasses import dataclass

from lenet_course.errors import UserError


@dataclass(frozen=True)
class Limits:
    """Resource limits for grading; every one has a default sized for this kit."""

    test_seconds: float = 60.0
    """Per graded test, except the 10-epoch training test."""
    train_seconds: float = 900.0
    """The 10-epoch MNIST training test (about 50 s on 2 CPU cores; leave headroom)."""
    submission_seconds: float = 1800.0
    """Everything for one submission; tests not run by then score zero."""
    memory_mb: int = 6144
    """Address-space limit per worker process (0: none; off on GPUs, CUDA maps a lot)."""
    jobs: int = 2
    """Exercises graded at once."""
    threads: int = 0
    """CPU threads per worker; 0 shares the cores among the jobs running at once."""

    def __post_init__(self) -> None:
        for name in ("test_seconds", "train_seconds", "submission_seconds"):
            if getattr(self, name) <= 0:
                raise UserError(f"{name} must be positive, got {getattr(self, name)}")
        if self.memory_mb < 0 or self.jobs < 1:
            raise UserError("memory_mb must be >= 0 and jobs >= 1")


@dataclass(frozen=True)
class WorkerLimits:
    """The rlimits and threads of one worker process, set before any submitted code loads."""

    memory_mb: int = 6144
    cpu_seconds: int = 3600
    file_mb: int = 256
    processes: int = 512
    threads: int = 1
