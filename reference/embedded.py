"""The reference server as the harness's `reference` target (entry point `scansion_py.targets`).

The harness never imports this package: it finds this factory through the
entry point, as it would find any other embedded server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from protocol.endpoint import Endpoint
from reference.config import ServerConfig
from reference.server import ReferenceServer


@asynccontextmanager
async def embedded_server() -> AsyncIterator[Endpoint]:
    """A fresh reference server on a free loopback port, alive for the block."""
    # Loopback inside this process: TLS would only cost a certificate per script.
    async with ReferenceServer(ServerConfig(starttls=False)) as server:
        yield Endpoint("127.0.0.1", server.port, False)
