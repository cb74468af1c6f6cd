"""Soak: hundreds of sessions over dozens of rooms, with drops, kicks and bans; then invariants.

The server runs in its own process (its memory is then its own to measure).
The CI profile has 45 s of load; `pytest tests/soak --soak-long` makes it 600 s
and SCANSION_SOAK_SECONDS any length. Checked afterwards: every groupchat
message reached exactly the occupants present when the room sent it, once, in order per sender (see
`invariants`); private messages reached their target once or were refused; no
occupant outlives its session; the server logged no error; its memory after
the soak is within 10% of its memory after warm-up.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from invariants import Verdict, check
from loadgen import Soak
from server_process import ServerProcess

CLIENTS = 300
ROOMS = 30
PAUSE = 1.5  # mean seconds between two actions of one session
MEMORY_TOLERANCE = 0.10


async def _stats(server: ServerProcess) -> dict[str, Any]:
    return await asyncio.to_thread(server.stats)


async def _soak(server: ServerProcess, seconds: float) -> dict[str, Any]:
    soak = Soak(server.port, CLIENTS, ROOMS, seed=20261123)
    began = time.monotonic()
    users = await soak.start()
    owners = [s for s in soak.sessions if s.owner_of is not None]
    drivers = [asyncio.create_task(soak.drive(session, PAUSE)) for session in (*owners, *users)]
    warm_up = min(15.0, seconds / 3)
    await asyncio.sleep(warm_up)
    warm = await _stats(server)
    await asyncio.sleep(seconds - warm_up)
    soak.running = False
    await asyncio.gather(*drivers)
    await soak.settle()
    after = await _stats(server)
    live = soak.live()
    expected_rooms: dict[str, set[str]] = {}
    for session in live:
        for room, nick in session.joined.items():
            expected_rooms.setdefault(room, set()).add(nick)
    actual_rooms = {
        room: {occupant.partition("/")[2] for occupant in occupants}
        for room, occupants in after["rooms"].items()
        if occupants
    }
    verdict = check(soak.sessions, soak.sent)
    await asyncio.gather(*(session.close() for session in live))
    deadline = time.monotonic() + 30
    while True:
        final = await _stats(server)
        if final["connections"] == 0 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    return {
        "soak": soak,
        "verdict": verdict,
        "warm": warm,
        "after": after,
        "final": final,
        "expected_rooms": expected_rooms,
        "actual_rooms": actual_rooms,
        "duration": time.monotonic() - began,
    }


def _figures(result: dict[str, Any]) -> str:
    soak: Soak = result["soak"]
    v: Verdict = result["verdict"]
    stanzas = sum(s.stanzas_in + s.stanzas_out for s in soak.sessions)
    leaked = sum(len(n) for n in result["final"]["rooms"].values())
    actions = ", ".join(f"{k} {n}" for k, n in sorted(soak.counts.items()))
    return (
        f"soak: {CLIENTS} clients ({len(soak.sessions)} sessions), {ROOMS} rooms, "
        f"{result['duration']:.0f} s, {stanzas} stanzas on the wire\n"
        f"  actions: {actions}\n"
        f"  groupchat: {v.messages} broadcast, {v.deliveries} deliveries, {v.rejected} refused, "
        f"{v.unobserved_after_drop} unseen (sender reset), {v.excused_after_drop} copies after "
        "a reset\n"
        f"  private: {v.private_delivered} delivered, {v.private_errors} refused\n"
        f"  lost={v.lost + v.private_lost} duplicated={v.duplicated} "
        f"misdelivered={v.misdelivered} out_of_order={v.out_of_order} "
        f"disagreements={v.disagreements} leaked_occupants={leaked}\n"
        f"  server RSS: warm-up {result['warm']['rss_kib'] / 1024:.1f} MiB, "
        f"after soak {result['after']['rss_kib'] / 1024:.1f} MiB, "
        f"after all left {result['final']['rss_kib'] / 1024:.1f} MiB "
        f"(peak {result['final']['max_rss_kib'] / 1024:.1f} MiB; "
        f"{result['after']['write_buffered']} bytes buffered for clients after the soak)"
    )


def test_soak(soak_duration: float) -> None:
    seconds = soak_duration
    server = ServerProcess()
    try:
        result = asyncio.run(_soak(server, seconds))
    finally:
        stderr = server.stop()
    figures = _figures(result)
    print(figures)
    soak: Soak = result["soak"]
    v: Verdict = result["verdict"]
    assert not soak.failures, soak.failures[:10]
    assert (v.lost, v.private_lost, v.duplicated, v.misdelivered) == (0, 0, 0, 0), v.problems
    assert (v.out_of_order, v.disagreements) == (0, 0), v.problems
    assert v.messages > 0 and v.deliveries > v.messages, figures
    assert result["actual_rooms"] == result["expected_rooms"], "occupants differ from sessions"
    final = result["final"]
    assert (final["sessions"], final["connections"]) == (0, 0), final
    assert not any(final["rooms"].values()), final["rooms"]
    assert not final["problems"], final["problems"][:10]
    assert "Traceback" not in stderr, stderr[-3000:]
    growth = result["after"]["rss_kib"] / result["warm"]["rss_kib"] - 1
    assert growth <= MEMORY_TOLERANCE, f"RSS grew {growth:.1%} after warm-up\n{figures}"
