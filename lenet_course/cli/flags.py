"""The flags several commands share (recipe, data, limits) and the objects built from them;
each default is read from the library's own dataclasses."""

from __future__ import annotations

import argparse
import dataclasses

from lenet_course.config import TrainConfig, with_cuda_graph
from lenet_course.errors import UserError


def config_from(args: argparse.Namespace):
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        device=args.device,
        loader=getattr(args, "loader", "tensor"),
    )
    # --cuda-graph brings the levers measured fastest with it (config.CUDA_GRAPH_LEVERS);
    # --graph-steps and --compile, where given, override them
    if getattr(args, "cuda_graph", False):
        config = with_cuda_graph(config)
    chosen = {
        "graph_steps": getattr(args, "graph_steps", None),
        "compile": getattr(args, "compile", None),
    }
    chosen = {k: v for k, v in chosen.items() if v is not None}
    if "graph_steps" in chosen and not config.cuda_graph:
        raise UserError(
            "--graph-steps sets the steps per CUDA-graph replay. Fix: add --cuda-graph."
        )
    return dataclasses.replace(config, **chosen) if chosen else config


def limits_from(args: argparse.Namespace):
    from lenet_course.grading.jail.limits import Limits

    return Limits(
        test_seconds=args.test_timeout,
        train_seconds=args.train_timeout,
        submission_seconds=args.total_timeout,
        memory_mb=args.memory_mb,
        jobs=getattr(args, "jobs", 2),
    )


def grading_data(args: argparse.Namespace, full: bool) -> str | None:
    """MNIST for a full grade, found or downloaded here (--no-download forbids it); the fast
    tier reads no MNIST."""
    if not full:
        return args.data
    from lenet_course import data

    return str(data.prepare(args.data, download=not args.no_download))


def add_limit_flags(p: argparse.ArgumentParser) -> None:
    from lenet_course.grading.jail.limits import Limits

    d = Limits()
    p.add_argument(
        "--test-timeout",
        type=float,
        default=d.test_seconds,
        help=f"seconds per test (default {d.test_seconds:.0f})",
    )
    p.add_argument(
        "--train-timeout",
        type=float,
        default=d.train_seconds,
        help=f"seconds for the 10-epoch test (default {d.train_seconds:.0f})",
    )
    p.add_argument(
        "--total-timeout",
        type=float,
        default=d.submission_seconds,
        help=f"seconds per submission (default {d.submission_seconds:.0f})",
    )
    p.add_argument(
        "--memory-mb",
        type=int,
        default=d.memory_mb,
        help=f"memory cap per test process, 0 for none (default {d.memory_mb})",
    )


def add_data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        default=None,
        help="folder holding MNIST/raw/*-ubyte (default: $LENET_DATA, else ~/.cache/lenet-course/data)",
    )
    p.add_argument(
        "--no-download", action="store_true", help="never download MNIST; fail if it is absent"
    )


def add_recipe_flags(p: argparse.ArgumentParser, *, epochs: bool = True) -> None:
    """The lecture's recipe, each default taken from :class:`TrainConfig`; ``epochs=False``
    for commands that time single epochs (no --epochs for them to ignore)."""
    d = TrainConfig()
    if epochs:
        p.add_argument(
            "--epochs",
            type=int,
            default=d.epochs,
            help=f"passes over the training set (default {d.epochs})",
        )
    else:
        p.set_defaults(epochs=1)
    p.add_argument(
        "--batch-size",
        type=int,
        default=d.batch_size,
        help=f"samples per step (default {d.batch_size})",
    )
    p.add_argument("--lr", type=float, default=d.lr, help=f"Adam learning rate (default {d.lr:g})")
    p.add_argument(
        "--seed",
        type=int,
        default=d.seed,
        help=f"seed for weights and shuffling (default {d.seed})",
    )


def add_training_flags(p: argparse.ArgumentParser, *, epochs: bool = True) -> None:
    """Recipe, device and data flags."""
    add_recipe_flags(p, epochs=epochs)
    p.add_argument(
        "--device", default=TrainConfig().device, help="auto (cuda if present), cpu, cuda, cuda:N"
    )
    add_data_flags(p)
