"""``lenet-course``: the one entry point. Each subcommand is a thin wrapper over a library call.

The commands are grouped by their user, as the README groups them, one module each:
:mod:`.student` (train, check, data, make-notebooks), :mod:`.grader` (grade, grade-all,
similarity, export) and :mod:`.instructor` (validate, bench, release, make-exercises,
mutants). Each builds its own subparsers next to its commands; :mod:`.flags` holds the shared
flags.
"""

from __future__ import annotations

import argparse
import logging
import sys

from lenet_course import views
from lenet_course.cli import grader, instructor, student
from lenet_course.edition import COMMANDS, EDITION
from lenet_course.errors import UserError

log = logging.getLogger("lenet_course")
GROUPS = (student, grader, instructor)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lenet-course",
        description="Train LeNet on MNIST as in the lecture, and grade the exercises.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show library log messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    offered = COMMANDS.get(EDITION)  # None: the kit offers every command

    def command(name: str, **kw) -> argparse.ArgumentParser:
        if offered is not None and name not in offered:  # its code is not in this edition
            return argparse.ArgumentParser(add_help=False)
        return sub.add_parser(name, **kw)

    for group in GROUPS:
        group.register(command)
    return parser


def _grader_error():
    from lenet_course.grading.blame import GraderError

    return GraderError


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
    except _grader_error() as exc:
        print(f"lenet-course: the grader itself failed: {exc}", file=sys.stderr)
        return views.GRADER_FAILED
    except KeyboardInterrupt:
        print("lenet-course: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
