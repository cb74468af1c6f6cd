"""The client against real servers: Prosody 0.12 (plain TCP, PLAIN) and ejabberd 23.01 (STARTTLS).

Runs in asyncio debug mode and fails on a leaked socket or task. The Prosody
tests also run on uvloop, which the command line uses when it is installed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from lxml import etree

from harness.client import Client, ConnectionLost, NegotiationFailed
from protocol import namespaces as ns
from tests.support_leaks import no_leaked_sockets  # noqa: F401 (autouse)

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is optional
    uvloop = None

LOOPS = [
    "asyncio",
    pytest.param("uvloop", marks=pytest.mark.skipif(uvloop is None, reason="no uvloop")),
]


OPEN_CLIENTS: list[Client] = []


def run(test: Callable[[], Awaitable[None]], loop: str = "asyncio") -> None:
    """Run in debug mode, close every client even when the test fails, and insist
    that nothing is left running afterwards."""

    async def main() -> None:
        try:
            await test()
        finally:
            await asyncio.gather(*(client.close() for client in OPEN_CLIENTS))
            OPEN_CLIENTS.clear()
        leftover = asyncio.all_tasks() - {asyncio.current_task()}
        assert not leftover, leftover

    factory = uvloop.new_event_loop if loop == "uvloop" else None
    with asyncio.Runner(debug=True, loop_factory=factory) as runner:
        runner.run(main())


class Recorder:
    """Collects what a client receives and writes, and lets a test wait for a stanza."""

    def __init__(self) -> None:
        self.stanzas: list[etree._Element] = []
        self.closes: list[str] = []
        self.sent = b""
        self._arrived = asyncio.Event()

    def stanza(self, element: etree._Element) -> None:
        self.stanzas.append(element)
        self._arrived.set()

    def traffic(self, direction: str, data: bytes) -> None:
        if direction == "out":
            self.sent += data

    async def wait_for(self, count: int, timeout: float = 5) -> None:
        async with asyncio.timeout(timeout):
            while len(self.stanzas) < count:
                self._arrived.clear()
                await self._arrived.wait()


def make_client(server: tuple[str, int], jid: str, recorder: Recorder, **options: object) -> Client:
    host, port = server
    client = Client(
        jid,
        "password",
        host=host,
        port=port,
        on_stanza=recorder.stanza,
        on_close=recorder.closes.append,
        on_traffic=recorder.traffic,
        **options,  # type: ignore[arg-type]
    )
    OPEN_CLIENTS.append(client)
    return client


# -- Prosody ---------------------------------------------------------------------------


@pytest.mark.prosody
@pytest.mark.parametrize("loop", LOOPS)
def test_two_clients_exchange_a_message(prosody: tuple[str, int], loop: str) -> None:
    async def scenario() -> None:
        romeo_log, juliet_log = Recorder(), Recorder()
        romeo = make_client(prosody, "romeo@localhost", romeo_log)
        juliet = make_client(prosody, "juliet@localhost", juliet_log)
        await asyncio.gather(romeo.connect(5), juliet.connect(5))
        assert romeo.full_jid and romeo.full_jid.startswith("romeo@localhost/")
        assert juliet.full_jid and juliet.full_jid.startswith("juliet@localhost/")
        assert not romeo.encrypted

        await romeo.send_raw(
            f"<message to='{juliet.full_jid}' type='chat' id='m1'><body>Hi</body></message>"
        )
        await juliet_log.wait_for(1)
        message = juliet_log.stanzas[0]
        assert message.tag == f"{{{ns.CLIENT}}}message"
        assert message.get("from") == romeo.full_jid
        assert message.findtext(f"{{{ns.CLIENT}}}body") == "Hi"

        await asyncio.gather(romeo.close(), juliet.close())
        assert romeo.closed and juliet.closed
        assert romeo_log.closes == ["closed by the client"]
        for log in (romeo_log, juliet_log):
            # Nothing the script did not ask for: no presence, roster or session.
            assert b"<presence" not in log.sent
            assert ns.ROSTER.encode() not in log.sent
            assert ns.SESSION.encode() not in log.sent
            assert log.sent.endswith(b"</stream:stream>")

    run(scenario, loop)


@pytest.mark.prosody
def test_fixed_resource_is_bound_and_plain_is_used(prosody: tuple[str, int]) -> None:
    async def scenario() -> None:
        log = Recorder()
        client = make_client(prosody, "Romeo@LOCALHOST/mK0dD6Ha", log)
        await client.connect(5)
        assert client.full_jid == "romeo@localhost/mK0dD6Ha"
        # Prosody's test configuration offers PLAIN only (insecure authentication).
        assert b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" in log.sent
        assert b"<resource>mK0dD6Ha</resource>" in log.sent
        await client.close()

    run(scenario)


@pytest.mark.prosody
def test_many_stanzas_arrive_in_order(prosody: tuple[str, int]) -> None:
    async def scenario() -> None:
        sender_log, receiver_log = Recorder(), Recorder()
        sender = make_client(prosody, "sender@localhost", sender_log)
        receiver = make_client(prosody, "receiver@localhost", receiver_log)
        await asyncio.gather(sender.connect(5), receiver.connect(5))
        count = 40
        for i in range(count):
            # One write per stanza, as a script sends them; about 2 KiB in all, as the
            # frozen-clock Prosody stops reading a client that sends much more at once.
            await sender.send_raw(f"<message to='{receiver.full_jid}' id='m{i}'/>")
        await receiver_log.wait_for(count, timeout=20)
        assert [s.get("id") for s in receiver_log.stanzas] == [f"m{i}" for i in range(count)]
        await asyncio.gather(sender.close(), receiver.close())

    run(scenario)


@pytest.mark.prosody
def test_server_replacing_a_session_reports_the_stream_error(prosody: tuple[str, int]) -> None:
    async def scenario() -> None:
        first_log, second_log = Recorder(), Recorder()
        first = make_client(prosody, "mercutio@localhost/same", first_log)
        await first.connect(5)
        second = make_client(prosody, "mercutio@localhost/same", second_log)
        await second.connect(5)
        async with asyncio.timeout(5):
            while not first.closed:
                await asyncio.sleep(0.01)
        assert first.close_reason is not None
        assert first.close_reason.startswith("stream error from the server: conflict")
        assert first_log.closes == [first.close_reason]
        with pytest.raises(ConnectionLost, match="stream is closed"):
            await first.send_raw("<presence/>")
        await first.close()
        assert second.full_jid == "mercutio@localhost/same"
        await second.close()

    run(scenario)


@pytest.mark.prosody
def test_invalid_xml_sent_to_the_server_ends_the_stream(prosody: tuple[str, int]) -> None:
    async def scenario() -> None:
        log = Recorder()
        client = make_client(prosody, "tybalt@localhost", log)
        await client.connect(5)
        await client.send_raw("<message><unclosed></message>")
        async with asyncio.timeout(5):
            while not client.closed:
                await asyncio.sleep(0.01)
        assert client.close_reason == "stream error from the server: not-well-formed"
        await client.close()

    run(scenario)


# -- ejabberd --------------------------------------------------------------------------


@pytest.mark.ejabberd
@pytest.mark.parametrize("loop", LOOPS)
def test_starttls_with_a_self_signed_certificate(ejabberd: tuple[str, int], loop: str) -> None:
    async def scenario() -> None:
        log = Recorder()
        client = make_client(ejabberd, "romeo@localhost", log, insecure=True)
        await client.connect(10)
        assert client.encrypted
        assert log.sent.startswith(b"<?xml version='1.0'?><stream:stream")
        assert b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>" in log.sent
        assert client.full_jid and client.full_jid.startswith("romeo@localhost/")
        await client.send_raw(
            "<iq type='get' id='v1' to='localhost'><query xmlns='jabber:iq:version'/></iq>"
        )
        await log.wait_for(1)
        assert log.stanzas[0].get("id") == "v1"
        await client.close()
        assert client.closed

    run(scenario, loop)


@pytest.mark.ejabberd
@pytest.mark.parametrize("loop", LOOPS)
def test_untrusted_certificate_is_refused(ejabberd: tuple[str, int], loop: str) -> None:
    async def scenario() -> None:
        log = Recorder()
        client = make_client(ejabberd, "romeo@localhost", log, tls="require")
        with pytest.raises(NegotiationFailed) as err:
            await client.connect(10)
        assert str(err.value).startswith(
            "the TLS certificate of localhost is not trusted: self-signed certificate"
        )
        assert "insecure" in str(err.value)
        assert b"<auth" not in log.sent, "credentials must never go out before TLS is up"
        assert client.closed

    run(scenario, loop)


@pytest.mark.ejabberd
def test_tls_off_stays_plain(ejabberd: tuple[str, int]) -> None:
    async def scenario() -> None:
        log = Recorder()
        client = make_client(ejabberd, "juliet@localhost/balcony", log, tls="off")
        await client.connect(10)
        assert not client.encrypted
        assert b"starttls" not in log.sent
        assert client.full_jid == "juliet@localhost/balcony"
        await client.close()

    run(scenario)
