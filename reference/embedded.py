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
async def embedded_server(
    domain: str = "localhost", muc: str | None = None
) -> AsyncIterator[Endpoint]:
    """A fresh reference server for `domain` (MUC at `muc`) on a free loopback port."""
    config = ServerConfig(
        domain=domain,
        muc_host=muc or f"conference.{domain}",
        admins=frozenset({f"admin@{domain}"}),
        # Loopback inside this process: TLS would only cost a certificate per script.
        starttls=False,
    )
    async with ReferenceServer(config) as server:
        yield Endpoint("127.0.0.1", server.port, False)
