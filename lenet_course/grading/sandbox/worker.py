"""The jailed worker: ``python -m lenet_course.grading.sandbox.worker CONFIG_JSON``.

It runs one exercise's student code for the judge. Before any student code loads it
sets its resource limits, confines itself with Landlock where the grader asks
(:mod:`~lenet_course.grading.sandbox.landlock`), moves the request and reply channels off stdin and stdout (so a
``print`` cannot corrupt them), and points stdin at ``/dev/null``. Then it answers
requests (:mod:`~lenet_course.grading.sandbox.protocol`) by running probes
(:mod:`~lenet_course.grading.sandbox.probes`). It holds no key and decides nothing: whatever it
sends back is checked by the judge.
"""

from __future__ import annotations

import faulthandler
import json
import os
import resource
import sys
import traceback


def _limit(which: int, value: int) -> None:
    """Set a hard limit; where the platform refuses (macOS and RLIMIT_AS), a soft one, else none."""
    try:
        resource.setrlimit(which, (value, value))
        return
    except (ValueError, OSError):
        pass
    try:
        soft, hard = resource.getrlimit(which)
        if hard == resource.RLIM_INFINITY or value <= hard:
            resource.setrlimit(which, (value, hard))
    except (ValueError, OSError):
        pass


def _tasks_of(uid: int) -> int:
    """Threads now running as ``uid`` (RLIMIT_NPROC counts them all, not just ours)."""
    count = 0
    for status in os.listdir("/proc"):
        if status.isdigit():
            try:
                with open(f"/proc/{status}/status") as fh:
                    fields = dict(line.split(":", 1) for line in fh if ":" in line)
                if int(fields["Uid"].split()[0]) == uid:
                    count += int(fields["Threads"])
            except (OSError, KeyError, ValueError):
                continue
    return count


def apply_limits(limits: dict, *, shared_uid: bool = False) -> None:
    """Hard rlimits (a non-root process cannot raise them again). ``shared_uid``: the worker
    runs as the grader's own uid, so its process limit counts on top of what that uid runs."""
    _limit(resource.RLIMIT_CORE, 0)
    if limits.get("memory_mb"):
        _limit(resource.RLIMIT_AS, limits["memory_mb"] * 1024 * 1024)
    if limits.get("cpu_seconds"):
        _limit(resource.RLIMIT_CPU, int(limits["cpu_seconds"]))
    if limits.get("file_mb"):
        _limit(resource.RLIMIT_FSIZE, limits["file_mb"] * 1024 * 1024)
    if limits.get("processes") and os.getuid() != 0:
        extra = _tasks_of(os.getuid()) if shared_uid else 0
        _limit(resource.RLIMIT_NPROC, limits["processes"] + extra)


def answer(probes, protocol, sub, request: dict) -> dict:
    """The probe's value as plain data, or why there is none and whose fault that is."""
    try:
        probe = probes.PROBES[request["op"]]
        value = probe(sub, **protocol.decode(request.get("args", {})))
        return {"ok": True, "value": protocol.encode(value)}
    except MemoryError:
        return {"ok": False, "error": "MemoryError: your code ran out of memory"}
    except BaseException as exc:  # noqa: BLE001 - SystemExit too: report, don't die
        whose = probes.fault(exc, sub.folder)
        if whose == "student":
            return {"ok": False, "error": probes.describe(exc, sub.folder), "fault": whose}
        # no line of the submission on the stack: the instructor needs the trace
        trace = "".join(traceback.format_exception(exc))[-protocol.MAX_TRACE_CHARS :]
        return {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}",
            "fault": whose,
            "trace": trace,
        }


def main(argv: list[str]) -> None:
    config = json.loads(argv[0])
    apply_limits(config.get("limits", {}), shared_uid=bool(config.get("shared_uid")))
    if config.get("landlock"):  # the landlock level: confine before torch or student code
        from lenet_course.grading.sandbox import landlock

        landlock.confine(**config["landlock"])
    requests = os.dup(0)
    replies = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # the student's prints go to stderr, which the judge keeps a tail of
    os.close(devnull)
    sys.stdout.reconfigure(line_buffering=True)  # a worker killed mid-test loses no line
    sys.stdin = open(os.devnull)  # noqa: SIM115

    import torch

    torch.set_num_threads(max(1, int(config.get("threads", 1))))

    from lenet_course.grading.sandbox import probes, protocol

    protocol.write_all(replies, protocol.dumps(protocol.READY))  # confined; no student code yet
    sub = probes.Submission(config["submission"], config.get("standin"), config.get("data"))
    buffer = bytearray()
    while True:
        try:
            line = protocol.read_line(requests, buffer, float("inf"))
        except protocol.WorkerGone:
            return
        request = json.loads(line)
        reply: dict = {"id": request["id"]}
        seconds = request.get("seconds")
        if isinstance(seconds, int | float) and seconds > 0:
            # just before the judge's deadline, the stack goes to stderr: the judge shows the
            # student the line their code was running when it ran out of time
            faulthandler.dump_traceback_later(max(0.2, seconds - min(1.0, seconds / 10)))
        reply.update(answer(probes, protocol, sub, request))
        faulthandler.cancel_dump_traceback_later()
        try:
            message = protocol.dumps(reply)
        except (TypeError, ValueError) as exc:
            message = protocol.dumps({"id": request["id"], "ok": False, "error": str(exc)})
        protocol.write_all(replies, message)


if __name__ == "__main__":
    main(sys.argv[1:])
