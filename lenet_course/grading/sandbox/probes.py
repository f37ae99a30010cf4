"""What a jailed worker can do for the judge: build objects from a spec, call the student's
function on them, and return an observation as plain data.

This code runs next to student code, inside the jail, and a submission can read it. So
it holds no reference answer: nets are built from an architecture the judge sends
(:func:`build_class`), and every expected value is computed by the judge from what
comes back. An observation can be faked only by producing the right values, which is
doing the exercise.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import numbers
import re
import sys
import time
import traceback
import types
import weakref
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook
from torch.overrides import TorchFunctionMode
from torch.utils.data import DataLoader, Sampler, TensorDataset

from lenet_course import data
from lenet_course.grading.blame import StudentFailure
from lenet_course.grading.sandbox import protocol
from lenet_course.runtime import EpochRecord

NAMED_LAYERS = ("conv1", "conv2", "fc1", "fc2", "fc3")


# --- nets from a spec --------------------------------------------------------------------


def build_class(spec: dict) -> type[nn.Module]:
    """An ``nn.Module`` class from the judge's architecture spec.

    ``spec["layers"]``: name -> ``["conv", in, out, k]`` or ``["linear", in, out]``, created
    in order; ``spec["forward"]``: steps, each a layer name or ``["relu"]``,
    ``["maxpool", k]``, ``["flatten"]``, ``["log_softmax"]``, and ``["train_mask"]``, which
    zeroes every odd-numbered feature in training mode only (so the layer after it gets no
    gradient there from a batch that really ran in training mode).
    """
    layers = dict(spec["layers"])
    steps = [list(s) for s in spec["forward"]]

    def __init__(self) -> None:  # noqa: N807
        nn.Module.__init__(self)
        for name, (kind, *dims) in layers.items():
            make = {"conv": lambda i, o, k: nn.Conv2d(i, o, k), "linear": nn.Linear}[kind]
            setattr(self, name, make(*dims))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for op, *params in steps:
            if op in layers:
                x = getattr(self, op)(x)
            elif op == "relu":
                x = F.relu(x)
            elif op == "maxpool":
                x = F.max_pool2d(x, params[0])
            elif op == "flatten":
                x = torch.flatten(x, 1)
            elif op == "log_softmax":
                x = F.log_softmax(x, dim=1)
            elif op == "train_mask":
                if self.training:
                    x = x * (torch.arange(x.shape[1], device=x.device) % 2 == 0)
            else:
                raise ValueError(f"unknown step {op!r}")
        return x

    # A class of this module's, under a name of its spec: pickle finds it again, so a
    # student's torch.save(net, path) and copy.deepcopy(net) work as on their own LeNet.
    name = "LeNet_" + hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    if name not in _BUILT:
        cls = type("LeNet", (nn.Module,), {"__init__": __init__, "forward": forward})
        cls.__module__, cls.__qualname__ = __name__, name
        _BUILT[name] = globals()[name] = cls
    return _BUILT[name]


_BUILT: dict[str, type[nn.Module]] = {}


def build_net(spec: dict, seed: int, weights: dict | None = None) -> nn.Module:
    torch.manual_seed(seed)
    net = build_class(spec)()
    if weights:
        load_named(net, weights)
    return net


LAYER_KINDS = {"conv": nn.Conv2d, "fc": nn.Linear}


def layer_fault(name: str, layer) -> str:
    """Why ``layer`` cannot be the named layer ``self.<name>`` ("" when it can be): a block
    that holds the convolution or the linear layer is named as such, once, in one sentence
    every test that meets it repeats (one cause, one explanation)."""
    kind = next((k for prefix, k in LAYER_KINDS.items() if name.startswith(prefix)), None)
    if kind is None or isinstance(layer, kind) or not isinstance(layer, nn.Module):
        return ""
    held = [m for m in layer.modules() if isinstance(m, kind)]
    if held:
        return (
            f"self.{name} is a {type(layer).__name__} holding an nn.{kind.__name__}; the grader reads the weights of self.{name}, so it must be the "
            f"nn.{kind.__name__} itself. Hint: {name} = nn.{kind.__name__}(...) in __init__; "
            "apply ReLU and pooling in forward (a block of your own may hold self."
            f"{name}, under another name)."
        )
    return ""


def load_named(net: nn.Module, weights: dict) -> None:
    """Copy ``{"conv1": {"weight": t, "bias": t}, ...}`` into the net's named layers."""
    with torch.no_grad():
        for name, params in weights.items():
            layer = getattr(net, name, None)
            if layer is None:
                raise StudentFailure(f"LeNet has no layer self.{name} (the names are fixed).")
            if layer_fault(name, layer):
                raise StudentFailure(layer_fault(name, layer))
            for pname, value in params.items():
                target = getattr(layer, pname, None)
                if not isinstance(target, torch.Tensor):
                    raise StudentFailure(f"self.{name} has no {pname}; it needs one.")
                if tuple(target.shape) != tuple(value.shape):
                    raise StudentFailure(
                        f"self.{name}.{pname} has shape {tuple(target.shape)}, expected "
                        f"{tuple(value.shape)}. Check the channels, features and kernel size."
                    )
                target.copy_(value)


