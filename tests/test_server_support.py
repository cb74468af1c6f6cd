"""A byte-level XMPP client for testing the reference server (no tests here).

Deliberately independent of the harness's client: it writes exactly what a test
says, including what no well-behaved client would send.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Callable

from lxml import etree

from protocol import namespaces as ns
from protocol.xmlstream import StreamClosed, StreamError, StreamOpened, XMLStreamParser

HEADER = (
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
)
STREAM_ERROR = f"{{{ns.STREAM}}}error"


class Closed(Exception):
    """The server closed the stream or the connection."""


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = XMLStreamParser(max_stanza_bytes=64 * 1024 * 1024)
        self.queue: list[object] = []
        self.full_jid = ""

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    @classmethod
    async def logged_in(
        cls, port: int, user: str, password: str = "pw", resource: str | None = None
    ) -> RawClient:
        client = await cls.connect(port)
        await client.login(user, password, resource)
        return client

    async def send(self, data: str | bytes) -> None:
        self.writer.write(data.encode() if isinstance(data, str) else data)
        await self.writer.drain()

    async def event(self, timeout: float = 5.0) -> object:
        """The next parsed event (stream header, element, StreamClosed)."""
        while not self.queue:
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                raise Closed("connection closed")
            try:
                self.queue.extend(self.parser.feed(data))
            except StreamError as exc:
                raise AssertionError(f"server sent bad XML: {exc}") from None
        return self.queue.pop(0)

    async def element(self, timeout: float = 5.0) -> etree._Element:
        while True:
            event = await self.event(timeout)
            if isinstance(event, etree._Element):
                if event.tag == STREAM_ERROR:
                    raise Closed(f"stream error: {etree.tostring(event).decode()}")
                return event
            if isinstance(event, StreamClosed):
                raise Closed("stream closed")

    async def wait_for(
        self, accept: Callable[[etree._Element], bool], timeout: float = 5.0
    ) -> etree._Element:
        """The first stanza `accept` takes; the others are skipped."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            element = await self.element(max(0.01, deadline - loop.time()))
            if accept(element):
                return element

    async def stream_error(self, timeout: float = 5.0) -> str:
        """Read until the stream error; return its condition and check the connection ends."""
        while True:
            event = await self.event(timeout)
            if isinstance(event, etree._Element) and event.tag == STREAM_ERROR:
                conditions = [
                    etree.QName(child).localname
                    for child in event
                    if etree.QName(child).namespace == ns.STREAMS_ERRORS
                    and etree.QName(child).localname != "text"
                ]
                rest = await asyncio.wait_for(self.reader.read(), timeout)
                assert rest in (b"", b"</stream:stream>"), rest
                return conditions[0]
            if isinstance(event, StreamClosed):
                raise AssertionError("stream closed without a stream error")

    async def open_stream(self) -> etree._Element:
        """Send a stream header; return the features."""
        self.parser.reset()
        await self.send(HEADER)
        opened = await self.event()
        assert isinstance(opened, StreamOpened), opened
        return await self.element()

    async def login(self, user: str, password: str = "pw", resource: str | None = None) -> str:
        await self.open_stream()
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        await self.send(f"<auth xmlns='{ns.SASL}' mechanism='PLAIN'>{token}</auth>")
        outcome = await self.element()
        if etree.QName(outcome).localname != "success":
            raise Closed(f"authentication failed: {etree.tostring(outcome).decode()}")
        await self.open_stream()
        res = f"<resource>{resource}</resource>" if resource else ""
        await self.send(f"<iq type='set' id='bind'><bind xmlns='{ns.BIND}'>{res}</bind></iq>")
        bound = await self.element()
        self.full_jid = bound.findtext(f".//{{{ns.BIND}}}jid") or ""
        assert self.full_jid, etree.tostring(bound)
        return self.full_jid

    async def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.write(b"</stream:stream>")
            self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()

    def abort(self) -> None:
        self.writer.transport.abort()


def q(tag: str, namespace: str = ns.CLIENT) -> str:
    return f"{{{namespace}}}{tag}"
