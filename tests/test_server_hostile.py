"""Hostile input closes only the offending stream, with the right error; others carry on."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import resource
import socket
import struct
import time
from collections.abc import Awaitable, Callable

import pytest
from lxml import etree
from test_server_support import HEADER, RawClient, q

from protocol import namespaces as ns
from reference.config import ServerConfig
from reference.server import ReferenceServer

PING = "<iq type='get' id='{id}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"

BILLION_LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    "<message><body>&lol3;</body></message>"
)
EXTERNAL_ENTITY = (
    '<!DOCTYPE m [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><message><body>&xxe;</body></message>'
)
TEN_MB_BODY = "<message to='juliet@localhost'><body>" + "A" * (10 * 1024 * 1024)


async def _still_works(client: RawClient, round_id: str) -> None:
    await client.send(PING.format(id=round_id))
    pong = await client.wait_for(lambda e: e.get("id") == round_id)
    assert pong.get("type") == "result"


async def _with_bystander(
    test: Callable[[ReferenceServer, RawClient], Awaitable[None]],
) -> None:
    async with ReferenceServer(ServerConfig(muc_host=None)) as server:
        bystander = await RawClient.logged_in(server.port, "bystander")
        await asyncio.wait_for(test(server, bystander), 60)
        await _still_works(bystander, "after")
        await bystander.close()


@pytest.mark.parametrize(
    ("payload", "condition"),
    [
        ("<message><body>unclosed</message>", "not-well-formed"),
        (BILLION_LAUGHS, "restricted-xml"),
        (EXTERNAL_ENTITY, "restricted-xml"),
        ("<message><body>&unknown;</body></message>", "restricted-xml"),
        ("<!-- a comment --><message/>", "restricted-xml"),
        ("<?php echo 1; ?>", "restricted-xml"),
        (TEN_MB_BODY, "policy-violation"),
        ("<r xmlns='urn:xmpp:sm:3'/>", "unsupported-stanza-type"),
        ("<message>" + "<a>" * 5000, "not-well-formed"),
        ("<presence><<<garbage", "not-well-formed"),
        ("<message><body>\x00</body></message>", "not-well-formed"),
        ("<message><body>" + "&amp;" * 60_000 + "</body></message>", "policy-violation"),
    ],
    ids=[
        "unclosed",
        "billion-laughs",
        "external-entity",
        "undefined-entity",
        "comment",
        "pi",
        "10MB-stanza",
        "unknown-element",
        "deep-nesting",
        "garbage-then-silence",
        "nul-character",
        "many-entities",
    ],
)
def test_bad_input_after_login_ends_only_that_stream(payload: str, condition: str) -> None:
    async def test(server: ReferenceServer, bystander: RawClient) -> None:
        attacker = await RawClient.logged_in(server.port, "mallory")
        # The server may close while a huge payload is still being written.
        with contextlib.suppress(ConnectionError):
            await attacker.send(payload)
        assert await attacker.stream_error() == condition
        await attacker.close()
        await _still_works(bystander, "during")
        assert "mallory" not in "".join(server.hub.sessions)

    asyncio.run(_with_bystander(test))


@pytest.mark.parametrize(
    ("payload", "condition"),
    [
        ("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", "not-well-formed"),
        ("<!DOCTYPE stream:stream>" + HEADER, "restricted-xml"),
        ("<html xmlns='http://www.w3.org/1999/xhtml'>", "invalid-namespace"),
        (HEADER.replace("to='localhost'", "to='example.org'"), "host-unknown"),
        (HEADER.replace("xmlns='jabber:client'", "xmlns='jabber:server'"), "invalid-namespace"),
        (HEADER + "<message to='x@localhost'><body>hi</body></message>", "not-authorized"),
        (HEADER + "<presence>" + "x" * (300 * 1024), "policy-violation"),
    ],
    ids=[
        "http",
        "dtd",
        "wrong-root",
        "wrong-host",
        "wrong-namespace",
        "stanza-unauthenticated",
        "too-much-unauthenticated",
    ],
)
def test_bad_input_before_login_gets_header_then_error(payload: str, condition: str) -> None:
    async def test(server: ReferenceServer, bystander: RawClient) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(payload.encode())
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert answer.startswith(b"<?xml version='1.0'?><stream:stream "), answer[:200]
        assert f"<stream:error><{condition} ".encode() in answer, answer[-300:]
        assert answer.endswith(b"</stream:stream>")
        await _still_works(bystander, "during")

    asyncio.run(_with_bystander(test))


def test_two_thousand_connections_dropped_abruptly() -> None:
    async def test(server: ReferenceServer, bystander: RawClient) -> None:
        loop = asyncio.get_running_loop()
        for batch in range(10):
            sockets = []
            for i in range(200):
                sock = socket.socket()
                sock.setblocking(False)
                await loop.sock_connect(sock, ("127.0.0.1", server.port))
                if i % 2:  # half of them start a stream first
                    await loop.sock_sendall(sock, HEADER[: 40 + i].encode())
                sockets.append(sock)
            for sock in sockets:
                # RST instead of FIN: the abrupt kind of disconnect.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
            await _still_works(bystander, f"batch{batch}")
        for _ in range(500):
            if len(server.hub.connections) == 1:
                break
            await asyncio.sleep(0.01)
        assert len(server.hub.connections) == 1  # only the bystander
        assert list(server.hub.sessions) == [bystander.full_jid]

    asyncio.run(_with_bystander(test))


def test_client_that_stops_reading_is_cut_off() -> None:
    async def main() -> None:
        config = ServerConfig(muc_host=None, max_write_buffer_bytes=256 * 1024)
        async with ReferenceServer(config) as server:
            sleeper = await RawClient.logged_in(server.port, "sleeper")  # never reads again
            bystander = await RawClient.logged_in(server.port, "bystander")
            message = f"<message to='{sleeper.full_jid}'><body>{'z' * 1000}</body></message>"
            for round_id in range(200):
                if sleeper.full_jid not in server.hub.sessions:
                    break
                await bystander.send(message * 100)
                await _still_works(bystander, f"r{round_id}")
            assert sleeper.full_jid not in server.hub.sessions
            await _still_works(bystander, "after")
            sleeper.abort()
            await bystander.close()

    asyncio.run(main())


def test_slowloris_stream_times_out_before_negotiating() -> None:
    """One byte every 50 ms never completes a login: cut after `negotiation_timeout`."""

    async def main() -> None:
        config = ServerConfig(muc_host=None, negotiation_timeout=1.0)
        async with ReferenceServer(config) as server:
            bystander = await RawClient.logged_in(server.port, "bystander")
            slow = await RawClient.connect(server.port)
            started = time.monotonic()

            async def drip() -> None:
                with contextlib.suppress(ConnectionError):
                    for byte in HEADER.encode():
                        await slow.send(bytes([byte]))
                        await asyncio.sleep(0.05)

            dripping = asyncio.create_task(drip())
            assert await slow.stream_error(timeout=5) == "connection-timeout"
            elapsed = time.monotonic() - started
            dripping.cancel()
            await slow.close()
            assert elapsed >= 1.0, elapsed  # not before the bound (5 s above is the deadline)
            await asyncio.sleep(1.2)  # past the bound: a bound stream is never timed out
            await _still_works(bystander, "after")
            await bystander.close()

    asyncio.run(main())


def test_authenticated_but_never_bound_times_out() -> None:
    async def main() -> None:
        config = ServerConfig(muc_host=None, negotiation_timeout=0.5)
        async with ReferenceServer(config) as server:
            client = await RawClient.connect(server.port)
            await client.open_stream()
            token = base64.b64encode(b"\0lazy\0pw").decode()
            await client.send(f"<auth xmlns='{ns.SASL}' mechanism='PLAIN'>{token}</auth>")
            assert etree.QName(await client.element()).localname == "success"
            await client.open_stream()
            assert await client.stream_error(timeout=5) == "connection-timeout"
            await client.close()

    asyncio.run(main())


@pytest.mark.parametrize("count", [500, pytest.param(5000, marks=pytest.mark.long)])
def test_idle_unauthenticated_connections_are_timed_out_together(count: int) -> None:
    """Sockets that never log in: the server keeps serving, then drops them all."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * count + 200  # both ends live in this process
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"needs {needed} file descriptors; the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))

    async def main() -> None:
        # Long enough for most of them to be open at once, whatever the machine's load.
        config = ServerConfig(muc_host=None, negotiation_timeout=count / 500 * 2.0)
        async with ReferenceServer(config) as server:
            bystander = await RawClient.logged_in(server.port, "bystander")
            loop = asyncio.get_running_loop()
            sockets: list[socket.socket] = []
            async with asyncio.timeout(120):  # a deadline for connecting them all
                for index in range(count):
                    sock = socket.socket()
                    sock.setblocking(False)
                    await loop.sock_connect(sock, ("127.0.0.1", server.port))
                    if index % 2:  # half of them open a stream and stop there
                        await loop.sock_sendall(sock, HEADER.encode())
                    sockets.append(sock)
                await _still_works(bystander, "while-idle")
                while len(server.hub.connections) > 1:
                    await asyncio.sleep(0.1)
            # Every idle socket got the reason before it was closed.
            tails = [await _read_all(loop, sock) for sock in sockets[:50]]
            for sock in sockets:
                sock.close()
            assert all(b"<connection-timeout " in tail for tail in tails), tails[:2]
            assert list(server.hub.sessions) == [bystander.full_jid]
            await _still_works(bystander, "after")
            await bystander.close()

    asyncio.run(main())


