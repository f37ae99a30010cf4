"""``lenet-course``: the one entry point. Each subcommand is a thin wrapper over a library call."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from lenet_course.errors import UserError

log = logging.getLogger("lenet_course")


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _lecture_line(record, epochs: int) -> str:
    minutes, secs = divmod(round(record.seconds), 60)
    return (
        f"Iteration: {record.epoch}/{epochs} ; Training Loss: {record.train_loss:.4f} ; "
        f"Testing Acc: {record.test_accuracy:.2f} ; Time consumed: {minutes}m {secs}s"
    )


class ConsoleReport:
    """Engine callback: a progress bar inside each epoch and the lecture's line after it."""

    def __init__(self, console, out: Path | None = None, history=None) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self.console = console
        self.out = out
        self.history = history
        self.progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self.task = None

    def on_epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        self.progress.start()
        self.task = self.progress.add_task(f"epoch {epoch}/{epochs}", total=steps)

    def on_batch_end(self, epoch: int, step: int) -> None:
        if step % 10 == 0:
            self.progress.update(self.task, completed=step)

    def on_epoch_end(self, record, epochs: int) -> None:
        self.progress.remove_task(self.task)
        self.progress.stop()
        self.console.print(_lecture_line(record, epochs))


def cmd_train(args: argparse.Namespace) -> int:
    from lenet_course.pipeline import run_lecture

    console = _console()
    console.print(
        f"[bold]lenet-course train[/]: data from {args.data or 'default'}, out {args.out}"
    )
    result = run_lecture(
        config=_config_from(args),
        data=args.data,
        out=Path(args.out),
        impl=args.impl,
        download=not args.no_download,
        callbacks=[ConsoleReport(console)],
    )
    h = result.history
    for note in h.notes:
        console.print(f"[yellow]note:[/] {note}")
    console.print(
        f"\nDone: {len(h.records)} epochs on {h.device}, final test accuracy "
        f"{h.final_accuracy:.2f}%, training time {h.total_seconds:.1f} s "
        f"({h.total_seconds / max(len(h.records), 1):.2f} s per epoch)."
    )
    console.print("Wrote: " + ", ".join(str(p) for p in result.files))
    return 0


def _config_from(args: argparse.Namespace):
    from lenet_course.engine import TrainConfig

    return TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        device=args.device,
        loader=getattr(args, "loader", "tensor"),
        cuda_graph=getattr(args, "cuda_graph", False),
    )


def cmd_bench(args: argparse.Namespace) -> int:
    from lenet_course import data
    from lenet_course.bench import compare_loaders

    args.epochs = 1
    config = _config_from(args)
    root = data.prepare(args.data, download=not args.no_download)
    result = compare_loaders(root, config, warmup_batches=args.warmup)
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
        return 0
    console = _console()
    console.print(
        f"One training epoch on {result.device} (batch {config.batch_size}, warm-up excluded):"
    )
    console.print(f"  torchvision DataLoader (lecture): {result.torchvision_seconds:6.2f} s")
    console.print(f"  tensor loader (fast path):        {result.tensor_seconds:6.2f} s")
    console.print(f"  ratio fast / lecture:             {result.ratio:6.2f}")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from lenet_course import data

    root = data.prepare(args.data, download=not args.no_download)
    print(f"MNIST ready and verified: {data.raw_folder(root)}")
    return 0


def _add_data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        default=None,
        help="folder holding MNIST/raw/*-ubyte (default: $LENET_DATA, else ~/.cache/lenet-course/data)",
    )
    p.add_argument(
        "--no-download", action="store_true", help="never download MNIST; fail if it is absent"
    )


def _add_training_flags(p: argparse.ArgumentParser, *, epochs: int = 10) -> None:
    p.add_argument("--epochs", type=int, default=epochs, help="passes over the training set")
    p.add_argument("--batch-size", type=int, default=100, help="samples per step (default 100)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--seed", type=int, default=0, help="seed for weights and shuffling")
    p.add_argument("--device", default="auto", help="auto (cuda if present), cpu, cuda, cuda:N")
    _add_data_flags(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lenet-course",
        description="Train LeNet on MNIST as in the lecture, and grade the exercises.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show library log messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="replay the lecture: train, report each epoch, plot")
    _add_training_flags(p)
    p.add_argument("--out", default="runs/lecture", help="folder for history.json and the plots")
    p.add_argument(
        "--loader",
        choices=["tensor", "torchvision"],
        default="tensor",
        help="tensor: data held on the device (fast, default); torchvision: the lecture's DataLoader",
    )
    p.add_argument(
        "--cuda-graph", action="store_true", help="capture the train step in a CUDA graph"
    )
    p.add_argument(
        "--impl",
        default=None,
        help="train with an implementation's model, loop and plots: exercises, solutions or a folder",
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("bench", help="time one epoch: torchvision DataLoader vs the tensor loader")
    _add_training_flags(p, epochs=1)
    p.add_argument("--warmup", type=int, default=20, help="batches run before the clock starts")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("data", help="download MNIST if absent and verify the four files")
    _add_data_flags(p)
    p.set_defaults(func=cmd_data)

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except UserError as exc:
        print(f"lenet-course: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("lenet-course: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
