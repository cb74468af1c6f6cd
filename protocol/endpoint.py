"""Where a client connects to an XMPP server: the one address type both sides share."""

from __future__ import annotations

from typing import NamedTuple


class Endpoint(NamedTuple):
    host: str
    port: int
    direct_tls: bool