async def _read_all(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> bytes:
    chunks = []
    with contextlib.suppress(ConnectionError):
        while chunk := await asyncio.wait_for(loop.sock_recv(sock, 65536), 10):
            chunks.append(chunk)
    return b"".join(chunks)


def test_same_resource_replaces_the_older_session_with_conflict() -> None:
    async def test(server: ReferenceServer, bystander: RawClient) -> None:
        first = await RawClient.logged_in(server.port, "romeo", resource="orchard")
        second = await RawClient.logged_in(server.port, "romeo", resource="orchard")
        assert first.full_jid == second.full_jid == "romeo@localhost/orchard"
        assert await first.stream_error() == "conflict"
        await _still_works(second, "second")
        assert server.hub.sessions[second.full_jid] is not None
        assert len(server.hub.users["romeo@localhost"]) == 1
        await first.close()
        await second.close()

    asyncio.run(_with_bystander(test))


def test_stanzas_before_binding_are_refused() -> None:
    async def test(server: ReferenceServer, bystander: RawClient) -> None:
        client = await RawClient.connect(server.port)
        await client.open_stream()
        token = base64.b64encode(b"\0early\0pw").decode()
        await client.send(f"<auth xmlns='{ns.SASL}' mechanism='PLAIN'>{token}</auth>")
        assert etree.QName(await client.element()).localname == "success"
        await client.open_stream()
        await client.send(f"<message to='{bystander.full_jid}'><body>sneaky</body></message>")
        assert await client.stream_error() == "not-authorized"
        await client.close()
        with pytest.raises(TimeoutError):
            await bystander.wait_for(lambda e: e.tag == q("message"), timeout=0.3)

    asyncio.run(_with_bystander(test))
