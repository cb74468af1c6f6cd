"""Where a run's wall time goes against a real server: `python bench/round_trips.py`.

Runs scripts (by default Prosody's own: the shared seeds and corpus) one after
another through harness.runner, as `scansion-py run` does against a remote
server, on a fresh server per pass (Prosody keeps what the scripts store, and a
second pass on the same server would fail). Per pass it prints the wall time,
the harness's CPU (this process), the server's CPU (/proc), the time neither of
them was working (waiting on the network: Nagle, delayed ACKs), and the steps
that took over 30 ms. Every script must pass, or the figures mean nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console
from rich.table import Table

from bench.targets import SHARED, TargetServer, TargetUnavailable

SLOW_STEP_S = 0.030
DEFAULT_SCRIPTS = (SHARED / "specs" / "seeds", SHARED / "prosody" / "corpus")


@dataclass
class Pass:
    scripts: int
    passed: int
    steps: int
    slow_steps: int
    wall_s: float
    harness_cpu_s: float
    server_cpu_s: float | None

    @property
    def idle_s(self) -> float | None:
        """Wall time in which neither the harness nor the server had work to do."""
        if self.server_cpu_s is None:
            return None
        return max(0.0, self.wall_s - self.harness_cpu_s - self.server_cpu_s)


async def one_pass(target_name: str, paths: list[Path], port: int | None) -> Pass:
    from harness.parser import parse_file
    from harness.results import Status
    from harness.runner import RunOptions, run_on_target
    from harness.targets import parse_target

    scripts = [parse_file(path) for path in paths]
    server = TargetServer(target_name, real_clock=False)  # as the scripts expect
    await server.start(port)
    try:
        target = parse_target(f"127.0.0.1:{server.port}")
        options = RunOptions()  # what `scansion-py run --target HOST:PORT` uses
        server_cpu0 = server.cpu_seconds()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        results = [await run_on_target(script, target, options) for script in scripts]
        wall = time.perf_counter() - wall0
        harness_cpu = time.process_time() - cpu0
        server_cpu1 = server.cpu_seconds()
    finally:
        await server.stop()
    steps = [step for result in results for step in result.steps]
    return Pass(
        scripts=len(results),
        passed=sum(result.status is Status.PASSED for result in results),
        steps=len(steps),
        slow_steps=sum(step.duration_s > SLOW_STEP_S for step in steps),
        wall_s=wall,
        harness_cpu_s=harness_cpu,
        server_cpu_s=None
        if server_cpu0 is None or server_cpu1 is None
        else server_cpu1 - server_cpu0,
    )


def pass_table(target: str, passes: list[Pass]) -> Table:
    table = Table(title=f"Scripts run one by one against {target}, a fresh server per pass")
    table.add_column("pass", justify="right")
    for column in ("passed", "steps", "wall s", "harness CPU s", "server CPU s", "idle s"):
        table.add_column(column, justify="right")
    table.add_column(f"steps > {SLOW_STEP_S * 1000:.0f} ms", justify="right")
    rows = [(str(index), run) for index, run in enumerate(passes, 1)]
    if len(passes) > 1:
        rows.append(("median", _median(passes)))
    for label, run in rows:
        table.add_row(
            label,
            f"{run.passed}/{run.scripts}",
            str(run.steps),
            f"{run.wall_s:.2f}",
            f"{run.harness_cpu_s:.2f}",
            "-" if run.server_cpu_s is None else f"{run.server_cpu_s:.2f}",
            "-" if run.idle_s is None else f"{run.idle_s:.2f}",
            str(run.slow_steps),
        )
    return table


def _median(passes: list[Pass]) -> Pass:
    servers = [run.server_cpu_s for run in passes if run.server_cpu_s is not None]
    return Pass(
        scripts=passes[0].scripts,
        passed=min(run.passed for run in passes),
        steps=passes[0].steps,
        slow_steps=round(statistics.median(run.slow_steps for run in passes)),
        wall_s=statistics.median(run.wall_s for run in passes),
        harness_cpu_s=statistics.median(run.harness_cpu_s for run in passes),
        server_cpu_s=statistics.median(servers) if servers else None,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python bench/round_trips.py",
        description="Run scripts against a fresh real server per pass; show wall time "
        "against the harness's and the server's CPU.",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        help="scripts or folders (default: the shared seeds and Prosody corpus)",
    )
    parser.add_argument("--target", choices=("prosody", "ejabberd", "reference"), default="prosody")
    parser.add_argument("--port", type=int, help="the server's port (default: a free one)")
    parser.add_argument("--repeat", type=int, default=3, help="passes (default 3)")
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    from harness.discovery import find_scripts

    try:
        paths = find_scripts(args.paths or list(DEFAULT_SCRIPTS))
    except FileNotFoundError as exc:
        console.print(f"round_trips: no such script or folder: {exc.filename or exc}")
        return 2
    if not paths:
        console.print("round_trips: no scripts found", markup=False)
        return 2
    passes: list[Pass] = []
    try:
        for index in range(max(1, args.repeat)):
            console.print(f"[dim]pass {index + 1}: {len(paths)} scripts on {args.target}[/]")
            passes.append(asyncio.run(one_pass(args.target, paths, args.port)))  # as the CLI
    except TargetUnavailable as exc:
        console.print(f"round_trips: {exc}", markup=False)
        return 2
    except KeyboardInterrupt:
        return 130
    Console(width=max(Console().width, 120)).print(pass_table(args.target, passes))
    if any(run.passed < run.scripts for run in passes):
        console.print("round_trips: some scripts failed, so these figures are not a clean run")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
