"""The lecture's recipe as one frozen, validated dataclass.

Kept free of torch so that building the command line (whose flags take their defaults from
:class:`TrainConfig`) imports nothing heavy; :mod:`lenet_course.engine` re-exports it.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from lenet_course.errors import ConfigError

LOADERS = ("tensor", "torchvision")
"""``tensor``: each split held as tensors on the device; ``torchvision``: the lecture's DataLoader."""

COMPILE_MODES = ("off", "default", "reduce-overhead")
"""``off``: eager PyTorch; ``default``: ``torch.compile`` of the step's forward and loss (the
inductor fuses their element-wise work, forward and backward); ``reduce-overhead``: the same
with torch.compile's own CUDA graphs (so not inside the kit's graph, ``cuda_graph=False``)."""

MAX_GRAPH_STEPS = 600
"""One epoch of the recipe: 60,000 samples in batches of 100."""

_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


@dataclass(frozen=True)
class TrainConfig:
    """The lecture's settings, validated on creation."""

    epochs: int = 10
    """Passes over the 60,000 training images."""
    batch_size: int = 100
    """Samples per optimiser step; 100 gives 600 steps per epoch."""
    lr: float = 1e-3
    """Adam's learning rate."""
    seed: int = 0
    """Seeds the weights and the shuffling."""
    device: str = "auto"
    """``auto`` (cuda if available, else cpu), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
    loader: str = "tensor"
    """``tensor`` (data held on the device, the default) or ``torchvision`` (the lecture's)."""
    cuda_graph: bool = False
    """Capture the whole train step in a CUDA graph (CUDA only; falls back to eager)."""
    graph_steps: int = 1
    """Train steps captured in one CUDA graph, so one replay (one launch from the host) takes
    this many steps; 1 replays per batch, fed by the loader (the measured default); more reads
    its batches inside the graph from the tensor loader's data on the device, through a
    shuffled index drawn on the device before each epoch. Must divide the epoch's steps."""
    compile: str = "off"
    """``torch.compile`` of the step's forward and loss, one of :data:`COMPILE_MODES`; with
    ``cuda_graph`` the compiled step is captured in the kit's graph. Compiling happens in the
    warm-up, before any timed epoch."""
    cudnn_benchmark: bool = False
    """Let cuDNN time its convolution algorithms on first use and keep the fastest (CUDA only;
    set for the run and restored after, harmless elsewhere)."""
    channels_last: bool | None = None
    """Store conv weights channels-last: None takes the device's measured default (CPU yes,
    20% faster; CUDA no, not yet measured); True or False forces it."""

    def __post_init__(self) -> None:
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ConfigError(f"epochs must be a whole number >= 1, got {self.epochs!r}")
        if not isinstance(self.batch_size, int) or not 1 <= self.batch_size <= 60_000:
            raise ConfigError(f"batch size must be between 1 and 60000, got {self.batch_size!r}")
        if not isinstance(self.lr, (int, float)) or not (0 < self.lr < 10) or math.isnan(self.lr):
            raise ConfigError(f"learning rate must be a number in (0, 10), got {self.lr!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a whole number >= 0, got {self.seed!r}")
        if not isinstance(self.device, str) or not _DEVICE_RE.match(self.device):
            raise ConfigError(f"device must be auto, cpu, cuda, cuda:N or mps, got {self.device!r}")
        if self.loader not in LOADERS:
            raise ConfigError(f"loader must be one of {', '.join(LOADERS)}, got {self.loader!r}")
        if not isinstance(self.graph_steps, int) or not 1 <= self.graph_steps <= MAX_GRAPH_STEPS:
            raise ConfigError(
                f"graph steps must be a whole number from 1 to {MAX_GRAPH_STEPS}, "
                f"got {self.graph_steps!r}"
            )
        if self.compile not in COMPILE_MODES:
            raise ConfigError(
                f"compile must be one of {', '.join(COMPILE_MODES)}, got {self.compile!r}"
            )
        if self.compile == "reduce-overhead" and self.cuda_graph:
            raise ConfigError(
                "compile mode reduce-overhead makes CUDA graphs of its own, which cannot be "
                "captured inside the kit's graph. Fix: use compile=default with cuda_graph, or "
                "reduce-overhead without it."
            )
        if self.channels_last not in (None, True, False):
            raise ConfigError(
                f"channels_last must be None, True or False, got {self.channels_last!r}"
            )

    @property
    def asks_for_lever(self) -> bool:
        """A CUDA graph or a compiled loss: steps that :mod:`lenet_course.levers` takes, not
        the plain loop (``cudnn_benchmark`` and ``channels_last`` apply to both)."""
        return self.cuda_graph or self.compile != "off"


CUDA_GRAPH_LEVERS: Mapping[str, object] = MappingProxyType({"graph_steps": 1})
"""The levers that come with the graph in ``train --cuda-graph`` and in ``validate``'s graph
path: to be the fastest correct graph cell of ``lenet-course bench --levers`` on a GPU (its
JSON's ``graph_default``, written by ``scripts/gpu_validate.sh`` into ``levers.json``).
Until a GPU run of the matrix says which cell wins, it is the graph that has been measured,
one step per replay (docs/benchmarks.md has its figures)."""


def with_cuda_graph(config: TrainConfig) -> TrainConfig:
    """``config`` with the CUDA graph on and :data:`CUDA_GRAPH_LEVERS` set."""
    return dataclasses.replace(config, cuda_graph=True, **CUDA_GRAPH_LEVERS)
