"""Raw-bytes XMPP client connections, cheap enough that the server is the bottleneck.

A load generator that parses XML would measure itself. Here a connection logs in
with hand-written bytes (stream header, SASL PLAIN, bind) and regular
expressions over the received bytes; once logged in it hands every received
chunk, cut at the last `>`, to a sink that scans for markers the scenarios put
in their stanzas. A marker never spans a `>`, so each one is seen exactly once.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

DOMAIN = "localhost"
MUC_HOST = "conference.localhost"

_STREAM_HEADER = (
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' to='{domain}' version='1.0'>"
)
_AUTH = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{payload}</auth>"
_BIND = (
    "<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
    "<resource>{resource}</resource></bind></iq>"
)
STREAM_END = b"</stream:stream>"

# Every expectation also watches for what ends the login: a stream error or a SASL failure.
_FAILURES = rb"(?P<failure><stream:error\b.*?</stream:error>|<failure\b.*?(?:</failure>|/>))"
_FEATURES = rb"</stream:features>"
_SUCCESS = rb"<success\b[^>]*/>|</success>"
_BOUND = rb"<jid>(?P<jid>[^<]+)</jid>|<iq\b[^>]*type=['\"]error['\"]"


class LoadError(Exception):
    """A connection that could not do its part; the message names the user and the stage."""


@dataclass(frozen=True)
class Address:
    host: str
    port: int


def expectation(pattern: bytes) -> re.Pattern[bytes]:
    """A pattern that matches `pattern` or a failure, whichever comes first."""
    return re.compile(rb"(?P<want>" + pattern + rb")|" + _FAILURES, re.DOTALL)


_EXPECT_FEATURES = expectation(_FEATURES)
_EXPECT_SUCCESS = expectation(_SUCCESS)
_EXPECT_BOUND = expectation(_BOUND)


class Connection(asyncio.Protocol):
    """One client stream: `expect` while logging in, then a sink for every chunk."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.transport: asyncio.Transport | None = None
        self.close_reason: str | None = None
        self._buffer = bytearray()
        self._pos = 0
        self._waiter: tuple[re.Pattern[bytes], asyncio.Future[re.Match[bytes]]] | None = None
        self._sink: Callable[[bytes], None] | None = None
        self._tail = b""
        self._closed = asyncio.get_running_loop().create_future()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self._sink is not None:
            self._feed_sink(data)
            return
        self._buffer += data
        if self._waiter is not None:
            pattern, future = self._waiter
            match = pattern.search(self._buffer, self._pos)
            if match is not None and not future.done():
                future.set_result(match)

    def connection_lost(self, exc: Exception | None) -> None:
        self.close_reason = str(exc) if exc else "closed by the server"
        if not self._closed.done():
            self._closed.set_result(None)
        if self._waiter is not None and not self._waiter[1].done():
            self._waiter[1].set_exception(LoadError(f"{self.label}: {self.close_reason}"))

    # use

    @property
    def closed(self) -> bool:
        return self._closed.done()

    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    async def expect(self, pattern: re.Pattern[bytes], what: str) -> re.Match[bytes]:
        """Wait for `pattern` (built by `expectation`) after what was already consumed."""
        match = pattern.search(self._buffer, self._pos)
        if match is None:
            if self.closed:
                raise LoadError(f"{self.label}: {self.close_reason} while waiting for {what}")
            future = asyncio.get_running_loop().create_future()
            self._waiter = (pattern, future)
            try:
                match = await future
            finally:
                self._waiter = None
        self._pos = match.end()
        if match["failure"] is not None:
            failure = match["failure"].decode(errors="replace")
            raise LoadError(f"{self.label}: {failure} while waiting for {what}")
        return match

    def consumed_since(self, start: int) -> bytes:
        return bytes(self._buffer[start : self._pos])

    @property
    def position(self) -> int:
        return self._pos

    def start_sink(self, sink: Callable[[bytes], None]) -> None:
        """From now on every received chunk goes to `sink`, starting with what is unread."""
        pending = bytes(self._buffer[self._pos :])
        self._buffer = bytearray()
        self._pos = 0
        self._sink = sink
        if pending:
            self._feed_sink(pending)

    def _feed_sink(self, data: bytes) -> None:
        end = data.rfind(b">")
        if end < 0:
            self._tail += data
            return
        chunk = self._tail + data[: end + 1] if self._tail else data[: end + 1]
        self._tail = data[end + 1 :]
        assert self._sink is not None
        self._sink(chunk)

    async def close(self, timeout: float) -> None:
        """End the stream and wait (bounded) for the server to close its side."""
        if self.transport is None or self.closed:
            return
        self.send(STREAM_END)
        try:
            await asyncio.wait_for(asyncio.shield(self._closed), timeout)
        except TimeoutError:
            self.transport.abort()


async def login(address: Address, user: str, label: str) -> Connection:
    """Connect, authenticate with PLAIN (any password), bind; the stream is ready for stanzas."""
    loop = asyncio.get_running_loop()
    try:
        _, conn = await loop.create_connection(
            lambda: Connection(label), address.host, address.port
        )
    except OSError as exc:
        raise LoadError(
            f"{label}: cannot connect to {address.host}:{address.port}: {exc.strerror or exc}"
        ) from None
    try:
        header = _STREAM_HEADER.format(domain=DOMAIN).encode()
        conn.send(header)
        start = conn.position
        await conn.expect(_EXPECT_FEATURES, "stream features")
        if b"PLAIN" not in conn.consumed_since(start):
            raise LoadError(f"{label}: the server offers no SASL PLAIN on a plain stream")
        payload = base64.b64encode(f"\0{user}\0{user}".encode()).decode()
        conn.send(_AUTH.format(payload=payload).encode())
        await conn.expect(_EXPECT_SUCCESS, "SASL success")
        conn.send(header)
        await conn.expect(_EXPECT_FEATURES, "stream features after SASL")
        conn.send(_BIND.format(resource="bench").encode())
        bound = await conn.expect(_EXPECT_BOUND, "bind result")
        if bound["jid"] is None:
            raise LoadError(f"{label}: the server refused to bind a resource")
    except BaseException:
        if conn.transport is not None:
            conn.transport.abort()
        raise
    return conn
