"""The wire between the judge and a jailed worker: one home for both sides.

The judge sends one request per line, the worker answers one reply per line, both JSON:

    request  {"id": 7, "op": "ex3.train", "args": {...}}
    reply    {"id": 7, "ok": true, "value": {...}}
             {"id": 7, "ok": false, "error": "ex3_train.py line 12: NotImplementedError: ...",
              "fault": "student"}
             {"id": 7, "ok": false, "error": "KeyError: ...", "fault": "grader",
              "trace": "Traceback (most recent call last): ..."}

``fault`` is ``student`` when a frame of the submission's files is on the failure's
traceback, else ``grader`` (the kit or a library failed with no line of the student's on
the stack); ``trace`` is then the traceback, for the instructor.

Only plain data crosses: numbers, strings, booleans, lists, dicts, and tensors as plain
arrays ``{"__array__": [dtype, shape, base64 bytes]}``. :func:`decode` never runs code: it
rebuilds arrays with ``torch.frombuffer`` from a dtype on a short list, after checking the
byte count against the shape. A tensor subclass cannot cross; only its bytes do.

Everything the judge reads from a worker is untrusted: :func:`decode` and
:func:`read_reply` reject anything malformed with :class:`ProtocolError`.
"""

from __future__ import annotations

import base64
import json
import math
import os
import select
import time
from typing import Any

import torch

# The worker runs inside the jail with these paths (the jail binds them read-only).
JAIL_SUBMISSION = "/submission"
JAIL_DATA = "/data"
JAIL_SCRATCH = "/scratch"
SUBMISSION_PACKAGE = "submission"

MAX_REPLY_BYTES = 64 * 1024 * 1024  # a LeNet's weights are 180 KB; images and logs far less
MAX_ELEMENTS = 8 * 1024 * 1024
MAX_DEPTH = 12
MAX_TRACE_CHARS = 16_000
FAULTS = ("student", "grader")

_DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "int64": torch.int64,
    "int32": torch.int32,
    "uint8": torch.uint8,
    "bool": torch.bool,
}
_NAMES = {v: k for k, v in _DTYPES.items()}
CARRIED_DTYPES = tuple(_DTYPES)  # the dtypes a tensor keeps across; others are refused


class ProtocolError(RuntimeError):
    """A reply that is not plain data in the agreed shape."""


class WorkerGone(ProtocolError):
    """The worker closed its end, or did not answer in time."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


READY = {"ready": True}
"""The worker's first message: it is confined and has imported torch and the probes, and no
submitted code has run yet. A worker that dies before sending it is the grader's failure."""


def array(t: torch.Tensor) -> dict:
    """A tensor as plain data. Subclasses are stripped; only the values cross."""
    t = torch.Tensor.as_subclass(t, torch.Tensor).detach().cpu().contiguous()
    if t.dtype not in _NAMES:  # never converted quietly: the judge would compare other values
        raise TypeError(
            f"cannot send a tensor of dtype {t.dtype} as plain data; one of "
            f"{', '.join(CARRIED_DTYPES)} crosses as it is"
        )
    raw = t.view(torch.uint8).numpy().tobytes() if t.numel() else b""
    return {"__array__": [_NAMES[t.dtype], list(t.shape), base64.b64encode(raw).decode()]}


def encode(obj: Any) -> Any:
    """Plain data for JSON; tensors become arrays. Raises TypeError for anything else."""
    if isinstance(obj, torch.Tensor):
        return array(obj)
    if obj is None or type(obj) in (bool, int, str):
        return obj
    if type(obj) is float:
        return obj if math.isfinite(obj) else {"__float__": repr(obj)}
    if type(obj) in (list, tuple):
        return [encode(v) for v in obj]
    if type(obj) is dict:
        return {str(k): encode(v) for k, v in obj.items()}
    raise TypeError(f"cannot send a {type(obj).__name__} as plain data")


