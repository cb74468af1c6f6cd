"""`scansion-py run`: lint every script, run them against one or more targets, report.

With several `--target`s the same scripts run against each (targets side by
side) and the result is a scripts x targets matrix. With GITHUB_ACTIONS=true, each
script that did not pass is also printed as a GitHub annotation. Exit codes, over every
cell: 0 all passed, 1 some script failed or errored, 2 usage or script syntax
error (nothing connects until every script parses), 3 a target unreachable,
130 interrupted. Schema-invalid stanzas (`--validate`) are reported, not failed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from harness.discovery import find_scripts
from harness.model import Script
from harness.parser import ScriptError, parse_file
from harness.reporting.console import ConsoleReport
from harness.reporting.github import error_annotations, on_github_actions
from harness.reporting.html import write_html
from harness.reporting.json_report import write_json
from harness.reporting.junit import write_junit
from harness.reporting.matrix import MatrixConsoleReport
from harness.results import MatrixResult, RunResult
from harness.runner import RunOptions, run_matrix, run_scripts
from harness.targets import (
    EMBEDDED_QUIET_PERIOD,
    REMOTE_QUIET_PERIOD,
    Target,
    TargetError,
    parse_target,
)

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
        action="append",
        dest="targets",
        metavar="TARGET",
        help="HOST:PORT, tls://HOST:PORT, 'reference' (a fresh embedded server per script), "
        f"or NAME=ADDRESS (default: {DEFAULT_TARGET}); repeat it to run every script against "
        "each target and get a scripts x targets matrix",
    )
    parser.add_argument(
        "--jobs",
        "-j",
        type=_positive_count,
        default=os.cpu_count() or 1,
        metavar="N",
        help="scripts run at once on targets that give each script its own server "
        "(reference); a remote server's scripts run one by one (default: CPU count)",
    )
    add_timeout_option(parser)
    parser.add_argument(
        "--quiet-period",
        type=positive_seconds,
        default=None,
        metavar="S",
        help="how long 'receives: nothing' listens once a ping round trip has shown that "
        f"everything sent so far was processed (default: {REMOTE_QUIET_PERIOD:g} on a "
        f"remote server, {EMBEDDED_QUIET_PERIOD:g} on the embedded reference server, which "
        "routes synchronously)",
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
    parser.add_argument(
        "--json",
        type=Path,
        metavar="FILE",
        help="write a JSON report to FILE; with several targets it is "
        '{"tool", "version", "targets": [{"name", "server"}], "runs": [one single-target '
        "report per target]}",
    )
    parser.add_argument(
        "--junit",
        type=Path,
        metavar="FILE",
        help="write JUnit XML to FILE (a suite per target; test cases named as "
        "pytest --junitxml names the same scripts)",
    )
    parser.add_argument(
        "--html",
        type=Path,
        metavar="FILE",
        help="write a self-contained HTML report to FILE: the failures, the matrix, per "
        "script and target a sequence diagram beside the script's source, where targets "
        "diverge, server versions",
    )
    parser.add_argument(
        "--validate",
        action="store_true",
        help="check every stanza the target sends against the XMPP schemas and report "
        "violations (they do not fail a script)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show every stanza sent and received"
    )
    add_color_option(parser)
    add_tls_options(parser)
    parser.set_defaults(func=run_command)


def add_color_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the output: on a terminal (auto, the default; NO_COLOR and FORCE_COLOR "
        "are honoured), always (e.g. for CI logs that render ANSI colours) or never; the "
        "progress bar is only ever drawn on a terminal",
    )


def make_console(color: str, *, stderr: bool = False) -> Console:
    """A console that colours as `--color` says."""
    if color == "always":
        return Console(stderr=stderr, highlight=False, force_terminal=True)
    if color == "never":
        return Console(stderr=stderr, highlight=False, color_system=None)
    return Console(stderr=stderr, highlight=False)


def add_timeout_option(parser: argparse.ArgumentParser) -> None:
    """`--timeout`, worded alike in every command that runs scripts."""
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=RunOptions.timeout,
        metavar="S",
        help=f"how long a 'receives' step waits (default: {RunOptions.timeout:g})",
    )


def add_tls_options(parser: argparse.ArgumentParser) -> None:
    """`--tls` and `--insecure`, worded alike in every command that connects to a server."""
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


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 < value < 86400:
        raise argparse.ArgumentTypeError(f"expected seconds between 0 and 86400, got {text!r}")
    return value


def _positive_count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def load_targets(
    texts: list[str] | None, err: Console, command: str = "run"
) -> list[Target] | None:
    """The `--target` values parsed, or None after printing why one is wrong or repeated."""
    try:
        targets = [parse_target(text) for text in texts or [DEFAULT_TARGET]]
        labels = [target.label for target in targets]
        for label in labels:
            if labels.count(label) > 1:
                raise TargetError(
                    f"target {label!r} is given twice; name them apart with NAME=ADDRESS"
                )
    except TargetError as exc:
        err.print(f"scansion-py {command}: {exc}", markup=False, soft_wrap=True)
        return None
    return targets


def run_command(args: argparse.Namespace) -> int:
    err = make_console(args.color, stderr=True)
    targets = load_targets(args.targets, err)
    if targets is None:
        return EXIT_USAGE
    scripts = load_scripts(args.paths or [DEFAULT_PATH], args.keyword, err)
    if scripts is None:
        return EXIT_USAGE
    options = RunOptions(
        timeout=args.timeout,
        quiet_period=args.quiet_period,
        tls=args.tls,
        insecure=args.insecure,
        record_traffic=args.verbose or args.html is not None,
        validate=args.validate,
        ask_version=len(targets) > 1 or args.html is not None,
    )
    started_at, started = datetime.now(UTC), time.monotonic()
    if len(targets) == 1:
        report = ConsoleReport(make_console(args.color), err, verbose=args.verbose)
        report.start(len(scripts))
        run = asyncio.run(
            run_scripts(
                scripts,
                targets[0],
                options,
                exitfirst=args.exitfirst,
                observer=report,
                jobs=args.jobs,
            )
        )
        report.finish(run)
        matrix = MatrixResult([run], started_at, time.monotonic() - started)
        written = _write_reports(run, matrix, args, err)
    else:
        matrix_report = MatrixConsoleReport(make_console(args.color), err, verbose=args.verbose)
        matrix = run_matrix_reported(
            matrix_report, scripts, targets, options, exitfirst=args.exitfirst, jobs=args.jobs
        )
        matrix_report.finish(matrix)
        written = _write_reports(matrix, matrix, args, err)
    if on_github_actions():
        for line in error_annotations(matrix):
            print(line, flush=True)
    if not written:
        return EXIT_USAGE
    return exit_code(matrix)


def run_matrix_reported(
    report: MatrixConsoleReport,
    scripts: list[Script],
    targets: list[Target],
    options: RunOptions,
    *,
    jobs: int,
    exitfirst: bool = False,
) -> MatrixResult:
    """Every script on every target, the report's progress bar counting the cells."""
    report.start(len(scripts) * len(targets))
    return asyncio.run(
        run_matrix(
            scripts,
            targets,
            options,
            exitfirst=exitfirst,
            jobs=jobs,
            observer_for=lambda target: report.observer(),
        )
    )