def named_weights(net: nn.Module) -> dict:
    out = {}
    for name in NAMED_LAYERS:
        layer = getattr(net, name, None)
        if layer is not None:
            out[name] = {
                p: tensor(getattr(layer, p, None), f"self.{name}.{p}") for p in ("weight", "bias")
            }
    return out


def tensor(value, what: str) -> torch.Tensor:
    """``value`` as a plain CPU tensor, or a StudentFailure naming ``what``: also for a dtype
    the protocol does not carry (it keeps each tensor's dtype and shape, or refuses it)."""
    if isinstance(value, torch.Tensor):
        if str(value.dtype).removeprefix("torch.") not in protocol.CARRIED_DTYPES:
            raise StudentFailure(
                f"{what} is a tensor of dtype {value.dtype}, which the grader does not read; "
                f"use one of {', '.join(protocol.CARRIED_DTYPES)} (float32 for values)."
            )
        return torch.Tensor.as_subclass(value, torch.Tensor).detach().cpu()
    raise StudentFailure(f"{what} should be a torch.Tensor; it is a {type(value).__name__}.")


def plain(value, what: str):
    """A student's result as plain data that crosses as it is: tensors (dtype and shape kept),
    numbers, strings, None, and lists and dicts of them; anything else is the student's error,
    naming ``what``."""
    if isinstance(value, torch.Tensor):
        return tensor(value, what).clone()
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) in (list, tuple):
        return [plain(v, f"{what}[{i}]") for i, v in enumerate(value)]
    if type(value) is dict:
        return {str(k): plain(v, f"{what}[{k!r}]") for k, v in value.items()}
    raise StudentFailure(
        f"{what} is a {type(value).__name__}; return tensors, numbers, strings, or lists and "
        "dicts of them."
    )


# --- the submission ----------------------------------------------------------------------


class Submission:
    """The student's files as the package ``submission``, imported on first use."""

    def __init__(self, folder: str, standin: dict | None = None, data: str | None = None) -> None:
        self.folder = folder
        self.standin = standin
        self.data = data  # the MNIST root this worker may read (None: no MNIST here)
        self._modules: dict[str, types.ModuleType | StudentFailure] = {}

    def module(self, name: str) -> types.ModuleType:
        if name not in self._modules:
            try:
                self._modules[name] = self._import(name)
            except StudentFailure as exc:
                self._modules[name] = exc
        got = self._modules[name]
        if isinstance(got, StudentFailure):
            raise got
        return got

    def _import(self, name: str) -> types.ModuleType:
        pkg_name = protocol.SUBMISSION_PACKAGE
        if pkg_name not in sys.modules:
            pkg = types.ModuleType(pkg_name)
            pkg.__path__ = [self.folder]
            sys.modules[pkg_name] = pkg
            if self.standin is not None:  # a trusted Exercise 1 so that Exercise 2 stands alone
                ex1 = types.ModuleType(f"{pkg_name}.ex1_lenet")
                ex1.LeNet = build_class(self.standin)
                sys.modules[ex1.__name__] = ex1
                pkg.ex1_lenet = ex1
        if not (Path(self.folder) / f"{name}.py").is_file():
            raise StudentFailure(f"{name}.py is missing from the submission.")
        try:
            return importlib.import_module(f"{pkg_name}.{name}")
        except BaseException as exc:  # noqa: BLE001 - any failure at import is the student's
            raise StudentFailure("importing " + describe(exc, self.folder)) from None

    def attribute(self, module: str, name: str):
        mod = self.module(module)
        if not hasattr(mod, name):
            found = sorted(n for n in vars(mod) if not n.startswith("_"))
            raise StudentFailure(
                f"{module}.py must define {name!r} (the name is fixed: the grader looks it "
                f"up). Found: {', '.join(found) or 'nothing'}."
            )
        return getattr(mod, name)


