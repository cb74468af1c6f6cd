"""The `scansion-py` command line: one subcommand per module.

Each command module exposes `register(subparsers)`, which adds its parser and
sets `func=handler(args) -> int` (the exit code). The harness's own commands
are listed in COMMANDS with the one line `--help` shows for them; other
packages add theirs under the `scansion_py.commands` entry-point group (the
reference server's `serve`).

Only the module of the command being run is imported: `scansion-py --help`
lists the harness's commands from COMMANDS alone, and `scansion-py lint` does
not pay for the runner, the client or the reports.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from harness import __version__

COMMANDS: dict[str, tuple[str, str]] = {  # name: (module, summary)
    "run": ("harness.run_command", "run scripts against an XMPP server"),
    "verify": ("harness.verify_command", "run the bundled suites against a server"),
    "lint": ("harness.lint", "check scripts without running them"),
    "record": ("harness.record_command", "record real clients' sessions as a script"),
    "diff": ("harness.diff_command", "show where two servers diverge on the same scripts"),
    "report": (
        "harness.report_command",
        "regenerate the conformance reports (reference, Prosody 0.12.3 and 13.0.1, ejabberd)",
    ),
}
COMMAND_ENTRY_POINTS = "scansion_py.commands"

EXIT_USAGE = 2


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser for `argv`: every command is listed, only the one named there is loaded."""
    from importlib.metadata import entry_points

    parser = argparse.ArgumentParser(
        prog="scansion-py",
        description="Run XMPP scenario scripts (.scs) against a server "
        "and report, step by step, what held.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    wanted = _command_name(sys.argv[1:] if argv is None else argv)
    for name, (module, summary) in COMMANDS.items():
        if name == wanted:
            importlib.import_module(module).register(subparsers)
        else:
            subparsers.add_parser(name, help=summary, add_help=False)
    for entry in sorted(entry_points(group=COMMAND_ENTRY_POINTS), key=lambda e: e.name):
        entry.load().register(subparsers)
    return parser


def _command_name(argv: list[str]) -> str | None:
    """The first word that is not an option: the top-level parser has only flags."""
    return next((word for word in argv if not word.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code (2 for usage errors, 0 for --help/--version)."""
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    if not hasattr(args, "func"):
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: a command is required (see --help)", file=sys.stderr)
        return EXIT_USAGE
    return args.func(args)
