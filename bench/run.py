"""Compare XMPP servers under load: `python bench/run.py [--targets ...] [--scenarios ...]`.

Runs every scenario on every target, interleaved (so a noisy neighbour hurts all
targets alike), each run on a fresh server process (a server that has served
earlier runs is slower: Prosody's CPU per delivery grows as it ages), repeats,
and prints the medians in one table: server CPU per unit first, the rates next,
each with the other targets' ratio to the reference server. `--json FILE` also
writes every run and every median as JSON lines.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console
from rich.table import Table

from bench.loadgen import Address
from bench.results import Measurement, combine, failed
from bench.scenarios import PRESETS, Limits, RunContext, Scenario, ScenarioError, parse_scenario
from bench.targets import NAMES, SHARED, SHARED_TARGETS, TargetServer, TargetUnavailable

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
BASELINE = "baseline"
# Above this share of the measured phase on the load generator's own CPU, the rate may be
# the generator's limit rather than the server's.
GENERATOR_BUSY_LIMIT = 0.7


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
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="also run the reference server of the source tree DIR (an earlier checkout, "
        "say) as target 'baseline', interleaved with the others",
    )
    parser.add_argument("--json", type=Path, help="also write each run and each median here")
    for name in NAMES:
        parser.add_argument(
            f"--{name}-port", type=int, help=f"{name}'s port (default: a free one per run)"
        )
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
    ports = {name: getattr(args, f"{name}_port") for name in NAMES}
    ports[BASELINE] = ports["reference"]  # runs never overlap: the two can share a port
    if not SHARED.is_dir() and any(name in SHARED_TARGETS for name in names):
        console.print(
            f"bench: {SHARED} is absent, so Prosody and ejabberd cannot run; only the reference "
            "server is measured (set SCANSION_SHARED to the shared material)",
            markup=False,
        )
        names = [name for name in names if name not in SHARED_TARGETS]
    targets = [TargetServer(name) for name in names]
    if args.baseline is not None:
        if not (args.baseline / "bench" / "serve_reference.py").is_file():
            console.print(f"bench: {args.baseline} has no bench/serve_reference.py", markup=False)
            return EXIT_USAGE
        at = names.index("reference") + 1 if "reference" in names else 0
        targets.insert(at, TargetServer(BASELINE, source=args.baseline.resolve()))
    try:
        import uvloop
    except ImportError:
        console.print("bench: uvloop is not installed (pip install uvloop)")
        return EXIT_USAGE
    try:
        medians = uvloop.run(
            _bench(targets, scenarios, args.repeat, limits, ports, args.json, console)
        )
    except KeyboardInterrupt:
        console.print("bench: interrupted")
        return EXIT_INTERRUPTED
    if not medians:
        return 1
    # Wide enough for every column even when stdout is not a terminal.
    Console(width=max(Console().width, 200)).print(results_table(medians, scenarios))
    _print_errors(medians, console)
    _warn_when_generator_bound(medians, console)
    return 0


async def _bench(
    targets: list[TargetServer],
    scenarios: list[Scenario],
    repeat: int,
    limits: Limits,
    ports: dict[str, int | None],
    json_path: Path | None,
    console: Console,
) -> list[Measurement]:
    """Every scenario on every target, round after round, each run on a copy of its
    target's (unstarted) TargetServer."""
    runs: dict[tuple[str, str], list[Measurement]] = {}
    unavailable: dict[str, str] = {}
    sink: TextIO | None = json_path.open("w") if json_path else None
    try:
        for round_number in range(1, repeat + 1):
            for scenario in scenarios:
                for target in targets:
                    name = target.name
                    if name in unavailable:
                        continue
                    console.print(f"[dim]run {round_number}/{repeat}: {scenario.name} on {name}[/]")
                    measurement = await _run_on_fresh_server(
                        scenario, replace(target), ports.get(name), limits, unavailable, console
                    )
                    if measurement is None:
                        continue
                    runs.setdefault((scenario.name, name), []).append(measurement)
                    _write_json(sink, "run", measurement, round=round_number)
        medians = [combine(group) for group in runs.values()]
        for median in medians:
            _write_json(sink, "median", median)
        return medians
    finally:
        if sink is not None:
            sink.close()


async def _run_on_fresh_server(
    scenario: Scenario,
    server: TargetServer,
    port: int | None,
    limits: Limits,
    unavailable: dict[str, str],
    console: Console,
) -> Measurement | None:
    """One run on a server started for it alone, stopped afterwards (Ctrl-C included).
    A target that cannot start is noted in `unavailable` and skipped from then on."""
    name = server.name
    try:
        await server.start(port)
    except TargetUnavailable as exc:
        unavailable[name] = str(exc)
        console.print(f"bench: {name} skipped: {exc}", markup=False)
        return None
    try:
        console.print(f"[dim]  {name} on 127.0.0.1:{server.port} ({server.note})[/]")
        if server.pid is not None and server.cpu_seconds() is None:
            return failed(scenario.name, name, scenario.unit, "the server process is gone")
        context = RunContext(Address("127.0.0.1", server.port), name, server.cpu_seconds, limits)
        return await scenario.run(context)
    finally:
        await server.stop()


