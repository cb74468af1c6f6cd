"""The embeddable reference server: `async with ReferenceServer(config) as server`.

Each instance has its own sessions, rosters and components, listens on its own
port (ephemeral by default) and starts and stops in milliseconds: nothing slow
happens at start (the TLS certificate is made on the first STARTTLS).
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType

from reference.c2s import ClientSession
from reference.config import ConfigError, ServerConfig
from reference.router import Hub
from reference.tls import server_context

log = logging.getLogger("reference.server")

_BACKLOG = 4096


class ReferenceServer:
    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config or ServerConfig()
        self.hub: Hub | None = None
        self.port: int = 0
        self.direct_tls_port: int | None = None
        self._listeners: list[asyncio.Server] = []

    async def start(self) -> None:
        if self.hub is not None:
            raise RuntimeError("this server is already running")
        config = self.config
        hub = Hub(config)
        if config.muc_host:
            try:
                from reference.muc import MUCService
            except ImportError as exc:
                raise ConfigError(
                    f"the MUC service for {config.muc_host} cannot be loaded ({exc}); "
                    'run without it: --no-muc, or muc_host = "" in the config file'
                ) from exc
            hub.add_component(
                MUCService(
                    host=config.muc_host,
                    admins=config.admins,
                    database=config.database,
                    contact_info=config.contact_info,
                )
            )
        loop = asyncio.get_running_loop()
        try:
            plain = await loop.create_server(
                lambda: ClientSession(hub), config.host, config.port, backlog=_BACKLOG
            )
            self._listeners.append(plain)
            self.port = plain.sockets[0].getsockname()[1]
            if config.direct_tls_port is not None:
                secure = await loop.create_server(
                    lambda: ClientSession(hub, direct_tls=True),
                    config.host,
                    config.direct_tls_port,
                    ssl=server_context(config),
                    backlog=_BACKLOG,
                )
                self._listeners.append(secure)
                self.direct_tls_port = secure.sockets[0].getsockname()[1]
        except BaseException:
            for listener in self._listeners:
                listener.close()
            self._listeners.clear()
            for component in hub.components.values():
                component.close()
            raise
        self.hub = hub
        log.info("listening on %s:%d for %s", config.host, self.port, config.domain)

    async def stop(self) -> None:
        """Stop listening, end every session with `system-shutdown`, close the components."""
        hub = self.hub
        if hub is None:
            return
        self.hub = None
        for listener in self._listeners:
            listener.close()
        hub.shutdown()
        hub.tally.close()
        for listener in self._listeners:
            await listener.wait_closed()
        self._listeners.clear()

    async def __aenter__(self) -> ReferenceServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
