"""Fairness and limits: a flood waits its turn, rate limits pause reading, failed logins count."""

from __future__ import annotations

import asyncio
import base64
import logging

import pytest
from lxml import etree
from test_server_support import RawClient

from protocol import namespaces as ns
from reference.config import ServerConfig
from reference.server import ReferenceServer

PING = "<iq type='get' id='{id}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"


def _auth(user: str, password: str) -> str:
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    return f"<auth xmlns='{ns.SASL}' mechanism='PLAIN'>{token}</auth>"


async def _failure(client: RawClient) -> str:
    answer = await client.element()
    assert etree.QName(answer).localname == "failure", etree.tostring(answer)
    return etree.QName(answer[0]).localname


def test_a_flood_waits_its_turn_behind_other_clients() -> None:
    """3,000 pings in one write: another client's ping is handled long before the last."""
    count = 3000

    async def main() -> None:
        async with ReferenceServer(ServerConfig(muc_host=None)) as server:
            flooder = await RawClient.logged_in(server.port, "flooder")
            bystander = await RawClient.logged_in(server.port, "bystander")
            handled: list[str] = []
            hub = server.hub
            assert hub is not None
            route = hub.client_stanza

            def recording(session, stanza):  # type: ignore[no-untyped-def]
                handled.append(stanza.get("id") or "")
                route(session, stanza)

            hub.client_stanza = recording  # type: ignore[method-assign]
            flood = "".join(PING.format(id=f"f{i}") for i in range(count))
            await flooder.send(flood)
            await bystander.send(PING.format(id="bystander"))
            reply = await bystander.wait_for(lambda e: e.get("id") == "bystander", timeout=60)
            assert reply.get("type") == "result"
            await flooder.wait_for(lambda e: e.get("id") == f"f{count - 1}", timeout=60)
            position = handled.index("bystander")
            # A connection's share is 32 stanzas a turn: a few turns, not the whole flood.
            assert position < 200, f"the bystander waited for {position} flood stanzas"
            assert [i for i in handled if i != "bystander"] == [f"f{i}" for i in range(count)]
            await flooder.close()
            await bystander.close()

    asyncio.run(main())


def test_over_the_rate_limit_reading_pauses_and_nothing_is_dropped() -> None:
    config = ServerConfig(muc_host=None, c2s_rate_bytes=2000, c2s_burst_bytes=2000)

    async def main() -> None:
        async with ReferenceServer(config) as server:
            client = await RawClient.logged_in(server.port, "chatty")
            hub = server.hub
            assert hub is not None
            session = hub.sessions[client.full_jid]
            await client.send("".join(PING.format(id=f"p{i}") for i in range(60)))  # ~5 kB
            await client.wait_for(lambda e: e.get("id") == "p0", timeout=30)
            assert "rate" in session._holds, "reading is paused once the burst is spent"
            await client.wait_for(lambda e: e.get("id") == "p59", timeout=30)
            await client.send(PING.format(id="later"))  # read once the balance refills
            await client.wait_for(lambda e: e.get("id") == "later", timeout=30)
            await client.close()

    asyncio.run(main())


def test_embedded_servers_have_no_rate_limit() -> None:
    assert ServerConfig().c2s_rate_bytes == 0
    assert ServerConfig().auth_failures_per_address == 0


def test_a_connection_gets_three_login_attempts(caplog: pytest.LogCaptureFixture) -> None:
    config = ServerConfig(muc_host=None, accounts={"romeo": "right"})

    async def main() -> None:
        async with ReferenceServer(config) as server:
            client = await RawClient.connect(server.port)
            await client.open_stream()
            for _ in range(2):
                await client.send(_auth("romeo", "wrong"))
                assert await _failure(client) == "not-authorized"
            await client.send(_auth("romeo", "wrong"))
            assert await _failure(client) == "not-authorized"
            assert await client.stream_error() == "policy-violation"
            await client.close()

    with caplog.at_level(logging.INFO, logger="reference"):
        asyncio.run(main())
    assert "3 x failed logins from 127.0.0.1 (last tried: romeo)" in caplog.messages


def test_an_address_over_its_failed_logins_is_refused_unchecked() -> None:
    config = ServerConfig(muc_host=None, accounts={"romeo": "right"}, auth_failures_per_address=2)

    async def main() -> None:
        async with ReferenceServer(config) as server:
            for _ in range(2):
                client = await RawClient.connect(server.port)
                await client.open_stream()
                await client.send(_auth("romeo", "wrong"))
                assert await _failure(client) == "not-authorized"
                await client.close()
            # Even the right password: the address must wait for its allowance to refill.
            client = await RawClient.connect(server.port)
            await client.open_stream()
            await client.send(_auth("romeo", "right"))
            assert await _failure(client) == "temporary-auth-failure"
            await client.close()

    asyncio.run(main())


def test_a_mass_timeout_is_logged_as_one_line(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        config = ServerConfig(muc_host=None, negotiation_timeout=0.2)
        async with ReferenceServer(config) as server:
            clients = [await RawClient.connect(server.port) for _ in range(20)]
            for client in clients:
                assert await client.stream_error(timeout=30) == "connection-timeout"
                await client.close()

    with caplog.at_level(logging.INFO, logger="reference"):
        asyncio.run(main())
    timeouts = [m for m in caplog.messages if "connection-timeout" in m]
    assert timeouts, caplog.messages
    assert sum(int(m.split(" x ")[0]) for m in timeouts) == 20
    assert len(timeouts) <= 3, timeouts  # one line a second, not one per stream