HINTS = (  # (text in the error, what to do): the common raw errors, with a sentence to act on
    (
        "shapes cannot be multiplied",
        "A Linear layer got a tensor of another size than it "
        "expects: print x.shape just before it and compare with the lecture's sizes.",
    ),
    (
        "same device",
        "Every tensor in one operation must be on the same device: move each "
        "batch to `device`, as the net was.",
    ),
    (
        "Expected input batch_size",
        "The outputs and the labels disagree on the batch size: "
        "keep the batch dimension when you flatten.",
    ),
    (
        "does not require grad",
        "backward() needs a loss computed from the net's output with "
        "gradients on; do not compute it under torch.no_grad().",
    ),
)


def offered(exc: AttributeError) -> str:
    """What an object the grader passed in offers, when the student's code asked it for an
    attribute it lacks ("" for the student's own objects)."""
    obj = getattr(exc, "obj", None)
    module = type(obj).__module__ or ""
    if obj is None or module.startswith(protocol.SUBMISSION_PACKAGE):
        return ""
    names = sorted(
        n for n in dir(obj) if not n.startswith("_") and not callable(getattr(obj, n, None))
    )
    what = f"the {type(obj).__name__} the grader passed in"
    if not names:
        return f"{what} has no such attribute"
    return f"{what} offers {', '.join(names[:12])}{' ...' if len(names) > 12 else ''}"


def describe(exc: BaseException, folder: str) -> str:
    """The exception in a student's words: file and line in their code where there is one,
    and what to do for the common raw errors."""
    text = f"{type(exc).__name__}: {exc}"
    for needle, hint in HINTS:
        if needle in text:
            text = f"{text.splitlines()[0][:300]}. {hint}"
            break
    else:
        if isinstance(exc, AttributeError) and offered(exc):
            text += f" ({offered(exc)})"
        elif not isinstance(exc, NotImplementedError | StudentFailure | SyntaxError):
            text += " (raised by your code: fix it at the line named here)"
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{Path(exc.filename).name} line {exc.lineno}: SyntaxError: {exc.msg}"
    if isinstance(exc, StudentFailure):
        return str(exc)
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.startswith(folder):
            return f"{Path(frame.filename).name} line {frame.lineno}: {text}"
    return text


def fault(exc: BaseException, folder: str) -> str:
    """Whose failure ``exc`` is: ``student`` where the submission's files are on its
    traceback (or it is a StudentFailure or a SyntaxError in them), else ``grader``."""
    if isinstance(exc, StudentFailure | MemoryError):
        return "student"
    if isinstance(exc, SyntaxError) and str(exc.filename or "").startswith(folder):
        return "student"
    frames = traceback.extract_tb(exc.__traceback__)
    return "student" if any(f.filename.startswith(folder) for f in frames) else "grader"


# --- loaders the tests hand in -----------------------------------------------------------
# Every loader a student's code receives is a real ``torch.utils.data.DataLoader`` over a
# ``TensorDataset``: ``len(loader.dataset)``, ``loader.batch_size``, ``len(loader)``, batches
# ``[inputs, labels]`` and as many passes as the student likes, as in any tutorial. What the
# judge watches (gains, pauses, the start of each pass, the batches served) lives inside it,
# in the dataset and its sampler, and never changes that interface.


