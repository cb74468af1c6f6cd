"""Compare XMPP servers under load: `python bench/run.py [--targets ...] [--scenarios ...]`.

Starts each target in its own process, runs every scenario on every target
(interleaved, so a noisy neighbour hurts all targets alike), repeats, and prints
the medians in one table with the reference server's throughput relative to the
others. `--json FILE` also writes every run and every median as JSON lines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any, TextIO

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console
from rich.table import Table

from bench.loadgen import Address
from bench.results import Measurement, combine, failed
from bench.scenarios import PRESETS, Limits, RunContext, Scenario, ScenarioError, parse_scenario
from bench.targets import NAMES, SHARED, TargetServer, TargetUnavailable

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python bench/run.py",
        description="Load-test the reference XMPP server against Prosody and ejabberd "
        "(loopback only) and print throughput, latency, server CPU and correctness.",
    )
    parser.add_argument(
        "--targets",
        default=",".join(NAMES),
        help=f"comma-separated, from {', '.join(NAMES)} (default: all)",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(PRESETS),
        help="comma-separated presets (" + ", ".join(PRESETS) + ") or forms like "
        "fanout:occupants=50:messages=200:rooms=2, joins:n=200, logins:n=500:concurrency=50",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per scenario and target")
    parser.add_argument("--json", type=Path, help="also write each run and each median here")
    parser.add_argument("--prosody-port", type=int, help="Prosody's port (default: a free one)")
    parser.add_argument("--ejabberd-port", type=int, help="ejabberd's port (default: a free one)")
    parser.add_argument(
        "--run-timeout", type=float, default=120.0, help="longest measured phase, s (default 120)"
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=10.0,
        help="stop waiting when nothing arrived for this long, s (default 10)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(stderr=True)
    try:
        scenarios = [parse_scenario(text) for text in args.scenarios.split(",") if text.strip()]
    except ScenarioError as exc:
        console.print(f"bench: {exc}", markup=False)
        return EXIT_USAGE
    names = [name.strip() for name in args.targets.split(",") if name.strip()]
    unknown = [name for name in names if name not in NAMES]
    if unknown or not names or not scenarios:
        console.print(f"bench: targets are {', '.join(NAMES)}; scenarios must not be empty")
        return EXIT_USAGE
    if not 1 <= args.repeat <= 100:
        console.print("bench: --repeat must be between 1 and 100")
        return EXIT_USAGE
    limits = Limits(run_timeout=args.run_timeout, idle_timeout=args.idle_timeout)
    ports = {"prosody": args.prosody_port, "ejabberd": args.ejabberd_port}
    try:
        import uvloop
    except ImportError:
        console.print("bench: uvloop is not installed (pip install uvloop)")
        return EXIT_USAGE
    try:
        medians = uvloop.run(
            _bench(names, scenarios, args.repeat, limits, ports, args.json, console)
        )
    except KeyboardInterrupt:
        console.print("bench: interrupted")
        return EXIT_INTERRUPTED
    if not medians:
        return 1
    # Wide enough for every column even when stdout is not a terminal.
    Console(width=max(Console().width, 180)).print(results_table(medians, scenarios))
    _print_errors(medians, console)
    _warn_when_generator_bound(medians, console)
    return 0


async def _bench(
    names: list[str],
    scenarios: list[Scenario],
    repeat: int,
    limits: Limits,
    ports: dict[str, int | None],
    json_path: Path | None,
    console: Console,
) -> list[Measurement]:
    if any(name != "reference" for name in names) and not SHARED.is_dir():
        console.print(
            f"bench: {SHARED} is absent, so Prosody and ejabberd cannot run; only the reference "
            "server is measured (set SCANSION_SHARED to the shared material)",
            markup=False,
        )
        names = [name for name in names if name == "reference"]
    if not names:
        return []
    servers = await _start_all(names, ports, console)
    runs: dict[tuple[str, str], list[Measurement]] = {}
    sink: TextIO | None = json_path.open("w") if json_path else None
    try:
        for round_number in range(1, repeat + 1):
            for scenario in scenarios:
                for server in servers:
                    console.print(
                        f"[dim]run {round_number}/{repeat}: {scenario.name} on {server.name}[/]"
                    )
                    measurement = await _run_one(scenario, server, limits)
                    runs.setdefault((scenario.name, server.name), []).append(measurement)
                    _write_json(sink, "run", measurement, round=round_number)
        medians = [combine(group) for group in runs.values()]
        for median in medians:
            _write_json(sink, "median", median)
        return medians
    finally:
        if sink is not None:
            sink.close()
        await asyncio.gather(*(server.stop() for server in servers))


async def _start_all(
    names: list[str], ports: dict[str, int | None], console: Console
) -> list[TargetServer]:
    servers = [TargetServer(name) for name in names]
    outcomes = await asyncio.gather(
        *(server.start(ports.get(server.name)) for server in servers), return_exceptions=True
    )
    started = []
    for server, outcome in zip(servers, outcomes, strict=True):
        if isinstance(outcome, TargetUnavailable):
            console.print(f"bench: {server.name} skipped: {outcome}", markup=False)
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            console.print(f"[dim]{server.name} on 127.0.0.1:{server.port} ({server.note})[/]")
            started.append(server)
    return started


async def _run_one(scenario: Scenario, server: TargetServer, limits: Limits) -> Measurement:
    if server.pid is not None and server.cpu_seconds() is None:
        return failed(scenario.name, server.name, scenario.unit, "the server process is gone")
    context = RunContext(Address("127.0.0.1", server.port), server.name, server.cpu_seconds, limits)
    return await scenario.run(context)


def _write_json(sink: TextIO | None, kind: str, measurement: Measurement, **extra: Any) -> None:
    if sink is not None:
        sink.write(json.dumps({"kind": kind, **extra, **measurement.to_json()}) + "\n")
        sink.flush()


def _number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _cpu_per_unit_us(measured: Measurement) -> float | None:
    """Server CPU per delivery, join or login: comparable even when the generator limits."""
    done_per_run = measured.done / measured.runs
    if measured.server_cpu_s is None or done_per_run == 0:
        return None
    return measured.server_cpu_s / done_per_run * 1e6


def _count(value: int | None) -> str:
    if value is None:
        return "n/a"
    return "0" if value == 0 else f"[bold red]{value}[/]"


def results_table(medians: list[Measurement], scenarios: list[Scenario]) -> Table:
    runs = max(m.runs for m in medians)
    table = Table(
        title=f"Median of {runs} run(s) per scenario and target",
        caption="done: over all runs; µs/unit: server CPU per delivery, join or login; "
        "lost/dup/ooo: deliveries lost, duplicated, out of order (summed over runs); "
        "ref/this: reference rate divided by this target's",
    )
    table.add_column("scenario", no_wrap=True)
    table.add_column("target", no_wrap=True)
    for column in ("rate", "done", "p50 ms", "p99 ms", "srv CPU s", "µs/unit", "gen CPU s"):
        table.add_column(column, justify="right", no_wrap=True)
    for column in ("lost", "dup", "ooo", "ref/this"):
        table.add_column(column, justify="right", no_wrap=True)
    by_scenario: dict[str, list[Measurement]] = {}
    for median in medians:
        by_scenario.setdefault(median.scenario, []).append(median)
    for scenario in scenarios:
        group = by_scenario.get(scenario.name, [])
        reference = next((m for m in group if m.target == "reference"), None)
        for index, measured in enumerate(group):
            ratio = "-"
            if reference is not None and measured is not reference and measured.throughput > 0:
                ratio = f"{reference.throughput / measured.throughput:.2f}x"
            done = f"{measured.done}/{measured.expected}"
            label = (scenario.name, f"[dim]{scenario.unit}[/]")
            table.add_row(
                label[0] if index == 0 else label[1] if index == 1 else "",
                measured.target,
                f"{measured.throughput:,.0f}",
                done if measured.done == measured.expected else f"[bold red]{done}[/]",
                _number(measured.p50_ms),
                _number(measured.p99_ms),
                _number(measured.server_cpu_s, 2),
                _number(_cpu_per_unit_us(measured)),
                _number(measured.loadgen_cpu_s, 2),
                _count(measured.lost),
                _count(measured.duplicated),
                _count(measured.out_of_order),
                ratio,
                end_section=index == len(group) - 1,
            )
    return table


def _print_errors(medians: list[Measurement], console: Console) -> None:
    for measured in medians:
        for message, count in measured.errors.items():
            times = f" ({count}x)" if count > 1 else ""
            console.print(
                f"{measured.scenario} on {measured.target}: {message}{times}", markup=False
            )


def _warn_when_generator_bound(medians: list[Measurement], console: Console) -> None:
    """A rate is the server's only while the load generator has CPU to spare."""
    for measured in medians:
        if measured.seconds > 0 and measured.loadgen_cpu_s > 0.7 * measured.seconds:
            busy = measured.loadgen_cpu_s / measured.seconds
            console.print(
                f"note: {measured.scenario} on {measured.target}: the load generator was busy "
                f"{busy:.0%} of the measured phase, so this rate may be its limit, not the "
                "server's; compare server CPU per unit (srv CPU µs/unit) instead",
                markup=False,
            )


if __name__ == "__main__":
    sys.exit(main())
