"""A student's grading status: its kind, and the words the gradebook and terminal show."""

from __future__ import annotations

import enum


class Kind(enum.Enum):
    GRADED = "graded"
    REGRADED = "regraded"  # graded again: something that decided the earlier grade changed
    SKIPPED = "skipped"  # graded by an earlier run under the same key (classroom.reuse)
    NOT_GRADED = "not graded"  # no grade yet, and this run (--student) did not grade them
    INCOMPLETE = "incomplete"  # graded, but the grader failed in some tests: graded again
    SUBMITTED = "submitted"  # a cluster job was submitted in this run
    PENDING = "pending"  # a job an earlier run submitted is still queued or running
    ERROR = "error"  # no grade: the grader or the student's job failed


WAITING = (Kind.SUBMITTED, Kind.PENDING)
NO_REPORT = (Kind.ERROR, Kind.NOT_GRADED, *WAITING)  # no report.json to trust for these


class Status(str):
    """The status as shown (``graded``, ``error: job 12_1 ...``, ``pending (job 12_0)``), with
    its :class:`Kind` kept beside the words: code asks ``status.kind``, never parses the
    text. A ``str``, so that it prints, compares and lands in a CSV cell as its words."""

    kind: Kind
    detail: str

    def __new__(cls, kind: Kind, detail: str = "") -> Status:
        if kind in WAITING:
            text = f"{kind.value} ({detail})"
        else:
            text = f"{kind.value}: {detail}" if detail else kind.value
        self = super().__new__(cls, text)
        self.kind, self.detail = kind, detail
        return self

    def __getnewargs__(self) -> tuple[Kind, str]:  # pickled to and from cluster jobs
        return self.kind, self.detail
