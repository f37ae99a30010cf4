"""What a student's code may import from the kit: the record type ``train()`` returns.

This module is part of the student runtime, the only kit code a graded submission can
read inside the grader's jail (with :mod:`lenet_course.data`'s loaders). It holds no
reference answer to any exercise.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch produced."""

    epoch: int  # 1-based
    train_loss: float  # mean NLL over the epoch's batches
    test_accuracy: float  # percent, on the whole test set
    seconds: float  # wall time of the epoch's training, after a device synchronise
