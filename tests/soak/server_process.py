"""The reference server in a process of its own, driven over stdin/stdout by the soak test.

Its own process so its resident memory is its own. It prints `PORT <n>`, then
answers each `stats` line on stdin with one JSON line: resident memory after a
full garbage collection (and freed C heap returned to the system), bytes waiting
in write buffers, sessions, connections, every room's occupants, and
every ERROR log record and asyncio exception-handler call seen so far. EOF on
stdin stops it. Usage: `python tests/soak/server_process.py [DATABASE]`, or `ServerProcess()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import json
import logging
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from reference.config import ServerConfig
from reference.server import ReferenceServer

PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


class _Problems(logging.Handler):
    """Keeps every ERROR (or worse) record, whichever logger emitted it."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(f"{record.name}: {self.format(record)}")


def _release_free_heap() -> None:
    """Hand freed C heap back to the system (glibc), so RSS shows what is live, not the peak."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: RSS includes free heap
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def rss_kib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_KIB


def _occupants(server: ReferenceServer) -> dict[str, dict[str, list[str]]]:
    hub = server.hub
    assert hub is not None
    service: Any = hub.components.get(server.config.muc_host or "")
    if service is None:
        return {}
    return {
        jid: {nick: sorted(occupant.sessions) for nick, occupant in room.occupants.items()}
        for jid, room in service.rooms.items()
    }


async def main(database: Path | None) -> None:
    problems = _Problems()
    logging.getLogger().addHandler(problems)
    loop = asyncio.get_running_loop()

    def on_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        problems.seen.append(f"asyncio: {context.get('message')} {context.get('exception')!r}")
        loop.default_exception_handler(context)

    loop.set_exception_handler(on_exception)
    server = ReferenceServer(ServerConfig(database=database))
    await server.start()
    print(f"PORT {server.port}", flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        if line.strip() != b"stats":
            continue
        gc.collect()
        _release_free_heap()
        hub = server.hub
        assert hub is not None
        stats = {
            "rss_kib": rss_kib(),
            "write_buffered": sum(
                s.transport.get_write_buffer_size()
                for s in hub.connections
                if s.transport is not None and not s.transport.is_closing()
            ),
            "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "sessions": len(hub.sessions),
            "connections": len(hub.connections),
            "rooms": _occupants(server),
            "problems": problems.seen,
        }
        print(json.dumps(stats), flush=True)
    await server.stop()


class ServerProcess:
    """Runs this file as a child process; `stats()` asks it, `stop()` ends it (EOF)."""

    def __init__(self, database: Path | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, *([str(database)] if database else [])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.process.kill()
            raise RuntimeError(f"the server did not start: {line}{self.process.stderr.read()}")
        self.port = int(line.split()[1])

    def stats(self) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("stats\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def stop(self) -> str:
        _, stderr = self.process.communicate(timeout=30)
        return stderr


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
