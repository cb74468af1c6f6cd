"""A mass disconnect: thousands of unauthenticated sockets time out together.

`scansion-py serve` (its console log included, as a user runs it) gets
`--sockets` connections that never log in (half open a stream, half send
nothing); a logged-in bystander pings the server every 20 ms throughout. When
the negotiation timeout ends them all at once, the server writes a stream
error to each and closes it: the figure is how long the bystander's pings wait
meanwhile (max and p99), and how long the server took to drop them all.

    python bench/mass_timeout.py --sockets 5000
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import socket
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.flood import ServeProcess
from bench.loadgen import Address, expectation, login
from bench.results import percentile_ms

_HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
)
_PING = "<iq type='get' id='{id}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"


async def measure(sockets_wanted: int, timeout: float) -> dict[str, float | int | None]:
    with tempfile.TemporaryDirectory() as scratch:
        config = Path(scratch) / "serve.toml"
        config.write_text(f"negotiation_timeout = {timeout}\nmuc_host = ''\n")
        server = ServeProcess(limits=True, config=config)
        await server.start()
        try:
            return await _run(Address("127.0.0.1", server.port), sockets_wanted, timeout)
        finally:
            await server.stop()


async def _run(address: Address, count: int, timeout: float) -> dict[str, float | int | None]:
    loop = asyncio.get_running_loop()
    bystander = await login(address, "bystander", "bystander")
    latencies: list[int] = []
    stop = asyncio.Event()

    async def ping_forever() -> None:
        index = 0
        while not stop.is_set():
            index += 1
            ping_id = f"b{index}"
            started = time.perf_counter_ns()
            bystander.send(_PING.format(id=ping_id).encode())
            pattern = expectation(rb"id=[\"']" + ping_id.encode() + rb"[\"']")
            await asyncio.wait_for(bystander.expect(pattern, "ping reply"), 120)
            latencies.append(time.perf_counter_ns() - started)
            await asyncio.sleep(0.02)

    pinger = asyncio.create_task(ping_forever())
    idle: list[socket.socket] = []
    opened = time.monotonic()
    for index in range(count):
        sock = socket.socket()
        sock.setblocking(False)
        await loop.sock_connect(sock, (address.host, address.port))
        if index % 2:
            await loop.sock_sendall(sock, _HEADER)
        idle.append(sock)
    connected_s = time.monotonic() - opened
    latencies.clear()  # from here on: the idle period, then the mass timeout
    # The last socket is dropped `timeout` after it connected; wait for its EOF.
    last = idle[-1]
    dropped_at = None
    async with asyncio.timeout(timeout + 120):
        while await loop.sock_recv(last, 65536):
            pass
        dropped_at = time.monotonic()
    await asyncio.sleep(1.0)  # pings right after the wave
    stop.set()
    await pinger
    for sock in idle:
        sock.close()
    await bystander.close(5.0)
    return {
        "sockets": count,
        "connect_s": round(connected_s, 2),
        "all_dropped_after_last_connect_s": round(dropped_at - opened - connected_s, 2),
        "pings": len(latencies),
        "p50_ms": percentile_ms(latencies, 0.5),
        "p99_ms": percentile_ms(latencies, 0.99),
        "max_ms": max(latencies) / 1e6 if latencies else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=5000, help="idle sockets (5000)")
    parser.add_argument("--timeout", type=float, default=5.0, help="negotiation timeout (5 s)")
    args = parser.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = args.sockets + 200
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))
    figures = asyncio.run(measure(args.sockets, args.timeout))
    for key, value in figures.items():
        print(f"{key:>36}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
