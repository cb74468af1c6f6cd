"""The `scansion-py` command line: one subcommand per module.

Each command module exposes `register(subparsers)`, which adds its parser and
sets `func=handler(args) -> int` (the exit code). The harness's own commands
are listed in COMMANDS; other packages add theirs under the
`scansion_py.commands` entry-point group (the reference server's `serve`).
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points
from types import ModuleType

from harness import (
    __version__,
    diff_command,
    lint,
    record_command,
    report_command,
    run_command,
    verify_command,
)

COMMANDS: tuple[ModuleType, ...] = (
    run_command,
    verify_command,
    lint,
    record_command,
    diff_command,
    report_command,
)
COMMAND_ENTRY_POINTS = "scansion_py.commands"

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scansion-py",
        description="Run XMPP scenario scripts (.scs) against a server "
        "and report, step by step, what held.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    for entry in sorted(entry_points(group=COMMAND_ENTRY_POINTS), key=lambda e: e.name):
        entry.load().register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code (2 for usage errors, 0 for --help/--version)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    if not hasattr(args, "func"):
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: a command is required (see --help)", file=sys.stderr)
        return EXIT_USAGE
    return args.func(args)
