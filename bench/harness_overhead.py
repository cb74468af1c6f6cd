"""How much the harness itself costs: `python bench/harness_overhead.py [SCRIPTS...]`.

Runs the seed scripts (specs/prosody/*.scs by default) through harness.runner
twice per script:

- split: against the reference server in its own process (a fresh one per
  script), so the harness's CPU (this process) and the server's CPU (/proc of
  the child) are measured apart;
- embedded: against the `reference` target, server inside this process, as
  `scansion-py run` does by default; wall time only means something here.

Per step it reports the wall time left after the waits the script asks for
(`receives: nothing` listens for the quiet period by design) and the harness
CPU, which is what the harness adds on top of the server's own work.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console
from rich.table import Table

from bench.targets import ROOT, TargetServer, TargetUnavailable

SEEDS = ROOT / "specs" / "prosody"


@dataclass
class ScriptCost:
    name: str
    status: str
    steps: int
    designed_wait_s: float  # quiet periods the script asks for
    split_wall_s: float
    harness_cpu_s: float
    server_cpu_s: float | None
    embedded_wall_s: float
    embedded_cpu_s: float  # harness and server together, one process

    @property
    def overhead_per_step_ms(self) -> float:
        """Wall time per step beyond the script's own waits (split mode)."""
        return max(0.0, self.split_wall_s - self.designed_wait_s) / max(self.steps, 1) * 1000


async def measure(paths: list[Path], repeat: int, port: int | None = None) -> list[ScriptCost]:
    from harness.model import Action
    from harness.parser import parse_file
    from harness.runner import RunOptions, run_on_target
    from harness.targets import EMBEDDED_QUIET_PERIOD, parse_target

    # Both modes run the reference server, which has routed everything by the time it
    # answers the harness's ping: the embedded target's quiet period fits both.
    options = RunOptions(tls="off", quiet_period=EMBEDDED_QUIET_PERIOD)
    quiet_period = EMBEDDED_QUIET_PERIOD
    costs = []
    for path in paths:
        script = parse_file(path)
        waits = sum(step.action is Action.RECEIVES_NOTHING for step in script.steps)
        runs: list[ScriptCost] = []
        for _ in range(repeat):
            server = TargetServer("reference")
            await server.start(port)
            try:
                target = parse_target(f"127.0.0.1:{server.port}")
                server_cpu0 = server.cpu_seconds()
                cpu0, wall0 = time.process_time(), time.perf_counter()
                result = await run_on_target(script, target, options)
                split_wall = time.perf_counter() - wall0
                harness_cpu = time.process_time() - cpu0
                server_cpu1 = server.cpu_seconds()
            finally:
                await server.stop()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            await run_on_target(script, parse_target("reference"), options)
            runs.append(
                ScriptCost(
                    name=path.name,
                    status=str(result.status),
                    steps=len(script.steps),
                    designed_wait_s=waits * quiet_period,
                    split_wall_s=split_wall,
                    harness_cpu_s=harness_cpu,
                    server_cpu_s=None
                    if server_cpu0 is None or server_cpu1 is None
                    else server_cpu1 - server_cpu0,
                    embedded_wall_s=time.perf_counter() - wall0,
                    embedded_cpu_s=time.process_time() - cpu0,
                )
            )
        costs.append(_median_cost(runs))
    return costs


def _median_cost(runs: list[ScriptCost]) -> ScriptCost:
    first = runs[0]
    servers = [run.server_cpu_s for run in runs if run.server_cpu_s is not None]
    return ScriptCost(
        name=first.name,
        status=",".join(sorted({run.status for run in runs})),
        steps=first.steps,
        designed_wait_s=first.designed_wait_s,
        split_wall_s=statistics.median(run.split_wall_s for run in runs),
        harness_cpu_s=statistics.median(run.harness_cpu_s for run in runs),
        server_cpu_s=statistics.median(servers) if servers else None,
        embedded_wall_s=statistics.median(run.embedded_wall_s for run in runs),
        embedded_cpu_s=statistics.median(run.embedded_cpu_s for run in runs),
    )


def cost_table(costs: list[ScriptCost]) -> Table:
    table = Table(title="Harness overhead on the seed scripts (median per script)")
    table.add_column("script", no_wrap=True)
    for column in (
        "status",
        "steps",
        "waits s",
        "wall s",
        "harness CPU s",
        "server CPU s",
        "wall ms/step",
        "CPU ms/step",
        "embedded s",
    ):
        table.add_column(column, justify="right", no_wrap=True)
    for cost in costs:
        table.add_row(
            cost.name,
            cost.status,
            str(cost.steps),
            f"{cost.designed_wait_s:.1f}",
            f"{cost.split_wall_s:.3f}",
            f"{cost.harness_cpu_s:.3f}",
            "-" if cost.server_cpu_s is None else f"{cost.server_cpu_s:.2f}",
            f"{cost.overhead_per_step_ms:.1f}",
            f"{cost.harness_cpu_s / max(cost.steps, 1) * 1000:.2f}",
            f"{cost.embedded_wall_s:.3f}",
        )
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python bench/harness_overhead.py",
        description="Measure what the harness costs on top of the reference server.",
    )
    parser.add_argument("scripts", nargs="*", type=Path, help=f"default: {SEEDS}/*.scs")
    parser.add_argument("--repeat", type=int, default=3, help="runs per script (default 3)")
    parser.add_argument(
        "--port", type=int, help="the split-mode reference server's port (default: a free one)"
    )
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    paths = args.scripts or sorted(SEEDS.glob("*.scs"))
    missing = [path for path in paths if not path.is_file()]
    if not paths or missing:
        console.print(f"harness_overhead: no such script(s): {missing or SEEDS}", markup=False)
        return 2
    try:
        import harness.runner  # noqa: F401
    except ImportError as exc:
        console.print(f"harness_overhead: the harness cannot be loaded yet ({exc})", markup=False)
        return 2
    import uvloop

    try:
        costs = uvloop.run(measure(paths, max(1, args.repeat), args.port))
    except TargetUnavailable as exc:
        console.print(f"harness_overhead: {exc}", markup=False)
        return 2
    except KeyboardInterrupt:
        return 130
    Console(width=max(Console().width, 150)).print(cost_table(costs))
    steps = sum(cost.steps for cost in costs)
    harness_cpu = sum(cost.harness_cpu_s for cost in costs)
    server_cpu = sum(cost.server_cpu_s or 0.0 for cost in costs)
    console.print(
        f"total: {steps} steps, harness CPU {harness_cpu:.2f} s "
        f"({harness_cpu / max(steps, 1) * 1000:.2f} ms/step), server CPU {server_cpu:.2f} s",
        markup=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