def _array_from(spec: Any) -> torch.Tensor:
    if not (isinstance(spec, list) and len(spec) == 3):
        raise ProtocolError("an array must be [dtype, shape, data]")
    name, shape, data = spec
    if name not in _DTYPES or not isinstance(shape, list) or not isinstance(data, str):
        raise ProtocolError(f"bad array header {name!r}")
    if not all(type(n) is int and 0 <= n <= MAX_ELEMENTS for n in shape):
        raise ProtocolError(f"bad array shape {shape!r}")
    count = math.prod(shape)
    dtype = _DTYPES[name]
    if count > MAX_ELEMENTS:
        raise ProtocolError(f"array of {count} elements is too large")
    try:
        raw = base64.b64decode(data, validate=True)
    except ValueError as exc:
        raise ProtocolError("array data is not base64") from exc
    itemsize = torch.empty((), dtype=dtype).element_size()
    if len(raw) != count * itemsize:
        raise ProtocolError(f"array holds {len(raw)} bytes, its shape needs {count * itemsize}")
    if count == 0:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(bytearray(raw), dtype=dtype).reshape(shape).clone()


def decode(obj: Any, depth: int = 0) -> Any:
    """Plain data back from JSON, arrays as fresh ``torch.Tensor``; never executes code."""
    if depth > MAX_DEPTH:
        raise ProtocolError("reply is nested too deeply")
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    if type(obj) is list:
        return [decode(v, depth + 1) for v in obj]
    if type(obj) is dict:
        if set(obj) == {"__array__"}:
            return _array_from(obj["__array__"])
        if set(obj) == {"__float__"}:
            if obj["__float__"] not in ("nan", "inf", "-inf"):
                raise ProtocolError("bad float")
            return float(obj["__float__"])
        return {str(k): decode(v, depth + 1) for k, v in obj.items()}
    raise ProtocolError(f"unexpected {type(obj).__name__} in reply")


def dumps(message: dict) -> bytes:
    return (json.dumps(message, separators=(",", ":"), allow_nan=False) + "\n").encode()


def write_all(fd: int, payload: bytes) -> None:
    view = memoryview(payload)
    while view:
        view = view[os.write(fd, view) :]


def read_line(fd: int, buffer: bytearray, deadline: float, limit: int = MAX_REPLY_BYTES) -> bytes:
    """One line from ``fd`` by ``deadline`` (``time.monotonic``); ``buffer`` keeps the rest."""
    while b"\n" not in buffer:
        left = deadline - time.monotonic()
        if left <= 0:
            raise WorkerGone("no reply in time", timed_out=True)
        ready, _, _ = select.select([fd], [], [], None if math.isinf(left) else left)
        if not ready:
            continue
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            raise WorkerGone("the worker process ended")
        buffer += chunk
        if len(buffer) > limit:
            raise ProtocolError(f"reply longer than {limit} bytes")
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line


def read_reply(fd: int, buffer: bytearray, request_id: int, deadline: float) -> dict:
    """The worker's reply to ``request_id``, checked for shape; values decoded."""
    line = read_line(fd, buffer, deadline)
    try:
        message = json.loads(line)
    except ValueError as exc:
        raise ProtocolError(
            "the reply was not JSON (something wrote to the reply channel)"
        ) from exc
    if not isinstance(message, dict) or message.get("id") != request_id:
        raise ProtocolError("the reply did not answer the request (wrong or missing id)")
    if message.get("ok") is True:
        return {"ok": True, "value": decode(message.get("value"))}
    if message.get("ok") is False and isinstance(message.get("error"), str):
        fault, trace = message.get("fault", "student"), message.get("trace", "")
        if fault not in FAULTS or not isinstance(trace, str):
            raise ProtocolError("the reply's fault is not one of " + ", ".join(FAULTS))
        return {
            "ok": False,
            "error": message["error"][:4000],
            "fault": fault,
            "trace": trace[-MAX_TRACE_CHARS:],
        }
    raise ProtocolError("the reply has neither a value nor an error")
