"""Figures drawn from a finished :class:`~lenet_course.engine.History`; nothing here trains."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: the kit never needs a screen
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from lenet_course.engine import History  # noqa: E402
from lenet_course.files import atomic_path  # noqa: E402


def _curve(history: History, attr: str, ylabel: str, title: str) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = [r.epoch for r in history.records]
    ax.plot(epochs, [getattr(r, attr) for r in history.records], marker="o")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.set_xticks(epochs)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def loss_figure(history: History) -> Figure:
    """Mean training loss per epoch."""
    return _curve(history, "train_loss", "mean NLL loss", "Training loss")


def accuracy_figure(history: History) -> Figure:
    """Test accuracy per epoch, in percent."""
    return _curve(history, "test_accuracy", "test accuracy (%)", "Test accuracy")


def kernel_rows_figure(rows: dict[str, torch.Tensor], title: str) -> Figure:
    """A grid: one row per entry of ``rows`` (each (K, 5, 5)), one image per 5x5 slice.

    A row whose name starts with "difference" uses a diverging colour map centred on 0.
    """
    n_cols = max(t.shape[0] for t in rows.values())
    fig, axes = plt.subplots(
        len(rows), n_cols, figsize=(1.6 * n_cols, 1.8 * len(rows)), squeeze=False
    )
    for r, (name, slices) in enumerate(rows.items()):
        diverging = name.startswith("difference")
        lim = float(slices.abs().max()) or 1.0
        for c in range(n_cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= slices.shape[0]:
                ax.axis("off")
                continue
            kw = {"cmap": "RdBu_r", "vmin": -lim, "vmax": lim} if diverging else {"cmap": "gray"}
            ax.imshow(slices[c].numpy(), **kw)
            if c == 0:
                ax.set_ylabel(name)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _before_after(before: torch.Tensor, after: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"before": before, "after": after, "difference": after - before}


def conv1_figure(history: History) -> Figure:
    """conv1's 6 kernels (6,1,5,5): before training, after, and the difference."""
    b, a = history.snapshots["before"]["conv1"][:, 0], history.snapshots["after"]["conv1"][:, 0]
    return kernel_rows_figure(_before_after(b, a), "conv1: the 6 kernels")


def conv2_figure(history: History) -> Figure:
    """conv2's first kernel (6 input channels of 5x5): before, after, and the difference."""
    b, a = history.snapshots["before"]["conv2"][0], history.snapshots["after"]["conv2"][0]
    return kernel_rows_figure(_before_after(b, a), "conv2: the first kernel's 6 channels")


FIGURES = {
    "loss.png": loss_figure,
    "accuracy.png": accuracy_figure,
    "conv1_kernels.png": conv1_figure,
    "conv2_kernels.png": conv2_figure,
}


def save_figure(fig: Figure, path: Path) -> Path:
    """Save as PNG atomically and close the figure."""
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
    finally:
        plt.close(fig)
    return Path(path)


def save_all(history: History, out: Path) -> list[Path]:
    """Write the figures into ``out`` (the kernel ones when the history holds kernel
    snapshots before and after); returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    kernels = {"before", "after"} <= set(history.snapshots)
    return [
        save_figure(make(history), out / name)
        for name, make in FIGURES.items()
        if kernels or "kernels" not in name
    ]


# --- a class at a glance (grade-all's class report) --------------------------------------


def score_histogram_figure(totals: list[int], max_score: int) -> Figure:
    """How many students reached each total score."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    bins = list(range(0, max_score + 6, 5))
    ax.hist(totals, bins=bins, color="#4C72B0", edgecolor="white")
    ax.set_xlabel(f"total score (of {max_score})")
    ax.set_ylabel("students")
    ax.set_title(f"Total scores ({len(totals)} students graded)")
    ax.set_xlim(0, max_score + 5)
    fig.tight_layout()
    return fig


def exercise_scores_figure(scores: dict[str, list[int]], maxima: dict[str, int]) -> Figure:
    """One histogram per exercise: how many students earned each number of its points."""
    names = list(scores)
    fig, axes = plt.subplots(1, len(names), figsize=(2.6 * len(names) + 1, 2.8), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        top = maxima[name]
        step = max(1, round(top / 10))
        ax.hist(
            scores[name],
            bins=list(range(0, top + step + 1, step)),
            color="#4C72B0",
            edgecolor="white",
        )
        ax.set_title(f"{name} (of {top})", fontsize=9)
        ax.set_xlim(0, top + step)
        ax.set_xlabel("points", fontsize=8)
        ax.tick_params(labelsize=8)
    axes[0][0].set_ylabel("students")
    fig.tight_layout()
    return fig


def pass_rate_figure(rates: dict[str, float], width: int = 48) -> Figure:
    """The share of students passing each graded test, hardest at the top. Labels (the
    tests' titles) are wrapped at ``width`` characters and the figure is sized to hold them:
    none is cut off."""
    import textwrap

    names = sorted(rates, key=lambda n: rates[n])
    labels = [textwrap.fill(n, width, max_lines=3, placeholder=" ...") for n in names]
    lines = sum(label.count("\n") + 1 for label in labels)
    fig, ax = plt.subplots(figsize=(10, max(2.5, 0.16 * lines + 0.12 * len(names) + 1.2)))
    ax.barh(range(len(names)), [100 * rates[n] for n in names], color="#55A868")
    ax.set_yticks(range(len(names)), labels, fontsize=7)
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_xlim(0, 100)
    ax.set_xlabel("students passing (%)")
    ax.set_title("Pass rate of each test")
    fig.tight_layout()  # makes room on the left for the longest wrapped label
    return fig


def similarity_figure(scores: list[float], threshold: float) -> Figure:
    """How similar the class's pairs of files are (the larger share, each pair and
    exercise), on a log scale of counts, with the flagging threshold marked."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.hist(scores, bins=[i / 20 for i in range(21)], color="#8172B2", edgecolor="white")
    ax.axvline(threshold, color="#C44E52", linestyle="--", label=f"threshold {threshold:.2f}")
    if scores:
        ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_xlabel("similarity (share of one file's own code found in the other)")
    ax.set_ylabel("pairs of files")
    ax.set_title(f"Similarity of {len(scores)} pairs of files")
    ax.legend(loc="upper right")
    fig.tight_layout()
    return fig
