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
import importlib
import os
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

from harness.catalog import requirement_errors
from harness.discovery import bundled_suites, find_scripts
from harness.model import Script
from harness.parser import ScriptError, parse_file
from harness.profile import (
    LOCALHOST,
    AccountMode,
    Profile,
    ProfileError,
    load_profile,
    with_overrides,
)
from harness.reporting.console import ConsoleReport
from harness.reporting.github import error_annotations, on_github_actions
from harness.reporting.requirements import console_lines as requirement_lines
from harness.reporting.requirements import html_section as requirements_html
from harness.reporting.requirements import to_json as requirements_json
from harness.results import MatrixResult, RunResult
from harness.runner import RunOptions, run_matrix, run_scripts
from harness.targets import (
    EMBEDDED_QUIET_PERIOD,
    REMOTE_QUIET_PERIOD,
    Target,
    TargetError,
    parse_target,
)
from harness.verdicts import RequirementVerdicts, failing, run_verdicts

if TYPE_CHECKING:
    from harness.reporting.matrix import MatrixConsoleReport

DEFAULT_TARGET = "reference"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        description="Run .scs scripts against a target and report, step by step, what held.",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="script files or directories searched for *.scs (default: the suites "
        "bundled with scansion-py, specs/ in a checkout)",
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
    add_run_options(parser)
    parser.set_defaults(func=run_command)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Everything `run` takes besides paths and targets (`verify` takes them too)."""
    parser.add_argument(
        "--jobs",
        "-j",
        type=_positive_count,
        default=os.cpu_count() or 1,
        metavar="N",
        help="scripts run at once (default: CPU count); on a shared server only scripts "
        "whose actors all log in as ${unique:NAME} run side by side, any other script "
        "runs alone",
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
    add_profile_options(parser)
    parser.add_argument(
        "--catalog",
        type=Path,
        metavar="FILE",
        help="the requirement catalog @checks ids refer to (default: the nearest "
        "requirements.toml beside or above each script); scripts that check requirements "
        "give per-requirement verdicts: MUST failures fail the run, SHOULD misses are warnings",
    )


def add_profile_options(parser: argparse.ArgumentParser) -> None:
    """The target profile: a TOML file and flags for its common fields (flags win)."""
    group = parser.add_argument_group(
        "target profile", "what the server is called and how actors log in (harness.profile)"
    )
    group.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="a TOML profile: address, tls, domain, muc, [accounts], [facts]",
    )
    group.add_argument(
        "--domain", metavar="DOMAIN", help="the XMPP domain, ${domain} (default: localhost)"
    )
    group.add_argument(
        "--muc",
        metavar="JID",
        help="the MUC service, ${muc} (default: conference.DOMAIN)",
    )
    group.add_argument(
        "--accounts",
        choices=[mode.value for mode in AccountMode],
        help="'any': log in as the script says (servers that accept any password, the "
        "default); 'register': create that account first (XEP-0077 in-band registration); "
        "'given': the profile's [accounts.actors.NAME]",
    )
    group.add_argument(
        "--fact",
        action="append",
        dest="facts",
        metavar="NAME[=VALUE]",
        help="a fact about the server for '@needs fact NAME' (repeatable)",
    )


def profile_from_args(
    args: argparse.Namespace, err: Console, command: str = "run"
) -> Profile | None:
    """The profile the flags describe, or None after printing why it cannot be used."""
    try:
        profile = load_profile(args.profile) if args.profile else LOCALHOST
        facts = None
        if args.facts:
            facts = {}
            for text in args.facts:
                name, sep, value = text.partition("=")
                facts[name] = value if sep else True
        accounts = AccountMode(args.accounts) if args.accounts else None
        return with_overrides(
            profile,
            domain=args.domain,
            muc=args.muc,
            accounts=accounts,
            facts=facts,
            tls=args.tls,
            insecure=args.insecure or None,
        )
    except ProfileError as exc:
        err.print(f"scansion-py {command}: {exc}", markup=False, soft_wrap=True)
        return None


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
        default=None,
        help=f"STARTTLS: require it, use it when offered (default: {RunOptions.tls}), or never",
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
    texts: list[str] | None, err: Console, command: str = "run", profile: Profile = LOCALHOST
) -> list[Target] | None:
    """The `--target` values parsed, or None after printing why one is wrong or repeated.

    Without `--target`, the profile's address (or the reference server); every
    target gets the profile."""
    default = profile.address or DEFAULT_TARGET
    if profile.name and not texts:
        default = f"{profile.name}={default}"
    try:
        targets = [replace(parse_target(text), profile=profile) for text in texts or [default]]
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
    profile = profile_from_args(args, err)
    if profile is None:
        return EXIT_USAGE
    targets = load_targets(args.targets, err, profile=profile)
    if targets is None:
        return EXIT_USAGE
    paths = args.paths or [bundled_suites()]
    scripts = load_scripts(paths, args.keyword, err, catalog=args.catalog)
    if scripts is None:
        return EXIT_USAGE
    options = RunOptions(
        timeout=args.timeout,
        quiet_period=args.quiet_period,
        tls=profile.tls or RunOptions.tls,
        insecure=bool(profile.insecure),
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
        rows = _requirements(scripts, matrix, args.catalog)
        written = _write_reports(run, matrix, args, err, rows)
    else:
        from harness.reporting.matrix import MatrixConsoleReport

        matrix_report = MatrixConsoleReport(make_console(args.color), err, verbose=args.verbose)
        matrix = run_matrix_reported(
            matrix_report, scripts, targets, options, exitfirst=args.exitfirst, jobs=args.jobs
        )
        matrix_report.finish(matrix)
        rows = _requirements(scripts, matrix, args.catalog)
        written = _write_reports(matrix, matrix, args, err, rows)
    if on_github_actions():
        for line in error_annotations(matrix):
            print(line, flush=True)
    if not written:
        return EXIT_USAGE
    return exit_code(matrix, scripts, rows)


def _requirements(
    scripts: list[Script], matrix: MatrixResult, catalog: Path | None
) -> list[RequirementVerdicts]:
    """Per-requirement verdicts, printed per target ([] when no script checks any)."""
    rows = run_verdicts(scripts, matrix, catalog)
    if rows:
        out = Console(highlight=False)
        for target in matrix.targets:
            for text, style in requirement_lines(rows, target):
                out.print(Text(text, style=style), soft_wrap=True)
    return rows


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


def exit_code(
    matrix: MatrixResult,
    scripts: list[Script] | None = None,
    rows: list[RequirementVerdicts] | None = None,
) -> int:
    """Over every cell: interrupted, then unreachable, then any failure, wins.

    With requirement verdicts, a failure that only misses SHOULD- or MAY-level
    requirements is a warning, not a failure."""
    if matrix.interrupted:
        return EXIT_INTERRUPTED
    if any(run.unreachable is not None for run in matrix.runs):
        return EXIT_UNREACHABLE
    if rows and scripts is not None:
        return EXIT_FAILED if failing(scripts, matrix, rows) else EXIT_OK
    return EXIT_OK if matrix.ok else EXIT_FAILED


def load_scripts(
    paths: list[Path],
    keyword: str | None,
    err: Console,
    command: str = "run",
    catalog: Path | None = None,
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
            script = parse_file(file)
        except ScriptError as exc:
            errors.append(str(exc))
            continue
        except OSError as exc:
            errors.append(f"{file}: cannot read: {exc.strerror or exc}")
            continue
        problems = requirement_errors(script, catalog)
        errors += [str(problem) for problem in problems]
        if not problems:
            scripts.append(script)
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
    run: RunResult | MatrixResult,
    matrix: MatrixResult,
    args: argparse.Namespace,
    err: Console,
    rows: list[RequirementVerdicts],
) -> bool:
    """JSON and JUnit keep their single-target shape for one target; HTML is always a matrix.

    With requirement verdicts, JSON gains `requirements` and HTML a requirement table.
    Each writer's module is imported only when its report is asked for."""
    written = True
    extra = requirements_json(rows, matrix.targets) if rows else None
    sections = [requirements_html(rows, matrix)] if rows else []
    writers: list[tuple[Path | None, Callable[[], None]]] = [
        (args.json, lambda: _writer("json_report", "write_json")(run, args.json, extra)),
        (args.junit, lambda: _writer("junit", "write_junit")(run, args.junit)),
        (args.html, lambda: _writer("html", "write_html")(matrix, args.html, sections)),
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


def _writer(module: str, name: str) -> Callable[..., None]:
    return getattr(importlib.import_module(f"harness.reporting.{module}"), name)
