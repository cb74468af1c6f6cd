"""`scansion-py run`: lint every script, run them against a target, report.

Exit codes: 0 all passed, 1 some script failed or errored, 2 usage or script
syntax error (nothing connects until every script parses), 3 target
unreachable, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from rich.console import Console

from harness.discovery import find_scripts
from harness.model import Script
from harness.parser import ScriptError, parse_file
from harness.reporting.console import ConsoleReport
from harness.reporting.json_report import write_json
from harness.reporting.junit import write_junit
from harness.results import RunResult
from harness.runner import RunOptions, run_scripts
from harness.targets import TargetError, parse_target

DEFAULT_TARGET = "reference"
DEFAULT_PATH = Path("specs")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run scripts against an XMPP server",
        description="Run .scs scripts against a target and report, step by step, what held.",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help=f"script files or directories searched for *.scs (default: {DEFAULT_PATH}/)",
    )
    parser.add_argument(
        "--target",
        "-t",
        default=DEFAULT_TARGET,
        help="HOST:PORT, tls://HOST:PORT, 'reference' (a fresh embedded server per script), "
        f"or NAME=ADDRESS (default: {DEFAULT_TARGET})",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=RunOptions.timeout,
        metavar="S",
        help=f"how long a 'receives' step waits (default: {RunOptions.timeout:g})",
    )
    parser.add_argument(
        "--quiet-period",
        type=_positive_seconds,
        default=RunOptions.quiet_period,
        metavar="S",
        help=f"how long 'receives: nothing' listens (default: {RunOptions.quiet_period:g})",
    )
    parser.add_argument(
        "-k",
        dest="keyword",
        metavar="SUBSTRING",
        help="only scripts whose path or title contains SUBSTRING (case-insensitive)",
    )
    parser.add_argument(
        "-x", "--exitfirst", action="store_true", help="stop after the first failing script"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write a JSON report to FILE")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML to FILE")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show every stanza sent and received"
    )
    parser.add_argument(
        "--tls",
        choices=("require", "auto", "off"),
        default=RunOptions.tls,
        help="STARTTLS: require it, use it when offered (default), or never",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="accept any TLS certificate (self-signed test servers)",
    )
    parser.set_defaults(func=run_command)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 < value < 86400:
        raise argparse.ArgumentTypeError(f"expected seconds between 0 and 86400, got {text!r}")
    return value


def run_command(args: argparse.Namespace) -> int:
    err = Console(stderr=True, highlight=False)
    try:
        target = parse_target(args.target)
    except TargetError as exc:
        err.print(f"scansion-py run: {exc}", markup=False)
        return EXIT_USAGE
    scripts = _load_scripts(args.paths or [DEFAULT_PATH], args.keyword, err)
    if scripts is None:
        return EXIT_USAGE
    options = RunOptions(
        timeout=args.timeout,
        quiet_period=args.quiet_period,
        tls=args.tls,
        insecure=args.insecure,
        record_traffic=args.verbose,
    )
    report = ConsoleReport(Console(highlight=False), err, verbose=args.verbose)
    report.start(len(scripts))
    run = asyncio.run(
        run_scripts(scripts, target, options, exitfirst=args.exitfirst, observer=report)
    )
    report.finish(run)
    if not _write_reports(run, args, err):
        return EXIT_USAGE
    if run.interrupted:
        return EXIT_INTERRUPTED
    if run.unreachable is not None:
        return EXIT_UNREACHABLE
    return EXIT_OK if run.ok else EXIT_FAILED


def _load_scripts(paths: list[Path], keyword: str | None, err: Console) -> list[Script] | None:
    """Every selected script parsed, or None after printing every problem found."""
    try:
        files = find_scripts(paths)
    except FileNotFoundError as exc:
        err.print(
            f"scansion-py run: no such file or directory: {exc.filename or exc}", markup=False
        )
        return None
    if not files:
        shown = ", ".join(str(path) for path in paths)
        err.print(f"scansion-py run: no .scs scripts in {shown}", markup=False)
        return None
    scripts: list[Script] = []
    errors: list[str] = []
    for file in files:
        try:
            scripts.append(parse_file(file))
        except ScriptError as exc:
            errors.append(str(exc))
        except OSError as exc:
            errors.append(f"{file}: cannot read: {exc.strerror or exc}")
    if errors:
        for error in errors:
            err.print(error, markup=False, soft_wrap=True)
        noun = "script has" if len(errors) == 1 else "scripts have"
        err.print(f"{len(errors)} {noun} errors; nothing was run", markup=False)
        return None
    if keyword is not None:
        wanted = keyword.casefold()
        scripts = [
            script
            for script in scripts
            if wanted in str(script.path).casefold() or wanted in script.title.casefold()
        ]
        if not scripts:
            err.print(f"scansion-py run: no script matches -k {keyword!r}", markup=False)
            return None
    return scripts


def _write_reports(run: RunResult, args: argparse.Namespace, err: Console) -> bool:
    written = True
    for path, write in ((args.json, write_json), (args.junit, write_junit)):
        if path is None:
            continue
        try:
            write(run, path)
        except OSError as exc:
            err.print(f"scansion-py run: cannot write {path}: {exc.strerror or exc}", markup=False)
            written = False
    return written
