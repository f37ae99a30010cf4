"""The student's commands: replay the lecture, check the exercises, get MNIST, write the
notebooks."""

from __future__ import annotations

import argparse
from pathlib import Path

from lenet_course import views
from lenet_course.cli import flags
from lenet_course.config import COMPILE_MODES, LOADERS, TrainConfig


def cmd_train(args: argparse.Namespace) -> int:
    from lenet_course.pipeline import run_lecture

    console = views.console()
    console.print(
        f"[bold]lenet-course train[/]: data from {args.data or 'default'}, out {args.out}"
    )
    result = run_lecture(
        config=flags.config_from(args),
        data=args.data,
        out=Path(args.out),
        impl=args.impl,
        download=not args.no_download,
        callbacks=[views.ConsoleReport(console)],
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


def cmd_check(args: argparse.Namespace) -> int:
    console = views.console()
    tier = "full (with the 10-epoch training)" if args.full else "fast (no 10-epoch training)"
    console.print(f"Checking {args.target}: {tier} tier. Use --full for everything.")
    report = views.grade_with_progress(
        console,
        _target_folder(args.target),
        flags.limits_from(args),
        full=args.full,
        data=flags.grading_data(args, args.full),
        hidden=False,
    )
    views.print_report(console, report)
    return views.check_exit(console, report)


def _target_folder(spec: str) -> Path:
    from lenet_course.kit import resolve

    return resolve(spec)


def cmd_data(args: argparse.Namespace) -> int:
    from lenet_course import data

    root = data.prepare(args.data, download=not args.no_download)
    print(f"MNIST ready and verified: {data.raw_folder(root)}")
    return 0


def cmd_make_notebooks(args: argparse.Namespace) -> int:
    from lenet_course.authoring import make_notebooks
    from lenet_course.kit import kit_root

    out = Path(args.out) if args.out else kit_root() / "notebooks"
    for path in make_notebooks(kit_root() / "notebooks", out, repo_url=args.repo_url):
        print(f"wrote {path}")
    return 0


def register(command) -> None:
    """Add this group's commands; ``command(name, **kw)`` makes each subparser."""
    p = command("train", help="replay the lecture: train, report each epoch, plot")
    flags.add_training_flags(p)
    p.add_argument("--out", default="runs/lecture", help="folder for history.json and the plots")
    p.add_argument(
        "--loader",
        choices=LOADERS,
        default=TrainConfig().loader,
        help="tensor: data held on the device (fast, default); torchvision: the lecture's DataLoader",
    )
    p.add_argument(
        "--cuda-graph", action="store_true", help="capture the train step in a CUDA graph"
    )
    p.add_argument(
        "--graph-steps",
        type=int,
        default=None,
        metavar="K",
        help="with --cuda-graph: train steps per graph replay, 1 to 600 and dividing the "
        "epoch's steps (default: config.CUDA_GRAPH_LEVERS)",
    )
    p.add_argument(
        "--compile",
        choices=COMPILE_MODES,
        default=None,
        help="torch.compile of the step's forward and loss (default: off, or "
        "config.CUDA_GRAPH_LEVERS with --cuda-graph)",
    )
    p.add_argument(
        "--impl",
        default=None,
        help="train with an implementation's model, loop and plots: exercises, solutions or a folder",
    )
    p.set_defaults(func=cmd_train)

    p = command("check", help="grade your exercises locally, with hints")
    p.add_argument(
        "--target", default="exercises", help="exercises (default), solutions or a folder"
    )
    p.add_argument("--full", action="store_true", help="also run the 10-epoch MNIST training test")
    flags.add_data_flags(p)
    flags.add_limit_flags(p)
    p.set_defaults(func=cmd_check)

    p = command("data", help="download MNIST if absent and verify the four files")
    flags.add_data_flags(p)
    p.set_defaults(func=cmd_data)

    p = command("make-notebooks", help="write the notebooks (.ipynb) from notebooks/*.py")
    p.add_argument("--out", default=None, help="folder to write (default: the kit's notebooks/)")
    p.add_argument("--repo-url", default=None, help="the repository Colab clones (first cell)")
    p.set_defaults(func=cmd_make_notebooks)
