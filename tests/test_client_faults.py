"""The client against scripted, misbehaving servers on a loopback ephemeral port.

Each test plays one server conversation by hand (a few lines of asyncio) to reach
the paths real servers rarely take: streams that end mid-negotiation, garbage,
stream errors, silence, SCRAM, refused bindings. Every test runs in asyncio debug
mode and fails on a leaked socket or task.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import ssl
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree

from harness.client import (
    AuthFailed,
    Client,
    ConnectionLost,
    ConnectTimeout,
    NegotiationFailed,
    StreamErrorReceived,
    TargetUnreachable,
)
from protocol import namespaces as ns
from protocol.sasl import ScramServer, derive_credentials
from tests.support_leaks import no_leaked_sockets  # noqa: F401 (autouse)

HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' id='s1' from='localhost' version='1.0'>"
)
PLAIN_ONLY = (
    b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
    b"<mechanism>PLAIN</mechanism></mechanisms></stream:features>"
)
BIND_FEATURES = (
    b"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>"
)
SUCCESS = b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
FULL_JID = "romeo@localhost/fake"


def run(test: Callable[[], Awaitable[None]]) -> None:
    """Run in debug mode and insist that nothing is left running afterwards."""

    async def main() -> None:
        await test()
        leftover = asyncio.all_tasks() - {asyncio.current_task()}
        assert not leftover, leftover

    asyncio.run(main(), debug=True)


class Peer:
    """The server's end of one connection, driven by the test."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.received = b""
        self._seen = 0

    async def expect(self, pattern: bytes) -> bytes:
        """Read until `pattern` (a regex) appears after what was already matched."""
        regex = re.compile(pattern)
        while True:
            found = regex.search(self.received, self._seen)
            if found:
                self._seen = found.end()
                return found.group(0)
            chunk = await asyncio.wait_for(self.reader.read(65536), 30)  # a deadline, never hang
            if not chunk:
                raise ConnectionError(f"client hung up while the server waited for {pattern!r}")
            self.received += chunk

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def open_stream(self, then: bytes) -> None:
        """Wait for the client's stream header; answer with ours, followed by `then`."""
        await self.expect(rb"<stream:stream[^>]*>")
        self.send(HEADER + then)

    async def login(self, bind_features: bytes = BIND_FEATURES) -> bytes:
        """Play header, PLAIN and the restarted stream; return the client's bind iq."""
        await self.open_stream(PLAIN_ONLY)
        await self.expect(rb"</auth>")
        self.send(SUCCESS)
        await self.open_stream(bind_features)
        return await self.expect(rb"<iq[^>]*>.*?</iq>")

    def bind_result(self, iq: bytes, jid: str = FULL_JID) -> bytes:
        iq_id = re.search(rb"id='([^']*)'", iq).group(1)  # type: ignore[union-attr]
        return (
            b"<iq type='result' id='" + iq_id + b"'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
            b"<jid>" + jid.encode() + b"</jid></bind></iq>"
        )