def exit_code(matrix: MatrixResult) -> int:
    """Over every cell: interrupted, then unreachable, then any failure, wins."""
    if matrix.interrupted:
        return EXIT_INTERRUPTED
    if any(run.unreachable is not None for run in matrix.runs):
        return EXIT_UNREACHABLE
    return EXIT_OK if matrix.ok else EXIT_FAILED


def load_scripts(
    paths: list[Path], keyword: str | None, err: Console, command: str = "run"
) -> list[Script] | None:
    """Every selected script parsed, or None after printing every problem found."""
    try:
        files = find_scripts(paths)
    except FileNotFoundError as exc:
        err.print(
            f"scansion-py {command}: no such file or directory: {exc.filename or exc}", markup=False
        )
        return None
    if not files:
        shown = ", ".join(str(path) for path in paths)
        err.print(f"scansion-py {command}: no .scs scripts in {shown}", markup=False)
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
            err.print(f"scansion-py {command}: no script matches -k {keyword!r}", markup=False)
            return None
    return scripts


def _write_reports(
    run: RunResult | MatrixResult, matrix: MatrixResult, args: argparse.Namespace, err: Console
) -> bool:
    """JSON and JUnit keep their single-target shape for one target; HTML is always a matrix."""
    written = True
    writers: list[tuple[Path | None, Callable[[], None]]] = [
        (args.json, lambda: write_json(run, args.json)),
        (args.junit, lambda: write_junit(run, args.junit)),
        (args.html, lambda: write_html(matrix, args.html)),
    ]
    for path, write in writers:
        if path is None:
            continue
        try:
            write()
        except OSError as exc:
            err.print(f"scansion-py run: cannot write {path}: {exc.strerror or exc}", markup=False)
            written = False
    return written