def _write_json(sink: TextIO | None, kind: str, measurement: Measurement, **extra: Any) -> None:
    if sink is not None:
        sink.write(json.dumps({"kind": kind, **extra, **measurement.to_json()}) + "\n")
        sink.flush()


def _number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


# Server CPU per unit is shown in the unit that keeps it readable: µs per delivery, ms per
# join or login.
_PER_UNIT_SCALE = {"deliveries/s": (1e6, "µs/delivery"), "joins/s": (1e3, "ms/join")}
_LOGIN_SCALE = (1e3, "ms/login")


def cpu_per_unit(measured: Measurement) -> tuple[float, str] | None:
    """Server CPU per delivery, join or login, and its unit: comparable even when the load
    generator, not the server, set the rate."""
    done_per_run = measured.done / measured.runs
    if measured.server_cpu_s is None or done_per_run == 0:
        return None
    scale, unit = _PER_UNIT_SCALE.get(measured.unit, _LOGIN_SCALE)
    return measured.server_cpu_s / done_per_run * scale, unit


def _count(value: int | None) -> str:
    if value is None:
        return "n/a"
    return "0" if value == 0 else f"[bold red]{value}[/]"


def _ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or denominator is None or denominator <= 0:
        return "-"
    return f"{numerator / denominator:.1f}x"


def results_table(medians: list[Measurement], scenarios: list[Scenario]) -> Table:
    runs = max(m.runs for m in medians)
    table = Table(
        title=f"Median of {runs} run(s) per scenario and target, a fresh server per run",
        caption="srv CPU/unit: the server's CPU per delivery, join or login (lower is better); "
        "CPU x ref: that figure over the reference server's; rate x ref: the reference "
        "server's rate over this target's; done: over all runs; gen busy: the load "
        "generator's CPU over the phase; lost/dup/ooo: summed over runs",
    )
    table.add_column("scenario", no_wrap=True)
    table.add_column("target", no_wrap=True)
    for column in ("srv CPU/unit", "CPU x ref", "rate", "rate x ref", "done"):
        table.add_column(column, justify="right", no_wrap=True)
    for column in ("p50 ms", "p99 ms", "srv CPU s", "gen busy", "lost", "dup", "ooo"):
        table.add_column(column, justify="right", no_wrap=True)
    by_scenario: dict[str, list[Measurement]] = {}
    for median in medians:
        by_scenario.setdefault(median.scenario, []).append(median)
    for scenario in scenarios:
        group = by_scenario.get(scenario.name, [])
        reference = next((m for m in group if m.target == "reference"), None)
        reference_cpu = cpu_per_unit(reference) if reference is not None else None
        for index, measured in enumerate(group):
            per_unit = cpu_per_unit(measured)
            is_other = reference is not None and measured is not reference
            done = f"{measured.done}/{measured.expected}"
            label = (scenario.name, f"[dim]{scenario.unit}[/]")
            table.add_row(
                label[0] if index == 0 else label[1] if index == 1 else "",
                measured.target,
                "-" if per_unit is None else f"{per_unit[0]:,.1f} {per_unit[1]}",
                _ratio(
                    per_unit[0] if per_unit and is_other else None,
                    reference_cpu[0] if reference_cpu else None,
                ),
                f"{measured.throughput:,.0f}",
                _ratio(
                    reference.throughput if reference is not None and is_other else None,
                    measured.throughput,
                ),
                done if measured.done == measured.expected else f"[bold red]{done}[/]",
                _number(measured.p50_ms),
                _number(measured.p99_ms),
                _number(measured.server_cpu_s, 2),
                "-"
                if measured.seconds <= 0
                else f"{measured.loadgen_cpu_s / measured.seconds:.0%}",
                _count(measured.lost),
                _count(measured.duplicated),
                _count(measured.out_of_order),
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
        if (
            measured.seconds > 0
            and measured.loadgen_cpu_s > GENERATOR_BUSY_LIMIT * measured.seconds
        ):
            busy = measured.loadgen_cpu_s / measured.seconds
            console.print(
                f"note: {measured.scenario} on {measured.target}: the load generator was busy "
                f"{busy:.0%} of the measured phase, so this rate may be its limit, not the "
                "server's; compare server CPU per unit (srv CPU µs/unit) instead",
                markup=False,
            )


if __name__ == "__main__":
    sys.exit(main())
