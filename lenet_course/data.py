"""MNIST: where it lives, checking the files, and the two ways to serve batches.

* :class:`TensorLoader` (the fast path, default) keeps a whole split as one tensor on the
  target device and serves shuffled batches. It is a drop-in for the lecture's DataLoader:
  same iteration protocol, ``len()`` is the number of batches, reproducible from a seed.
* :func:`torchvision_loaders` is the lecture's path: ``torchvision.datasets.MNIST`` with a
  ``DataLoader``.
"""

from __future__ import annotations

import logging
import math
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import TensorDataset

from lenet_course.config import LOADERS
from lenet_course.errors import DataError

log = logging.getLogger(__name__)

ENV_VAR = "LENET_DATA"


@dataclass(frozen=True)
class IdxFile:
    """One of MNIST's four IDX files and what it must hold."""

    name: str
    magic: int  # 2051 for images, 2049 for labels
    count: int
    sha256: str  # of the uncompressed file, as torchvision unpacks it

    @property
    def is_images(self) -> bool:
        return self.magic == 2051

    @property
    def header_size(self) -> int:
        return 16 if self.is_images else 8

    @property
    def size(self) -> int:
        return self.header_size + self.count * (28 * 28 if self.is_images else 1)


FILES = (
    IdxFile(
        "train-images-idx3-ubyte",
        2051,
        60_000,
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    IdxFile(
        "train-labels-idx1-ubyte",
        2049,
        60_000,
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    IdxFile(
        "t10k-images-idx3-ubyte",
        2051,
        10_000,
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    IdxFile(
        "t10k-labels-idx1-ubyte",
        2049,
        10_000,
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
)


def default_root() -> Path:
    """The cache folder used when neither ``--data`` nor ``LENET_DATA`` is given."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lenet-course" / "data"


def resolve_root(data: str | os.PathLike[str] | None = None) -> Path:
    """The data root: the ``data`` argument, else ``$LENET_DATA``, else :func:`default_root`."""
    if data:
        return Path(data).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    return default_root()


def raw_folder(root: Path) -> Path:
    return Path(root) / "MNIST" / "raw"


def _fix_hint(root: Path) -> str:
    return (
        f"Fix: delete the damaged file so the kit can download it again, or copy the original "
        f"MNIST files into {raw_folder(root)}, or point the kit at another copy with "
        f"--data DIR or {ENV_VAR}=DIR (DIR holds MNIST/raw/*-ubyte)."
    )


def verify(root: Path) -> None:
    """Check the four IDX files: present, right magic number, right count, right size.

    Raises :class:`DataError` naming the file, what is wrong, and how to fix it.
    """
    raw = raw_folder(root)
    for spec in FILES:
        path = raw / spec.name
        if not path.is_file():
            raise DataError(f"MNIST file missing: {path}\n{_fix_hint(root)}")
        size = path.stat().st_size
        with path.open("rb") as fh:
            header = fh.read(spec.header_size)
        if len(header) < 8:
            raise DataError(
                f"MNIST file truncated: {path} has {size} bytes, expected {spec.size:,}.\n"
                f"{_fix_hint(root)}"
            )
        magic, count = struct.unpack(">II", header[:8])
        if magic != spec.magic:
            raise DataError(
                f"MNIST file corrupt: {path} starts with magic number {magic}, expected "
                f"{spec.magic} ({'images' if spec.is_images else 'labels'}). The file is not an "
                f"uncompressed MNIST IDX file (a .gz left unpacked?).\n{_fix_hint(root)}"
            )
        if count != spec.count:
            raise DataError(
                f"MNIST file corrupt: {path} says it holds {count:,} items, expected "
                f"{spec.count:,}.\n{_fix_hint(root)}"
            )
        if spec.is_images:
            rows, cols = struct.unpack(">II", header[8:16])
            if (rows, cols) != (28, 28):
                raise DataError(
                    f"MNIST file corrupt: {path} holds {rows}x{cols} images, expected 28x28.\n"
                    f"{_fix_hint(root)}"
                )
        if size != spec.size:
            what = "truncated" if size < spec.size else "too long"
            raise DataError(
                f"MNIST file {what}: {path} has {size:,} bytes, expected {spec.size:,}.\n"
                f"{_fix_hint(root)}"
            )


def verify_checksums(root: Path) -> None:
    """Check each file's SHA-256 against the kit's committed value (grading does this
    before any run, so that altered data cannot pass an accuracy check)."""
    import hashlib

    verify(root)
    for spec in FILES:
        path = raw_folder(root) / spec.name
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != spec.sha256:
            raise DataError(
                f"MNIST file altered: {path} has SHA-256 {digest}, expected {spec.sha256}. "
                f"Grading refuses altered data.\n{_fix_hint(root)}"
            )


def _missing(root: Path) -> bool:
    raw = raw_folder(root)
    return not any((raw / spec.name).exists() for spec in FILES)


def prepare(data: str | os.PathLike[str] | None = None, *, download: bool = True) -> Path:
    """Find MNIST, download it through torchvision if absent (and allowed), and verify it.

    Returns the root folder that holds ``MNIST/raw``.
    """
    root = resolve_root(data)
    if _missing(root):
        if not download:
            raise DataError(
                f"MNIST not found: looked for {raw_folder(root)}/*-ubyte and found none.\n"
                f"Fix: pass --data DIR or set {ENV_VAR}=DIR, where DIR holds MNIST/raw/*-ubyte, "
                f"or allow the download."
            )
        log.info("MNIST not found in %s; downloading through torchvision", root)
        try:
            from torchvision.datasets import MNIST

            root.mkdir(parents=True, exist_ok=True)
            for train in (True, False):
                MNIST(str(root), train=train, download=True)
        except (OSError, RuntimeError) as exc:
            raise DataError(
                f"MNIST not found and the download failed ({exc.__class__.__name__}: {exc}).\n"
                f"Looked in: {raw_folder(root)}\n"
                f"Fix: on a machine without internet, copy the four MNIST files into that folder, "
                f"or pass --data DIR or set {ENV_VAR}=DIR, where DIR holds MNIST/raw/*-ubyte."
            ) from exc
    verify(root)
    return root


def load_split(root: Path, *, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """One split as ``(images uint8 (N, 28, 28), labels int64 (N,))``, read by torchvision."""
    from torchvision.datasets import MNIST

    ds = MNIST(str(root), train=train, download=False)
    return ds.data, ds.targets.long()


def to_inputs(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 ``(N, 28, 28)`` to float ``(N, 1, 28, 28)`` in [0, 1], as ``ToTensor`` gives."""
    return images_u8.unsqueeze(1).float().div_(255.0)


def synthetic_digits(n: int = 1000, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A tiny learnable stand-in for MNIST: inputs ``(n, 1, 28, 28)`` in [0, 1], labels ``(n,)``.

    Class ``c`` is a bright 6x4 block at a position of its own on faint noise, so a LeNet
    learns it in a few dozen steps. For tests that must not need the real files.
    """
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=g)
    images = torch.rand(n, 1, 28, 28, generator=g) * 0.1
    for i, c in enumerate(labels.tolist()):
        r, col = divmod(c, 5)
        images[i, 0, 4 + 12 * r : 10 + 12 * r, 2 + 5 * col : 6 + 5 * col] = 1.0
    return images, labels


class TensorLoader:
    """Shuffled batches ``(inputs, labels)`` from tensors held on one device.

    Args:
        inputs: float ``(N, 1, 28, 28)``.
        labels: int64 ``(N,)``.
        batch_size: samples per batch; the last batch may be smaller.
        shuffle: draw a new permutation each epoch (from ``seed``).
        seed: the seed of the permutation stream; equal seeds give equal batches.
        device: where the tensors live and where batches are served.
    """

    def __init__(
        self,
        inputs: torch.Tensor,
        labels: torch.Tensor,
        *,
        batch_size: int = 100,
        shuffle: bool = True,
        seed: int = 0,
        device: str | torch.device = "cpu",
    ) -> None:
        if inputs.shape[0] != labels.shape[0]:
            raise ValueError(f"{inputs.shape[0]} inputs but {labels.shape[0]} labels")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = torch.device(device)
        self.inputs = inputs.to(self.device)
        self.labels = labels.to(self.device)
        self.batch_size = batch_size
        self.shuffle = shuffle
        # on the loader's device: a CUDA loader draws its order there (one launch per epoch)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)

    @property
    def dataset(self) -> TensorDataset:
        """The samples as a ``TensorDataset``, as a ``DataLoader`` holds them: student code
        written for one (``len(loader.dataset)``) reads this loader the same way."""
        return TensorDataset(self.inputs, self.labels)

    @property
    def num_samples(self) -> int:
        return self.labels.shape[0]

    def __len__(self) -> int:
        return math.ceil(self.num_samples / self.batch_size)

    def order(self) -> torch.Tensor:
        """The next epoch's sample order, ``(N,)`` int64 on the device: a fresh permutation
        when shuffling (drawn on the device, from ``seed``'s stream), else ``0..N-1``. What
        :meth:`__iter__` batches, and what a CUDA graph that reads its own batches uses."""
        n = self.num_samples
        if not self.shuffle:
            return torch.arange(n, device=self.device)
        return torch.randperm(n, generator=self.generator, device=self.device)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = self.num_samples
        if self.shuffle:
            order = self.order()
            for start in range(0, n, self.batch_size):
                idx = order[start : start + self.batch_size]
                # index_select copies whole rows: 29 us a batch of 100 on the CPU here,
                # against 102 us for inputs[idx] (median of 5 rounds of 500)
                yield self.inputs.index_select(0, idx), self.labels.index_select(0, idx)
        else:
            for start in range(0, n, self.batch_size):
                end = start + self.batch_size
                yield self.inputs[start:end], self.labels[start:end]


def tensor_loaders(
    root: Path, *, batch_size: int = 100, seed: int = 0, device: str | torch.device = "cpu"
) -> tuple[TensorLoader, TensorLoader]:
    """The fast path: both splits loaded once onto ``device``."""
    train_x, train_y = load_split(root, train=True)
    test_x, test_y = load_split(root, train=False)
    train = TensorLoader(
        to_inputs(train_x), train_y, batch_size=batch_size, shuffle=True, seed=seed, device=device
    )
    test = TensorLoader(to_inputs(test_x), test_y, batch_size=1000, shuffle=False, device=device)
    return train, test


def torchvision_loaders(
    root: Path, *, batch_size: int = 100, seed: int = 0, num_workers: int = 0
) -> tuple[torch.utils.data.DataLoader, torch.utils.data.DataLoader]:
    """The lecture's path: ``torchvision.datasets.MNIST`` + ``ToTensor`` + ``DataLoader``."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    tf = transforms.ToTensor()
    train_ds = datasets.MNIST(str(root), train=True, download=False, transform=tf)
    test_ds = datasets.MNIST(str(root), train=False, download=False, transform=tf)
    gen = torch.Generator().manual_seed(seed)
    train = DataLoader(
        train_ds, batch_size=batch_size, shuffle=True, generator=gen, num_workers=num_workers
    )
    test = DataLoader(test_ds, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    return train, test


def make_loaders(root: Path, config, device: str | torch.device = "cpu"):
    """``(train, test)`` loaders for a training config (its ``loader``, ``batch_size`` and
    ``seed``; see :class:`~lenet_course.config.TrainConfig`) on ``device``."""
    loader, batch_size, seed = config.loader, config.batch_size, config.seed
    if loader == "tensor":
        return tensor_loaders(root, batch_size=batch_size, seed=seed, device=device)
    if loader == "torchvision":
        return torchvision_loaders(root, batch_size=batch_size, seed=seed)
    raise ValueError(f"unknown loader {loader!r}; choose one of {', '.join(LOADERS)}")