class JudgedData(TensorDataset):
    """A loader's tensors, served a batch at a time (``__getitems__``), and what the judge
    watches as they are served.

    ``gains``: the ``i``-th batch of every pass is scaled by ``gains[i % len(gains)]``, so the
    batches of an epoch differ in difficulty by construction (their losses lie far apart,
    whatever the seed). ``pause``: seconds slept before each batch, so a pass takes a known
    minimum time. ``on_pass``: called at the start of each pass. ``served``: each batch's
    ``(pass, place in the pass, sample indices)``, kept with ``record`` so the judge replays
    the batches the student's steps really used, whatever other passes the student made.
    """

    def __init__(self, x, y, *, gains=(), pause: float = 0.0, record: bool = False) -> None:
        super().__init__(x, y)
        self.gains, self.pause, self.record = [float(g) for g in gains], float(pause), record
        self.passes, self.place = 0, 0
        self.on_pass: list[Callable[[], None]] = []
        self.served: list[tuple[int, int, torch.Tensor]] = []
        self.last: tuple[int, int, torch.Tensor] | None = None

    def begin_pass(self) -> None:
        self.passes, self.place = self.passes + 1, 0
        for callback in self.on_pass:
            callback()

    def __getitems__(self, indices: list[int]) -> list[torch.Tensor]:
        if self.pause:
            time.sleep(self.pause)
        idx = torch.as_tensor(indices, dtype=torch.long)
        self.last = (self.passes, self.place, idx)
        if self.record:
            self.served.append(self.last)
        x, y = self.tensors
        inputs = x[idx.to(x.device)]
        if self.gains:
            inputs = inputs * self.gains[self.place % len(self.gains)]
        self.place += 1
        return [inputs, y[idx.to(y.device)]]


class PassSampler(Sampler[int]):
    """The sample order of each pass (a fresh permutation from ``seed``'s stream when
    shuffling); tells the data that a pass begins."""

    def __init__(self, data: JudgedData, shuffle: bool, seed: int) -> None:
        self.data, self.shuffle = data, shuffle
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self):
        self.data.begin_pass()
        if self.shuffle:
            return iter(torch.randperm(len(self.data), generator=self.generator).tolist())
        return iter(range(len(self.data)))


def as_batch(batch: list[torch.Tensor]) -> list[torch.Tensor]:
    """``JudgedData`` serves whole batches: the loader passes them on as they are."""
    return batch


