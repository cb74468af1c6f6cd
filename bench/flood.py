"""Fairness under a flood: other clients' ping round trips while one client floods.

One logged-in client writes pings as fast as the server lets it (reading every
reply), while `--probers` other clients each do one ping round trip after
another. The figure that matters is the probers' p99: how long a well-behaved
client waits because someone else floods. Each target is measured quietly first
(no flood), then under the flood, in one run:

    python bench/flood.py                      # reference (`scansion-py serve`) and Prosody
    python bench/flood.py --target reference --seconds 5

`reference` is `scansion-py serve` as a user runs it (its default limits on);
`reference-unlimited` is the same with rate limiting off (`--no-limits`), so the
fairness of the read path shows on its own. Prosody 0.12.3 comes from
`../shared` (SCANSION_SHARED), as in bench/targets.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console
from rich.table import Table

from bench.loadgen import Address, Connection, LoadError, expectation, login
from bench.results import percentile_ms
from bench.targets import ROOT, TargetServer, TargetUnavailable, free_port

TARGETS = ("reference", "reference-unlimited", "prosody")
_PING = "<iq type='get' id='{id}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
_FLOOD_BATCH = "".join(_PING.format(id=f"f{i}") for i in range(50)).encode()
_FLOOD_HIGH_WATER = 64 * 1024  # the flooder keeps this much unsent at most
_ROUND_TRIP_LIMIT = 30.0  # a prober's ping with no answer by then counts as lost


@dataclass
class Figures:
    target: str
    phase: str
    round_trips: int
    lost: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    flood_answered_per_s: float | None


class ServeProcess:
    """`scansion-py serve` in a child process, as a user runs it."""

    def __init__(self, limits: bool, config: Path | None = None) -> None:
        self.limits, self.config = limits, config
        self.port = 0
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.port = free_port()
        command = [sys.executable, "-m", "harness", "serve", "--port", str(self.port), "--no-muc"]
        if not self.limits:
            command.append("--no-limits")
        if self.config is not None:
            command += ["--config", str(self.config)]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self._process = await asyncio.create_subprocess_exec(
            *command,
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            if self._process.returncode is not None:
                break
            await asyncio.sleep(0.1)
        await self.stop()
        raise TargetUnavailable("scansion-py serve did not start listening within 30 s")

    async def stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            try:
                await asyncio.wait_for(self._process.wait(), 10)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()


async def _prober(conn: Connection, index: int, stop_at: float, latencies: list[int]) -> int:
    """Ping round trips one after another until `stop_at`; returns how many got no answer."""
    count = 0
    while time.monotonic() < stop_at:
        ping_id = f"p{index}-{count}"
        count += 1
        started = time.perf_counter_ns()
        conn.send(_PING.format(id=ping_id).encode())
        try:
            await asyncio.wait_for(
                conn.expect(expectation(rb"id=[\"']" + ping_id.encode() + rb"[\"']"), "ping reply"),
                _ROUND_TRIP_LIMIT,
            )
        except (TimeoutError, LoadError):
            return 1
        latencies.append(time.perf_counter_ns() - started)
        await asyncio.sleep(0.02)
    return 0


async def _flood(address: Address, seconds: float, answered: multiprocessing.Value) -> None:  # type: ignore[valid-type]
    """Write pings whenever less than `_FLOOD_HIGH_WATER` is unsent; count the replies."""
    conn = await login(address, "flooder", "flooder")
    conn.start_sink(lambda chunk: _add(answered, chunk.count(b"<iq")))
    transport = conn.transport
    assert transport is not None
    stop_at = time.monotonic() + seconds
    while time.monotonic() < stop_at and not conn.closed:
        if transport.get_write_buffer_size() < _FLOOD_HIGH_WATER:
            conn.send(_FLOOD_BATCH)
            await asyncio.sleep(0)
        else:
            await asyncio.sleep(0.001)
    transport.abort()


def _add(counter: multiprocessing.Value, amount: int) -> None:  # type: ignore[valid-type]
    with counter.get_lock():
        counter.value += amount


def _flooder_process(address: Address, seconds: float, answered: multiprocessing.Value) -> None:  # type: ignore[valid-type]
    """The flooder runs in its own process: its work must not slow the probers' client side."""
    asyncio.run(_flood(address, seconds, answered))


