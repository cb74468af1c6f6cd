"""The fairness benchmarks run end to end (small and short: what they measure is bench output)."""

from __future__ import annotations

import asyncio

from bench import flood, mass_timeout


def test_flood_bench_measures_both_phases_on_serve() -> None:
    rows = asyncio.run(flood.run(["reference-unlimited"], probers=2, seconds=1.0))
    assert [row.phase for row in rows if isinstance(row, flood.Figures)] == ["quiet", "flood"], rows
    quiet, flooded = rows
    assert isinstance(quiet, flood.Figures) and isinstance(flooded, flood.Figures)
    assert quiet.round_trips > 0 and flooded.round_trips > 0
    assert quiet.lost == flooded.lost == 0
    assert flooded.flood_answered_per_s is not None and flooded.flood_answered_per_s > 0


def test_mass_timeout_bench_sees_every_socket_dropped() -> None:
    figures = asyncio.run(mass_timeout.measure(50, 0.5))
    assert figures["sockets"] == 50
    assert figures["pings"] and figures["max_ms"] is not None
