"""`scansion-py lint`: check scripts without running them.

Every problem is printed to stdout as `path:line:col: message` with the line and
a caret, then a one-line summary. Exit codes: 0 clean, 1 problems found,
2 usage error (a path that does not exist, no script to check).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.discovery import find_scripts
from harness.parser import check_file

EXIT_CLEAN = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lint",
        help="check scripts without running them",
        description="Check .scs scripts: syntax, declared actors, variables, well-formed XML.",
    )
    parser.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="script files, or directories searched recursively for *.scs",
    )
    parser.set_defaults(func=lint_command)


def lint_command(args: argparse.Namespace) -> int:
    try:
        files = find_scripts(args.paths)
    except FileNotFoundError as exc:
        print(f"scansion-py lint: no such file or directory: {exc.filename}", file=sys.stderr)
        return EXIT_USAGE
    if not files:
        shown = ", ".join(str(path) for path in args.paths)
        print(f"scansion-py lint: no .scs scripts in {shown}", file=sys.stderr)
        return EXIT_USAGE
    problems = 0
    for file in files:
        for error in check_file(file):
            print(f"{error}\n")
            problems += 1
    print(f"{_count(len(files), 'script')}, {_count(problems, 'error')}")
    return EXIT_PROBLEMS if problems else EXIT_CLEAN


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