async def measure(target: str, address: Address, probers: int, seconds: float) -> list[Figures]:
    conns = [await login(address, f"prober{i}", f"prober{i}") for i in range(probers)]
    results = []
    for phase in ("quiet", "flood"):
        answered = multiprocessing.Value("q", 0)
        flooder = None
        if phase == "flood":
            flooder = multiprocessing.Process(
                target=_flooder_process, args=(address, seconds + 2.0, answered)
            )
            flooder.start()
            await asyncio.sleep(1.0)  # let the flood reach its pace
            _add(answered, -answered.value)
        latencies: list[int] = []
        started = time.monotonic()
        lost = await asyncio.gather(
            *(_prober(c, i, started + seconds, latencies) for i, c in enumerate(conns))
        )
        elapsed = time.monotonic() - started
        flood_answered = answered.value
        if flooder is not None:
            await asyncio.to_thread(flooder.join, 30)
        results.append(
            Figures(
                target,
                phase,
                len(latencies),
                sum(lost),
                percentile_ms(latencies, 0.5),
                percentile_ms(latencies, 0.99),
                max(latencies) / 1e6 if latencies else None,
                flood_answered / elapsed if phase == "flood" else None,
            )
        )
    for conn in conns:
        await conn.close(5.0)
    return results


async def run(targets: list[str], probers: int, seconds: float) -> list[Figures | str]:
    rows: list[Figures | str] = []
    for target in targets:
        server: ServeProcess | TargetServer
        server = (
            ServeProcess(limits=target == "reference")
            if target != "prosody"
            else (TargetServer("prosody"))
        )
        try:
            await server.start(None) if isinstance(server, TargetServer) else await server.start()
            rows.extend(await measure(target, Address("127.0.0.1", server.port), probers, seconds))
        except (TargetUnavailable, LoadError, OSError) as exc:
            rows.append(f"{target}: {exc}")
        finally:
            await server.stop()
    return rows


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def table(rows: list[Figures | str]) -> Table:
    out = Table(title="Other clients' ping round trip while one client floods pings")
    for column in ("target", "phase", "round trips", "lost", "p50 ms", "p99 ms", "max ms"):
        out.add_column(
            column, justify="left" if column in ("target", "phase") else "right", no_wrap=True
        )
    out.add_column("flood answered/s", justify="right")
    for row in rows:
        if isinstance(row, str):
            continue
        flood = "-" if row.flood_answered_per_s is None else f"{row.flood_answered_per_s:,.0f}"
        out.add_row(
            row.target,
            row.phase,
            str(row.round_trips),
            str(row.lost),
            _ms(row.p50_ms),
            _ms(row.p99_ms),
            _ms(row.max_ms),
            flood,
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", action="append", choices=TARGETS, help="default: all")
    parser.add_argument("--probers", type=int, default=10, help="well-behaved clients (10)")
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase (10)")
    args = parser.parse_args(argv)
    rows = asyncio.run(run(args.target or list(TARGETS), args.probers, args.seconds))
    console = Console()
    console.print(table(rows))
    for row in rows:
        if isinstance(row, str):
            console.print(f"[red]{row}[/red]")
    by_target = {
        row.target: row for row in rows if isinstance(row, Figures) and row.phase == "flood"
    }
    prosody = by_target.get("prosody")
    for name in ("reference", "reference-unlimited"):
        mine = by_target.get(name)
        if mine and prosody and mine.p99_ms and prosody.p99_ms:
            console.print(f"flood p99, {name} / prosody: {mine.p99_ms / prosody.p99_ms:.1f}x")
    return 1 if any(isinstance(row, str) for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
