"""Run the reference server alone in this process, on uvloop, until SIGTERM or SIGINT.

The bench starts this as a child so the server's CPU time is its own in /proc.
It prints `listening PORT` once ready; `--port N` chooses the port (default: a
free one). Test mode: any user, any password (PLAIN), MUC at conference.localhost,
no STARTTLS (loopback, like the other targets).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys


async def serve(port: int) -> None:
    from reference.config import ServerConfig
    from reference.server import ReferenceServer

    server = ReferenceServer(ServerConfig(port=port, starttls=False))
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"listening {server.port}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.serve_reference",
        description="Run the reference server for the bench; prints `listening PORT`.",
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        import uvloop
    except ImportError:
        print("uvloop is not installed; the bench needs it (pip install uvloop)", file=sys.stderr)
        return 2
    try:
        uvloop.run(serve(args.port))
    except ImportError as exc:
        print(f"the reference server cannot be loaded: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"the reference server cannot listen: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