class FakeServer:
    """A TCP (or direct TLS) server on 127.0.0.1; `conversation` plays the server side."""

    def __init__(
        self,
        conversation: Callable[[Peer], Awaitable[None]],
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.conversation = conversation
        self.tls = tls
        self.tasks: set[asyncio.Task[None]] = set()
        self.peers: list[Peer] = []
        self.errors: list[BaseException] = []

    async def __aenter__(self) -> FakeServer:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.server.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.server.wait_closed()
        # A refused TLS handshake leaves asyncio's own accept task finishing up.
        accepting = asyncio.all_tasks() - {asyncio.current_task()}
        if accepting:
            await asyncio.wait(accepting, timeout=1)

    async def finished(self) -> None:
        """Wait for every conversation to end (the server has read all it will read)."""
        async with asyncio.timeout(2):
            await asyncio.gather(*self.tasks)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        peer = Peer(reader, writer)
        self.peers.append(peer)
        try:
            await self.conversation(peer)
            await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception as exc:  # surfaced by the test, not lost in a log
            self.errors.append(exc)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()


def make_client(port: int, jid: str = "romeo@localhost", **options: object) -> Client:
    stanzas: list[etree._Element] = []
    closes: list[str] = []
    client = Client(
        jid,
        "pencil",
        host="127.0.0.1",
        port=port,
        on_stanza=stanzas.append,
        on_close=closes.append,
        **options,  # type: ignore[arg-type]
    )
    client.test_stanzas = stanzas  # type: ignore[attr-defined]
    client.test_closes = closes  # type: ignore[attr-defined]
    return client


async def never() -> None:
    await asyncio.Event().wait()


def silent_after(features: bytes) -> Callable[[Peer], Awaitable[None]]:
    """A server that answers the stream header with `features`, then says nothing more."""

    async def conversation(peer: Peer) -> None:
        await peer.open_stream(features)
        await never()

    return conversation


# -- connection failures ---------------------------------------------------------------


def test_connection_refused_names_the_target() -> None:
    async def scenario() -> None:
        client = make_client(1)
        with pytest.raises(TargetUnreachable) as err:
            await client.connect(2)
        assert str(err.value) == "cannot connect to 127.0.0.1:1: connection refused"
        assert client.closed

    run(scenario)


def test_silent_server_times_out_naming_the_phase() -> None:
    async def scenario() -> None:
        async def silent(peer: Peer) -> None:
            await never()

        async with FakeServer(silent) as server:
            client = make_client(server.port)
            started = time.monotonic()
            with pytest.raises(ConnectTimeout) as err:
                await client.connect(0.3)
            assert time.monotonic() - started >= 0.3  # it waited the timeout it was given
            assert err.value.phase == "waiting for the server's stream header"
            assert str(err.value) == (
                "timed out after 0.3 s while waiting for the server's stream header"
            )
            assert client.closed

    run(scenario)


def test_server_that_stops_answering_during_sasl() -> None:
    async def scenario() -> None:
        async with FakeServer(silent_after(PLAIN_ONLY)) as server:
            with pytest.raises(ConnectTimeout, match="while authenticating with PLAIN"):
                await make_client(server.port).connect(0.3)

    run(scenario)


def test_server_closing_mid_stream() -> None:
    async def scenario() -> None:
        async def hangs_up(peer: Peer) -> None:
            await peer.open_stream(b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:n")

        async with FakeServer(hangs_up) as server:
            with pytest.raises(ConnectionLost) as err:
                await make_client(server.port).connect(2)
            assert str(err.value) == (
                "the server closed the connection while waiting for the stream features"
            )

    run(scenario)


def test_server_sending_garbage() -> None:
    async def scenario() -> None:
        async def garbage(peer: Peer) -> None:
            await peer.open_stream(b"<stream:features><<<>>>")
            await peer.expect(rb"</stream:stream>")

        async with FakeServer(garbage) as server:
            with pytest.raises(NegotiationFailed) as err:
                await make_client(server.port).connect(2)
            assert str(err.value).startswith("the server sent invalid XML while waiting for")
            assert "not-well-formed" in str(err.value)
            await server.finished()
            assert b"<not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>" in (
                server.peers[0].received
            )

    run(scenario)


def test_server_sending_a_stream_error() -> None:
    async def scenario() -> None:
        async def refuses(peer: Peer) -> None:
            await peer.open_stream(
                b"<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                b"<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>no such host</text>"
                b"</stream:error></stream:stream>"
            )

        async with FakeServer(refuses) as server:
            with pytest.raises(StreamErrorReceived) as err:
                await make_client(server.port).connect(2)
            assert (err.value.condition, err.value.text) == ("host-unknown", "no such host")
            assert str(err.value) == "stream error from the server: host-unknown (no such host)"

    run(scenario)


def test_sasl_failure_reports_the_condition() -> None:
    async def scenario() -> None:
        async def rejects(peer: Peer) -> None:
            await peer.open_stream(PLAIN_ONLY)
            await peer.expect(rb"</auth>")
            peer.send(
                b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/>"
                b"<text>wrong password</text></failure>"
            )
            await peer.expect(rb"</stream:stream>|$")

        async with FakeServer(rejects) as server:
            with pytest.raises(AuthFailed) as err:
                await make_client(server.port).connect(2)
            assert err.value.condition == "not-authorized"
            assert str(err.value) == (
                "authentication of romeo@localhost with PLAIN failed: "
                "not-authorized (wrong password)"
            )

    run(scenario)


def test_no_usable_mechanism() -> None:
    async def scenario() -> None:
        async with FakeServer(
            silent_after(
                b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                b"<mechanism>DIGEST-MD5</mechanism></mechanisms></stream:features>"
            )
        ) as server:
            with pytest.raises(NegotiationFailed, match=r"no usable SASL mechanism \(offered: DIG"):
                await make_client(server.port).connect(2)

    run(scenario)


def test_tls_required_but_not_offered() -> None:
    async def scenario() -> None:
        async with FakeServer(silent_after(PLAIN_ONLY)) as server:
            with pytest.raises(NegotiationFailed) as err:
                await make_client(server.port, tls="require").connect(2)
            assert str(err.value) == "localhost does not offer STARTTLS and TLS is required"
            assert b"<auth" not in server.peers[0].received, "credentials sent in the clear"

    run(scenario)


def test_starttls_required_with_tls_off() -> None:
    async def scenario() -> None:
        async with FakeServer(
            silent_after(
                b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>"
                b"<required/></starttls></stream:features>"
            )
        ) as server:
            with pytest.raises(NegotiationFailed, match="requires STARTTLS but TLS is turned off"):
                await make_client(server.port, tls="off").connect(2)

    run(scenario)


def test_binding_refused() -> None:
    async def scenario() -> None:
        async def conflict(peer: Peer) -> None:
            iq = await peer.login()
            iq_id = re.search(rb"id='([^']*)'", iq).group(1)  # type: ignore[union-attr]
            peer.send(
                b"<iq type='error' id='" + iq_id + b"'><error type='cancel'>"
                b"<conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
            )
            await never()

        async with FakeServer(conflict) as server:
            with pytest.raises(NegotiationFailed, match="resource binding failed: conflict"):
                await make_client(server.port, jid="romeo@localhost/taken").connect(2)
            assert b"<resource>taken</resource>" in server.peers[0].received

    run(scenario)


# -- direct TLS ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for `localhost`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder: Path = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


def test_direct_tls_with_insecure(self_signed: ssl.SSLContext) -> None:
    async def scenario() -> None:
        async def tls_server(peer: Peer) -> None:
            peer.send(peer.bind_result(await peer.login()))
            await peer.expect(rb"</stream:stream>")
            peer.send(b"</stream:stream>")

        async with FakeServer(tls_server, tls=self_signed) as server:
            client = make_client(server.port, direct_tls=True, insecure=True, tls="require")
            await client.connect(5)
            assert client.encrypted
            assert client.full_jid == FULL_JID
            await client.close()
            await server.finished()
            assert b"starttls" not in server.peers[0].received

    run(scenario)


def test_direct_tls_refuses_an_untrusted_certificate(self_signed: ssl.SSLContext) -> None:
    async def scenario() -> None:
        async def tls_server(peer: Peer) -> None:
            await peer.expect(rb"<stream:stream[^>]*>")

        async with FakeServer(tls_server, tls=self_signed) as server:
            client = make_client(server.port, direct_tls=True)
            with pytest.raises(NegotiationFailed) as err:
                await client.connect(5)
            assert str(err.value).startswith(
                "the TLS certificate of localhost is not trusted: self-signed certificate"
            )
            assert client.closed

    run(scenario)


# -- SCRAM and session -----------------------------------------------------------------


def _scram_conversation(
    signature_ok: bool = True,
) -> Callable[[Peer], Awaitable[None]]:
    credentials = derive_credentials("SHA-256", "pencil", b"salt-of-the-earth", 4096)

    async def conversation(peer: Peer) -> None:
        await peer.open_stream(
            b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
            b"<mechanism>PLAIN</mechanism><mechanism>SCRAM-SHA-1</mechanism>"
            b"<mechanism>SCRAM-SHA-256</mechanism></mechanisms></stream:features>"
        )
        auth = await peer.expect(rb"<auth [^>]*>[^<]*</auth>")
        assert b"mechanism='SCRAM-SHA-256'" in auth
        scram = ScramServer("SHA-256", {"romeo": credentials}.get)
        first = base64.b64decode(re.search(rb">([^<]*)<", auth).group(1))  # type: ignore[union-attr]
        challenge = base64.b64encode(scram.first(first))
        peer.send(
            b"<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" + challenge + b"</challenge>"
        )
        response = await peer.expect(rb"<response [^>]*>[^<]*</response>")
        final = base64.b64decode(re.search(rb">([^<]*)<", response).group(1))  # type: ignore[union-attr]
        server_final = scram.final(final) if signature_ok else b"v=" + base64.b64encode(b"x" * 32)
        peer.send(
            b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
            + base64.b64encode(server_final)
            + b"</success>"
        )
        await peer.open_stream(
            b"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
            b"<session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></stream:features>"
        )
        iq = await peer.expect(rb"<iq[^>]*>.*?</iq>")
        peer.send(peer.bind_result(iq))
        session = await peer.expect(rb"<iq[^>]*><session[^>]*/></iq>")
        session_id = re.search(rb"id='([^']*)'", session).group(1)  # type: ignore[union-attr]
        peer.send(b"<iq type='result' id='" + session_id + b"'/>")
        await peer.expect(rb"</stream:stream>")
        peer.send(b"</stream:stream>")

    return conversation


def test_scram_sha_256_preferred_and_session_established_when_required() -> None:
    async def scenario() -> None:
        async with FakeServer(_scram_conversation()) as server:
            client = make_client(server.port)
            await client.connect(5)
            assert client.full_jid == FULL_JID
            await client.close()
            assert not server.errors, server.errors

    run(scenario)


def test_scram_server_signature_is_checked() -> None:
    async def scenario() -> None:
        async with FakeServer(_scram_conversation(signature_ok=False)) as server:
            with pytest.raises(AuthFailed, match="server signature mismatch"):
                await make_client(server.port).connect(5)

    run(scenario)


# -- after binding ---------------------------------------------------------------------


def test_stanzas_arriving_with_the_bind_result_are_delivered_in_order() -> None:
    async def scenario() -> None:
        async def chatty(peer: Peer) -> None:
            iq = await peer.login()
            messages = b"".join(b"<message id='m%d'/>" % i for i in range(50))
            peer.send(peer.bind_result(iq) + messages)
            for i in range(50, 100):
                peer.send(b"<message id='m%d'/>" % i)
            await peer.expect(rb"</stream:stream>")
            peer.send(b"</stream:stream>")

        async with FakeServer(chatty) as server:
            client = make_client(server.port)
            await client.connect(2)
            async with asyncio.timeout(30):
                while len(client.test_stanzas) < 100:  # type: ignore[attr-defined]
                    await asyncio.sleep(0.01)
            ids = [s.get("id") for s in client.test_stanzas]  # type: ignore[attr-defined]
            assert ids == [f"m{i}" for i in range(100)]
            assert client.test_stanzas[0].tag == f"{{{ns.CLIENT}}}message"  # type: ignore[attr-defined]
            await client.close()
            assert client.test_closes == ["closed by the client"]  # type: ignore[attr-defined]

    run(scenario)


@pytest.mark.parametrize(
    ("server_says", "reason"),
    [
        (
            b"<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
            b"<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>Replaced</text></stream:error>"
            b"</stream:stream>",
            "stream error from the server: conflict (Replaced)",
        ),
        (b"</stream:stream>", "the server closed the stream"),
        (b"", "the server closed the connection"),
        (b"<message><<>></message>", "the server sent invalid XML: not-well-formed"),
    ],
)
def test_stream_ending_after_bind_is_reported(server_says: bytes, reason: str) -> None:
    async def scenario() -> None:
        async def ends(peer: Peer) -> None:
            peer.send(peer.bind_result(await peer.login()))
            await peer.expect(rb"<presence/>")
            if server_says:
                peer.send(server_says)
                await peer.reader.read()  # until the client hangs up

        async with FakeServer(ends) as server:
            client = make_client(server.port)
            await client.connect(2)
            await client.send_raw("<presence/>")
            for _ in range(200):
                if client.closed:
                    break
                await asyncio.sleep(0.01)
            assert client.closed
            assert client.close_reason is not None
            assert client.close_reason.startswith(reason)
            assert client.test_closes == [client.close_reason]  # type: ignore[attr-defined]
            assert client.test_stanzas == []  # type: ignore[attr-defined]
            with pytest.raises(ConnectionLost, match="cannot send: the stream is closed"):
                await client.send_raw("<presence/>")
            await client.close()  # harmless after the server ended it
            assert client.test_closes == [client.close_reason]  # type: ignore[attr-defined]

    run(scenario)


def test_oversized_stanza_is_refused() -> None:
    async def scenario() -> None:
        async def floods(peer: Peer) -> None:
            peer.send(peer.bind_result(await peer.login()))
            await peer.expect(rb"<presence/>")
            peer.send(b"<message><body>" + b"x" * 5000)
            await peer.expect(rb"</stream:stream>")

        async with FakeServer(floods) as server:
            client = make_client(server.port, max_stanza_bytes=4096)
            await client.connect(2)
            await client.send_raw("<presence/>")
            for _ in range(200):
                if client.closed:
                    break
                await asyncio.sleep(0.01)
            assert client.close_reason == (
                "the server sent invalid XML: policy-violation (stanza too large)"
            )
            await server.finished()
            assert b"<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>" in (
                server.peers[0].received
            )

    run(scenario)


def test_close_is_bounded_when_the_server_never_answers() -> None:
    async def scenario() -> None:
        async def mute_after_bind(peer: Peer) -> None:
            peer.send(peer.bind_result(await peer.login()))
            await peer.expect(rb"</stream:stream>")
            await never()

        async with FakeServer(mute_after_bind) as server:
            client = make_client(server.port)
            await client.connect(2)
            async with asyncio.timeout(30):  # bounded by the client itself, not by this deadline
                await client.close()
            assert client.closed and client.close_reason == "closed by the client"
            await client.close()  # idempotent
            assert server.peers[0].received.endswith(b"</stream:stream>")

    run(scenario)


def test_close_before_connect_and_double_connect() -> None:
    async def scenario() -> None:
        client = make_client(1)
        await client.close()
        assert client.closed
        with pytest.raises(Exception, match="already connected"):
            await client.connect(1)

    run(scenario)


def test_bad_arguments_fail_fast() -> None:
    with pytest.raises(ValueError, match="needs a localpart"):
        make_client(1, jid="localhost")
    with pytest.raises(ValueError, match="tls must be"):
        make_client(1, tls="maybe")
    with pytest.raises(ValueError, match="invalid JID"):
        make_client(1, jid="romeo@")


def test_failing_on_stanza_callback_is_named_as_the_reason() -> None:
    async def scenario() -> None:
        async def one_message(peer: Peer) -> None:
            peer.send(peer.bind_result(await peer.login()))
            await peer.expect(rb"<presence/>")
            peer.send(b"<message id='boom'/>")
            await peer.reader.read()

        def explode(stanza: etree._Element) -> None:
            raise RuntimeError(f"cannot handle {stanza.get('id')}")

        closes: list[str] = []
        async with FakeServer(one_message) as server:
            client = Client(
                "romeo@localhost",
                "pencil",
                host="127.0.0.1",
                port=server.port,
                on_stanza=explode,
                on_close=closes.append,
            )
            await client.connect(2)
            await client.send_raw("<presence/>")
            for _ in range(200):
                if client.closed:
                    break
                await asyncio.sleep(0.01)
            assert closes == ["on_stanza failed: RuntimeError('cannot handle boom')"]

    run(scenario)