def loader_tensors(spec: dict, data_root: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The inputs and labels of a loader spec: synthetic digits, mode-probe images, or MNIST
    with a permutation of its labels."""
    kind = spec["kind"]
    if kind == "synthetic":
        return data.synthetic_digits(spec["n"], seed=spec["seed"])
    if kind == "mode":
        return mode_data(spec["seed"], spec["n"])
    if kind == "mnist":
        if data_root is None:
            raise ValueError("this worker was started without MNIST")
        images, labels = data.load_split(Path(data_root), train=spec["train"])
        return data.to_inputs(images), torch.tensor(spec["permutation"])[labels]
    raise ValueError(f"unknown loader kind {kind!r}")


def make_loader(
    spec: dict, device: str = "cpu", data_root: str | None = None, record: bool = False
) -> DataLoader:
    """A ``DataLoader`` from a spec (:func:`loader_tensors`), its tensors on ``device``."""
    x, y = loader_tensors(spec, data_root)
    judged = JudgedData(
        x.to(device),
        y.to(device),
        gains=spec.get("gains") or (),
        pause=spec.get("pause", 0.0),
        record=record,
    )
    sampler = PassSampler(judged, spec.get("shuffle", False), spec.get("seed", 0))
    return DataLoader(judged, batch_size=spec["batch_size"], sampler=sampler, collate_fn=as_batch)


def served_batches(spec: dict, used: list) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The judge's copy of the batches a worker served, from the spec and the served
    ``(pass, place, indices)`` it reported: the same tensors, gains included."""
    x, y = loader_tensors(spec)
    gains = [float(g) for g in spec.get("gains") or ()]
    out = []
    for _, place, idx in used:
        inputs = x[idx]
        out.append((inputs * gains[place % len(gains)] if gains else inputs, y[idx]))
    return out


def watch_passes(loader: DataLoader, net: nn.Module) -> list[dict]:
    """Note the net's weights each time a pass over ``loader`` begins: the judge then knows
    which weights an evaluation saw (the last pass must see the trained net)."""
    seen: list[dict] = []

    def note() -> None:
        weights = named_weights(net)  # views of the live weights on the CPU: copy them
        seen.append({n: {p: t.clone() for p, t in ps.items()} for n, ps in weights.items()})

    loader.dataset.on_pass.append(note)
    return seen


class ModeProbe(nn.Module):
    """A seeded random linear classifier. With ``sensitive``, its predictions change in
    training mode (class 0 wins) and with gradients on (class 1 wins), so the accuracy that
    ``evaluate()`` returns shows how it ran the net. The judge builds the same probe."""

    def __init__(self, seed: int, sensitive: bool = True) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.weight = nn.Parameter(torch.randn(28 * 28, 10, generator=g))
        self.sensitive = sensitive

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = (x.flatten(1) - 0.5) @ self.weight  # (N, 10), centred so classes vary
        logits = logits - 1e3 * (torch.arange(10) < 2)  # classes 0 and 1 only win when...
        if self.sensitive:
            if self.training:
                logits = logits + 1e4 * F.one_hot(torch.zeros_like(logits[:, 0]).long(), 10)
            if torch.is_grad_enabled():
                logits = logits + 2e4 * F.one_hot(torch.ones_like(logits[:, 0]).long(), 10)
        return F.log_softmax(logits, dim=1)


def mode_data(seed: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images for :class:`ModeProbe`: labels agree with its eval-mode prediction (never 0 or 1)
    for about 60%, and hold class 0 more often than class 1, so the accuracies of eval mode,
    training mode (all class 0) and gradients on (all class 1) lie far apart."""
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.rand(n, 1, 28, 28, generator=g)
    with torch.no_grad():
        y = ModeProbe(seed).eval()(x).argmax(1)
    flip = torch.rand(n, generator=g) < 0.3
    y[flip] = torch.randint(0, 10, (int(flip.sum()),), generator=g)
    y[torch.arange(n) % 10 == 3] = 0
    return x, y


def number(value):
    """A plain int or float from a student's value, numpy's scalars included (they are
    numbers: ``numpy.float64`` is a Python float), or its type name for the judge to reject."""
    if type(value) in (int, float, bool):
        return value
    if not isinstance(value, torch.Tensor):
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, numbers.Real):
            return float(value)
    return {"type": type(value).__name__}


# --- the probes, by exercise -------------------------------------------------------------


def _reset(net: nn.Module, resets: dict) -> None:
    """Re-initialise each named layer from its own seed, as ``reset_parameters()`` does.

    The values then depend only on the layer's kind and shape and on the seed, whatever the
    order in which the student created the layers; the judge computes the same values, so
    an observation of them cannot be written down without building those layers."""
    for name, seed in resets.items():
        layer = getattr(net, name, None)
        if callable(getattr(layer, "reset_parameters", None)):
            torch.manual_seed(seed)
            layer.reset_parameters()


def _plain(value) -> torch.Tensor | None:
    return tensor(value, "") if isinstance(value, torch.Tensor) else None


def ex1_build(sub: Submission, seed: int, resets: dict) -> dict:
    torch.manual_seed(seed)
    net = sub.attribute("ex1_lenet", "LeNet")()
    _reset(net, resets)
    layers = {}
    for name in NAMED_LAYERS:
        layer = getattr(net, name, None)
        if layer is not None:
            layers[name] = {p: _plain(getattr(layer, p, None)) for p in ("weight", "bias")}
            layers[name]["fault"] = layer_fault(name, layer)
    return {"layers": layers, "parameters": [_plain(p) for p in net.parameters()]}


def _note(seen: dict, key: str, value) -> None:
    """Keep a copy of the first tensor seen at ``key`` (a hook must return None)."""
    if key not in seen:
        seen[key] = _plain(value).clone() if isinstance(value, torch.Tensor) else None


class LayerTrace(TorchFunctionMode):
    """Records, for each named layer, the input and output of the first ``conv2d`` or
    ``linear`` computed with that layer's weight tensor, however the call was made:
    ``self.conv1(x)``, ``F.conv2d(x, self.conv1.weight, ...)`` or ``torch.conv2d``. The
    judge then recomputes each layer from the input seen here (a module hook would see only
    calls through the module)."""

    OPS = (torch.conv2d, F.linear)  # F.conv2d is torch.conv2d

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.seen: dict[str, torch.Tensor | None] = {}
        self.layers = {}
        for name in NAMED_LAYERS:
            weight = getattr(getattr(net, name, None), "weight", None)
            if isinstance(weight, torch.Tensor):
                self.layers[id(weight)] = name

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func in self.OPS:
            inputs = args[0] if args else kwargs.get("input")
            weight = args[1] if len(args) > 1 else kwargs.get("weight")
            name = self.layers.get(id(weight))
            if name is not None:
                _note(self.seen, f"{name}:in", inputs)
                _note(self.seen, f"{name}:out", out)
        return out


def _forward(net: nn.Module, x, mode: str, per_sample: bool, trace: bool) -> dict:
    tracer = LayerTrace(net) if trace else contextlib.nullcontext()
    net.train(mode == "train")
    torch.manual_seed(0)
    with torch.no_grad():
        with tracer:
            out = tensor(net(x), "forward's result")
        single = (
            [tensor(net(x[i : i + 1]), "forward's result") for i in range(len(x))]
            if per_sample
            else []
        )
    result = {"out": out, "stages": tracer.seen if trace else {}}
    if per_sample:
        result["single"] = torch.cat(single) if single else None
    return result


def ex1_forward(
    sub: Submission,
    seed: int,
    x,
    weights,
    mode: str = "eval",
    per_sample: bool = False,
    trace: bool = False,
) -> dict:
    torch.manual_seed(seed)
    net = sub.attribute("ex1_lenet", "LeNet")()
    load_named(net, weights)
    return _forward(net, x, mode, per_sample, trace)


def ex2_forward(sub: Submission, seed: int, x, weights, mode: str = "eval") -> dict:
    torch.manual_seed(seed)
    net = sub.attribute("ex2_log_softmax", "LeNetClassifier")()
    load_named(net, weights)
    return _forward(net, x, mode, per_sample=False, trace=False)


def _records(records) -> list:
    if not isinstance(records, list):
        raise StudentFailure(
            f"train() returned a {type(records).__name__}; return a list with one EpochRecord "
            "per epoch."
        )
    out = []
    for r in records:
        out.append(
            {
                "is_record": isinstance(r, EpochRecord),
                "type": type(r).__name__,
                **{
                    f: number(getattr(r, f, None))
                    for f in ("epoch", "train_loss", "test_accuracy", "seconds")
                },
            }
        )
    return out


class StepWatch:
    """Notes what each optimizer step of a run sees, through torch's global step hook.

    Per step, up to ``keep`` steps: which optimizer took it (numbered by first use), its
    class and lr, how many steps its state had counted for the net's first parameter, how
    many of the tensors it steps are the given net's, and the given net's weights and
    gradients just before the step. Only observations: the judge recomputes each step's
    gradient and loss itself, from the weights seen here and the batches it knows.
    """

    def __init__(self, net: nn.Module, keep: int, data: JudgedData | None = None) -> None:
        self.net, self.keep, self.data = net, keep, data
        self.used: list[list] = []  # with ``data``: the batch each step used, as served
        self.given = list(net.parameters())
        self.given_ids = {id(p) for p in self.given}
        # Each optimizer's number, by the object itself, weakly: an optimizer made per batch
        # is freed with its state (6,000 Adams over 10 epochs would hold about 2 GB). The
        # global hook sees only torch.optim.Optimizer objects, which take weak references.
        self.numbered: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.optimizers = 0  # how many took a step
        self.steps: list[dict] = []
        self.count = 0

    def __enter__(self) -> StepWatch:
        self.handle = register_optimizer_step_pre_hook(self.hook)
        return self

    def __exit__(self, *exc) -> None:
        self.handle.remove()

    def hook(self, optimizer, args, kwargs) -> None:
        self.count += 1
        if self.data is not None:
            self.used.append(list(self.data.last) if self.data.last else None)
        index = self._number(optimizer)
        if len(self.steps) >= self.keep:
            return
        params = [p for group in optimizer.param_groups for p in group["params"]]
        state = optimizer.state.get(self.given[0], {}) if self.given else {}
        self.steps.append(
            {
                "optimizer": index,
                "kind": type(optimizer).__name__,
                "lr": _float(optimizer.param_groups[0].get("lr")),
                "state_step": _float(state.get("step", 0)),
                "params": len(params),
                "given": sum(id(p) in self.given_ids for p in params),
                "weights": _copied(named_weights(self.net)),
                "grads": _copied(named_grads(self.net)),
            }
        )

    def _number(self, optimizer) -> int:
        """The optimizer's number, by first use."""
        index = self.numbered.get(optimizer)
        if index is None:
            index, self.optimizers = self.optimizers, self.optimizers + 1
            self.numbered[optimizer] = index
        return index


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError):
        return None


def _copied(weights: dict) -> dict:
    return {
        n: {p: t if t is None else t.clone() for p, t in ps.items()} for n, ps in weights.items()
    }


def named_grads(net: nn.Module) -> dict:
    """The gradients held by the net's named layers (None where there is none)."""
    out = {}
    for name in NAMED_LAYERS:
        layer = getattr(net, name, None)
        if layer is not None:
            out[name] = {
                p: _plain(getattr(getattr(layer, p, None), "grad", None))
                for p in ("weight", "bias")
            }
    return out


def ex3_train(
    sub: Submission,
    spec: dict,
    seed: int,
    train: dict,
    test: dict,
    epochs: int,
    lr: float,
    device: str = "cpu",
    own_net: bool = False,
    watch: int = 0,
    record: bool = False,
) -> dict:
    """The student's train() on a net built from ``spec`` after ``torch.manual_seed(seed)``,
    or with ``own_net`` on the student's own LeNetClassifier (Exercises 1 and 2) holding
    that net's weights: either way the judge knows the weights training starts from.
    With ``watch``, the first ``watch`` optimizer steps are observed (:class:`StepWatch`);
    with ``record``, the batch each step used (``used``: pass, place, sample indices)."""
    fn = sub.attribute("ex3_train", "train")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    start = build_net(spec, seed)
    if own_net:  # the student's own class, from the same start as the judge's seeded net
        net = sub.attribute("ex2_log_softmax", "LeNetClassifier")()
        load_named(net, named_weights(start))
        net = net.to(device)
    else:
        net = start.to(device)
    train_loader = make_loader(train, device, sub.data, record=record)
    test_loader = make_loader(test, device, sub.data)
    seen = watch_passes(test_loader, net)
    with StepWatch(net, watch, train_loader.dataset if record else None) as steps:
        records = fn(net, train_loader, test_loader, epochs=epochs, lr=lr, device=device)
    return {
        "records": _records(records),
        "weights": named_weights(net),
        "test_passes": len(seen),
        "last_evaluated": seen[-1] if seen else None,
        "steps": steps.steps,
        "step_count": steps.count,
        "optimizers": steps.optimizers,
        "used": steps.used,
        "per_pass": len(train_loader),
    }


def ex3_evaluate(sub: Submission, loader: dict, sensitive: bool) -> dict:
    fn = sub.attribute("ex3_train", "evaluate")
    probe = ModeProbe(loader["seed"], sensitive).train()  # handed over in training mode
    value = fn(probe, make_loader(loader), "cpu")
    try:
        as_float = float(value)
    except (TypeError, ValueError, RuntimeError):
        as_float = None
    return {"value": number(value), "float": as_float}


def _snapshot_dict(snap, what: str) -> dict:
    if not isinstance(snap, dict):
        raise StudentFailure(f"{what} returned a {type(snap).__name__}; return a dict.")
    return {str(k): tensor(v, f"{what}[{k!r}]") for k, v in snap.items()}


def ex4_snapshot(sub: Submission, spec: dict, weights: dict, delta: dict) -> dict:
    fn = sub.attribute("ex4_kernels", "snapshot_kernels")
    net = build_net(spec, 0, weights)
    snap = fn(net)
    values = _snapshot_dict(snap, "snapshot_kernels()")
    first = {
        k: {
            "value": value.clone(),
            "requires_grad": bool(original.requires_grad),
            "device": str(original.device),
        }
        for (k, value), original in zip(values.items(), snap.values(), strict=True)
    }
    with torch.no_grad():  # training moves the weights; a snapshot must not move with them
        net.conv1.weight.add_(delta["conv1"])
        net.conv2.weight.add_(delta["conv2"])
    return {
        "snapshot": first,
        "later": values,  # views of what the snapshot holds now, after the step
        "live": {
            "conv1": tensor(net.conv1.weight, "conv1"),
            "conv2": tensor(net.conv2.weight, "conv2"),
        },
    }


def ex4_change(sub: Submission, before: dict, after: dict) -> dict:
    fn = sub.attribute("ex4_kernels", "kernel_change")
    return {"change": _snapshot_dict(fn(before, after), "kernel_change()")}


def ex4_plot(sub: Submission, weights: dict, title: str) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.figure
    import matplotlib.pyplot as plt
    import numpy as np

    fn = sub.attribute("ex4_kernels", "plot_kernels")
    fig = fn(weights, title)
    if not isinstance(fig, matplotlib.figure.Figure):
        return {"figure": type(fig).__name__, "images": []}
    images = []
    for ax in fig.axes:
        for im in ax.get_images():
            images.append(torch.as_tensor(np.asarray(im.get_array(), dtype=np.float32)))
    plt.close(fig)
    return {"figure": "Figure", "images": images}


def _exercise_module(probe: str, module: str) -> str:
    """``module`` if it names an exercise file (exN_...); a declared probe reads no other."""
    if not re.fullmatch(r"ex\d+_\w+", module):
        raise ValueError(f"{probe}: {module!r} is not an exercise module")
    return module


def call(sub: Submission, module: str, function: str, args=(), kwargs=None) -> dict:
    """The declared probe: the submission's ``module.function`` called on the judge's plain
    inputs; its result as plain data (:func:`plain`). A new exercise's tests observe through
    it without a probe of their own; the judge computes every expected value itself."""
    fn = sub.attribute(_exercise_module("call", module), function)
    if not callable(fn):
        raise StudentFailure(
            f"{module}.{function} should be a function; it is a {type(fn).__name__}."
        )
    return {"result": plain(fn(*args, **(kwargs or {})), f"{function}()")}


def attribute(sub: Submission, module: str, name: str) -> dict:
    """The declared probe for data a student defines: the value of ``module.name`` as plain
    data (:func:`plain`), a dotted name reaching into it (``net.conv1.weight``), a tensor
    keeping its dtype and shape. For a function's result, see :func:`call`."""
    first, *rest = name.split(".")
    value = sub.attribute(_exercise_module("attribute", module), first)
    for i, part in enumerate(rest, start=1):
        if not hasattr(value, part):
            raise StudentFailure(
                f"{module}.{'.'.join([first, *rest[: i - 1]])} has no attribute {part!r} "
                f"(the grader reads {module}.{name})."
            )
        value = getattr(value, part)
    return {"value": plain(value, f"{module}.{name}")}


def ping(sub: Submission) -> dict:
    """Who and where the worker is: the jail tests read this."""
    import os

    return {"uid": os.getuid(), "pid": os.getpid(), "cwd": os.getcwd()}


PROBES: dict[str, Callable[..., dict]] = {
    "ping": ping,
    "call": call,
    "attribute": attribute,
    "ex1.build": ex1_build,
    "ex1.forward": ex1_forward,
    "ex2.forward": ex2_forward,
    "ex3.train": ex3_train,
    "ex3.evaluate": ex3_evaluate,
    "ex4.snapshot": ex4_snapshot,
    "ex4.change": ex4_change,
    "ex4.plot": ex4_plot,
}
