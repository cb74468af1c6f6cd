"""What a second process buys the embedded target: `python bench/processes.py [PATHS...]`.

`scansion-py run --jobs N` runs N scripts at once against the embedded reference
server, one fresh server per script, all in one process: one core does the
harness's and every server's work. This runs the same scripts (default: specs/)
in five ways, interleaved round by round, each through the real command line:
one process with `--jobs 1`, `2` and `4`, and the scripts split in two halves
run by two processes side by side with `--jobs 1` and `2` each (as many scripts
at once as one process with `--jobs 2` and `4`).

It prints the median wall time and CPU of each way (CPU of all processes
together, start-up included) and the speed-up over one script at a time.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console
from rich.table import Table

from bench.targets import ROOT


@dataclass(frozen=True)
class Way:
    label: str
    jobs: int
    processes: int


WAYS = (
    Way("1 process, --jobs 1", 1, 1),
    Way("1 process, --jobs 2", 2, 1),
    Way("2 processes, --jobs 1 each", 1, 2),
    Way("1 process, --jobs 4", 4, 1),
    Way("2 processes, --jobs 2 each", 2, 2),
)


@dataclass
class Timing:
    wall_s: float
    cpu_s: float


def run_way(way: Way, scripts: list[Path]) -> Timing:
    """Run the scripts one way; every script must pass."""
    shares = [scripts[index :: way.processes] for index in range(way.processes)]
    with contextlib.ExitStack() as stack:
        errors = [stack.enter_context(tempfile.TemporaryFile()) for _ in shares]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        children = [
            subprocess.Popen(
                [sys.executable, "-m", "harness", "run", "--jobs", str(way.jobs), *map(str, share)],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=error,
            )
            for share, error in zip(shares, errors, strict=True)
        ]
        statuses = [child.wait(timeout=600) for child in children]
        wall = time.perf_counter() - started
        failures = []
        for status, error in zip(statuses, errors, strict=True):
            if status != 0:
                error.seek(0)
                failures.append(error.read().decode(errors="replace").strip()[-300:])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if failures:
        raise RuntimeError(f"{way.label}: scansion-py run failed: {failures}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timing(wall, cpu)


def timing_table(timings: dict[Way, list[Timing]], scripts: int) -> Table:
    rounds = len(next(iter(timings.values())))
    table = Table(title=f"{scripts} scripts on the embedded target, median of {rounds} round(s)")
    table.add_column("way")
    for column in ("wall s", "CPU s", "speed-up"):
        table.add_column(column, justify="right")
    base = statistics.median(t.wall_s for t in timings[WAYS[0]])
    for way, runs in timings.items():
        wall = statistics.median(t.wall_s for t in runs)
        cpu = statistics.median(t.cpu_s for t in runs)
        table.add_row(way.label, f"{wall:.2f}", f"{cpu:.2f}", f"{base / wall:.2f}x")
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python bench/processes.py",
        description="Compare one process running scripts one or two at a time with two "
        "processes side by side, on the embedded reference target.",
    )
    parser.add_argument("paths", nargs="*", type=Path, help="scripts or folders (default: specs/)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    from harness.discovery import find_scripts

    try:
        scripts = [path.resolve() for path in find_scripts(args.paths or [ROOT / "specs"])]
    except FileNotFoundError as exc:
        console.print(f"processes: no such script or folder: {exc.filename or exc}", markup=False)
        return 2
    if len(scripts) < 2:
        console.print("processes: needs at least two scripts to split", markup=False)
        return 2
    timings: dict[Way, list[Timing]] = {way: [] for way in WAYS}
    try:
        for round_number in range(1, max(1, args.repeat) + 1):
            for way in WAYS:
                console.print(f"[dim]round {round_number}: {way.label}[/]")
                timings[way].append(run_way(way, scripts))
    except RuntimeError as exc:
        console.print(f"processes: {exc}", markup=False)
        return 1
    except KeyboardInterrupt:
        return 130
    Console(width=max(Console().width, 100)).print(timing_table(timings, len(scripts)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
