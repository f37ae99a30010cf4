"""A full grade of the solutions beside the 10-epoch training alone, in the same run: what a
grade costs over the training it cannot avoid. `python scripts/grade_budget.py [--data DIR]`."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from lenet_course import data
from lenet_course.config import TrainConfig
from lenet_course.engine import fit
from lenet_course.grading.judge.runner import grade
from lenet_course.kit import THRESHOLDS, kit_root
from lenet_course.model import LeNet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    root = data.prepare(args.data, download=False)
    start = time.perf_counter()
    report = grade(kit_root() / "solutions", data_root=root)
    graded = time.perf_counter() - start
    config = TrainConfig(epochs=THRESHOLDS["EPOCHS"], device="cpu")
    device = torch.device("cpu")
    start = time.perf_counter()
    train, test = data.make_loaders(Path(root), config, device)
    torch.manual_seed(config.seed)
    history = fit(LeNet(), train, test, config, device=device)
    alone = time.perf_counter() - start
    print(f"full grade of the solutions: {graded:.1f} s wall, {report.score}/{report.max_score}")
    print(
        f"the {config.epochs}-epoch training alone (engine.fit, data loading included): "
        f"{alone:.1f} s wall, {history.final_accuracy:.2f}%"
    )
    print(f"the grade over the training: {graded - alone:+.1f} s ({graded / alone:.2f}x)")


if __name__ == "__main__":
    main()
