"""`scansion-py report`: regenerate the conformance report of the reference server,
Prosody 0.12.3, Prosody 13.0.1 and ejabberd from a fresh clone.

Starts real Prosody 0.12.3, Prosody 13.0.1 and ejabberd servers on free
loopback ports with the start scripts kept in `reports/targets/` (each installs
its Debian packages when missing; Prosody 13.0.1 builds from its release
source), runs the specs against them and the embedded reference server with
schema checks, writes `index.html` (the full report, with the requirement
table) and `SUMMARY.md` (the requirement verdicts, then the matrix, in
Markdown), then stops the servers, also on errors and Ctrl-C.

Exit codes: 0 the report was written (failing cells are findings, not errors),
2 usage or script error, 3 a server did not start (the report is still written,
that target marked unavailable), 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from harness.discovery import bundled_suites
from harness.reporting.html import write_html
from harness.reporting.markdown import to_markdown
from harness.reporting.matrix import MatrixConsoleReport
from harness.reporting.requirements import html_section as requirements_html
from harness.results import MatrixResult, RunResult
from harness.run_command import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    add_timeout_option,
    load_scripts,
    run_matrix_reported,
)
from harness.runner import RunOptions
from harness.targets import Target, parse_target
from harness.verdicts import run_verdicts

DEFAULT_OUTPUT = Path("reports")
START_TIMEOUT_S = 900  # a first start may install the Debian package
STOP_TIMEOUT_S = 120


@dataclass(frozen=True)
class RealServer:
    """A server started by a script that takes `start PORT` / `stop PORT`."""

    name: str
    script: Path


def real_servers(targets_dir: Path) -> list[RealServer]:
    return [
        RealServer("prosody", targets_dir / "prosody" / "prosody-oracle"),
        RealServer("prosody13", targets_dir / "prosody13" / "prosody13-target"),
        RealServer("ejabberd", targets_dir / "ejabberd" / "ejabberd-target"),
    ]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        description="Start real Prosody 0.12.3, Prosody 13.0.1 and ejabberd servers, run the "
        "specs against them and the reference server with schema checks, write index.html "
        "and SUMMARY.md (requirement verdicts first).",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="script files or directories (default: the bundled suites, specs/ in a checkout)",
    )
    parser.add_argument(
        "--output",
        "-o",
        type=Path,
        default=DEFAULT_OUTPUT,
        metavar="DIR",
        help=f"where index.html and SUMMARY.md go (default: {DEFAULT_OUTPUT}/)",
    )
    parser.add_argument(
        "--targets-dir",
        type=Path,
        default=DEFAULT_OUTPUT / "targets",
        metavar="DIR",
        help="holds prosody/prosody-oracle, prosody13/prosody13-target and "
        "ejabberd/ejabberd-target "
        f"(default: {DEFAULT_OUTPUT}/targets/)",
    )
    add_timeout_option(parser)
    parser.set_defaults(func=report_command)


def report_command(args: argparse.Namespace) -> int:
    err = Console(stderr=True, highlight=False)
    scripts = load_scripts(args.paths or [bundled_suites()], None, err, command="report")
    if scripts is None:
        return EXIT_USAGE
    servers = real_servers(args.targets_dir)
    missing = [str(server.script) for server in servers if not server.script.is_file()]
    if missing:
        err.print(f"scansion-py report: missing start script(s): {', '.join(missing)}")
        return EXIT_USAGE
    try:
        args.output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        err.print(f"scansion-py report: cannot create {args.output}: {exc.strerror or exc}")
        return EXIT_USAGE
    options = RunOptions(
        timeout=args.timeout,
        insecure=True,  # loopback test servers with self-signed certificates
        record_traffic=True,
        validate=True,
        ask_version=True,
    )
    started_at, started = datetime.now(UTC), time.monotonic()
    targets: list[Target] = [parse_target("reference")]
    unavailable: dict[str, str] = {}
    try:
        with ExitStack() as running:
            for server, outcome in zip(servers, _start_all(servers, err), strict=True):
                if isinstance(outcome, int):
                    running.enter_context(_stopping(server, outcome))
                    targets.append(parse_target(f"{server.name}=127.0.0.1:{outcome}"))
                else:
                    unavailable[server.name] = outcome
            report = MatrixConsoleReport(Console(highlight=False), err)
            matrix = run_matrix_reported(
                report, scripts, targets, options, jobs=os.cpu_count() or 1
            )
    except KeyboardInterrupt:  # while a server was starting
        err.print("scansion-py report: interrupted; no report written")
        return EXIT_INTERRUPTED
    for name, reason in unavailable.items():
        matrix.runs.append(RunResult(name, unreachable=f"did not start: {reason}"))
    matrix = MatrixResult(matrix.runs, started_at, time.monotonic() - started)
    report.finish(matrix)
    if matrix.interrupted:  # keep the last complete report rather than half of a new one
        err.print("scansion-py report: interrupted; no report written")
        return EXIT_INTERRUPTED
    rows = run_verdicts(scripts, matrix)
    sections = [requirements_html(rows, matrix)] if rows else []
    write_html(matrix, args.output / "index.html", sections)
    (args.output / "SUMMARY.md").write_text(
        to_markdown(matrix, regenerate="scansion-py report", requirements=rows),
        encoding="utf-8",
    )
    Console(highlight=False).print(
        f"wrote {args.output / 'index.html'} and {args.output / 'SUMMARY.md'}", markup=False
    )
    return EXIT_UNREACHABLE if unavailable else EXIT_OK


def _start_all(servers: list[RealServer], err: Console) -> list[int | str]:
    """Start every server at once; each gives its port, or why it did not start."""
    ports = [_free_port() for _ in servers]
    starting = [
        subprocess.Popen(
            [str(server.script), "start", str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for server, port in zip(servers, ports, strict=True)
    ]
    outcomes: list[int | str] = []
    for server, port, process in zip(servers, ports, starting, strict=True):
        try:
            _, stderr = process.communicate(timeout=START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            _stop(server, port)
            outcomes.append(f"no answer from {server.script} within {START_TIMEOUT_S} s")
            continue
        if process.returncode == 0:
            err.print(f"started {server.name} on 127.0.0.1:{port}", markup=False)
            outcomes.append(port)
        else:
            reason = stderr.strip() or f"{server.script} exited with {process.returncode}"
            err.print(f"scansion-py report: {server.name} {reason}", markup=False)
            outcomes.append(reason)
    return outcomes


@contextmanager
def _stopping(server: RealServer, port: int) -> Iterator[None]:
    try:
        yield
    finally:
        _stop(server, port)


def _stop(server: RealServer, port: int) -> None:
    subprocess.run(
        [str(server.script), "stop", str(port)], capture_output=True, timeout=STOP_TIMEOUT_S
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
