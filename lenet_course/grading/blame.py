"""Who is to blame when a test cannot be scored: the one home of the three exceptions that
the jail's handle and the judge raise. The worker raises :class:`StudentFailure` too, inside
the jail, where a probe finds the submission at fault (this module imports nothing, so a
jailed worker may read it); the verdict crosses as data, the reply's ``fault`` field.

Raise :class:`StudentFailure` when the submission's own code failed (it raised, hung, died,
ran out of memory or sent back garbage): the test scores zero and the message is for the
student. Raise :class:`GraderFault` when one test failed with no line of the submission on the
stack (a library, the kit, the machine): the test is not charged to the student and the trace
is for the instructor. Raise :class:`GraderError` when the grader cannot run at all (the kit's
tests are missing, the jail cannot start a worker): no submission is graded.
"""

from __future__ import annotations


class StudentFailure(Exception):
    """The worker could not produce an observation; the message is for the student."""


class GraderFault(Exception):
    """The worker failed with no line of the submission on the stack: the grader's failure
    (its environment, the kit, a library), not the student's. ``trace`` is for the
    instructor."""

    def __init__(self, message: str, trace: str = "") -> None:
        super().__init__(message)
        self.trace = trace


class GraderError(RuntimeError):
    """The grader itself could not run (not the submission's fault)."""
