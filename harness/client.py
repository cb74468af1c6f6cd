"""The harness's XMPP client connection (RFC 6120): TCP, STARTTLS, SASL, resource binding.

One `Client` is one scripted actor's stream. It negotiates exactly what a
scenario needs and nothing more (no initial presence, no roster request), so the
script controls every stanza the server sees.

It is an asyncio protocol rather than a stream reader task: bytes are parsed in
the transport's callback and each stanza received after binding goes straight to
`on_stanza`, in arrival order, whatever the runner is awaiting at the time
(scansion rule Q1), with no queue or task switch per stanza.

`on_traffic(direction, data)` sees the raw bytes: direction "out" for what the
client writes, "in" for what it reads (decrypted when TLS is on).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from collections import deque
from collections.abc import Callable
from functools import cache
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

from protocol import namespaces as ns
from protocol.jid import JID
from protocol.sasl import (
    MECHANISMS_BY_STRENGTH,
    ChannelBinding,
    SaslFailure,
    ScramClient,
    b64decode,
    channel_binding,
    choose_mechanism,
    plain_message,
)
from protocol.xmlstream import (
    DEFAULT_MAX_STANZA_BYTES,
    Event,
    StreamClosed,
    StreamError,
    StreamOpened,
    XMLStreamParser,
)

TLSMode = Literal["require", "auto", "off"]
CLOSE_WAIT_SECONDS = 1.0

_STREAM_ERROR = f"{{{ns.STREAM}}}error"
_FEATURES = f"{{{ns.STREAM}}}features"
_STREAM_END = b"</stream:stream>"


class XMPPError(Exception):
    """Base of every failure the client reports; `str()` is meant for users."""


class TargetUnreachable(XMPPError):
    """No TCP (or direct TLS) connection could be made to host:port."""


class AuthFailed(XMPPError):
    """The server refused the credentials, or could not prove it knows them (SCRAM)."""

    def __init__(self, jid: str, mechanism: str, condition: str, text: str = "") -> None:
        detail = f" ({text})" if text else ""
        super().__init__(f"authentication of {jid} with {mechanism} failed: {condition}{detail}")
        self.mechanism = mechanism
        self.condition = condition
        self.text = text


class StreamErrorReceived(XMPPError):
    """The server sent a stream error (RFC 6120 section 4.9)."""

    def __init__(self, condition: str, text: str = "") -> None:
        super().__init__(f"stream error from the server: {_describe(condition, text)}")
        self.condition = condition
        self.text = text


class ConnectionLost(XMPPError):
    """The connection or stream ended while the client still needed it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NegotiationFailed(XMPPError):
    """The stream could not be set up: TLS, mechanisms, binding or a protocol violation."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConnectTimeout(XMPPError):
    """`connect` ran out of time; `phase` names the negotiation step that hung."""

    def __init__(self, phase: str, timeout: float) -> None:
        super().__init__(f"timed out after {timeout:g} s while {phase}")
        self.phase = phase
        self.timeout = timeout


def _describe(condition: str, text: str) -> str:
    return f"{condition} ({text})" if text else condition


def _error_condition(element: etree._Element | None, condition_ns: str) -> tuple[str, str]:
    """(condition, text) of a stream error, SASL failure or stanza <error>."""
    condition, text = "undefined-condition", ""
    if element is None:
        return condition, text
    for child in element.iterchildren(tag=etree.Element):
        qname = etree.QName(child)
        if qname.namespace != condition_ns:
            continue
        if qname.localname == "text":
            text = (child.text or "").strip()
        elif condition == "undefined-condition":
            condition = qname.localname
    return condition, text


@cache
def _tls_context(insecure: bool) -> ssl.SSLContext:
    """One context per policy: loading the system CAs per connection would be wasted work."""
    context = ssl.create_default_context()
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _tls_failure(exc: BaseException, domain: str) -> NegotiationFailed:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return NegotiationFailed(
            f"the TLS certificate of {domain} is not trusted: {exc.verify_message} "
            "(allow insecure TLS to accept a self-signed certificate)"
        )
    return NegotiationFailed(f"TLS handshake with {domain} failed: {exc}")


class _Protocol(asyncio.Protocol):
    """Forwards transport callbacks to the client that owns it."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.client._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.client._data_received(data)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.client._connection_lost(exc)

    def pause_writing(self) -> None:
        self.client._write_paused = True

    def resume_writing(self) -> None:
        self.client._resume_writing()


class Client:
    """One XMPP client stream.

    `tls`: "auto" uses STARTTLS when offered, "require" fails without TLS, "off"
    never starts it. `insecure` accepts any certificate; otherwise it must be
    valid for the JID's domain under the system CAs. `on_close(reason)` is called
    once when a stream that got bound ends, whoever ended it; `close_reason`
    keeps the reason (a failed `connect` sets it too, and raises).
    """

    def __init__(
        self,
        jid: str,
        password: str,
        *,
        host: str,
        port: int,
        tls: TLSMode = "auto",
        direct_tls: bool = False,
        insecure: bool = False,
        on_stanza: Callable[[etree._Element], None],
        on_close: Callable[[str], None] | None = None,
        on_traffic: Callable[[str, bytes], None] | None = None,
        max_stanza_bytes: int = DEFAULT_MAX_STANZA_BYTES,
    ) -> None:
        if tls not in ("require", "auto", "off"):
            raise ValueError(f"tls must be 'require', 'auto' or 'off', not {tls!r}")
        self.jid = JID.parse(jid)
        if not self.jid.local:
            raise ValueError(f"cannot log in as {jid!r}: a client JID needs a localpart")
        self.password = password
        self.host, self.port = host, port
        self.tls, self.direct_tls, self.insecure = tls, direct_tls, insecure
        self.on_stanza, self.on_close, self.on_traffic = on_stanza, on_close, on_traffic
        self.full_jid: str | None = None
        self.closed = False
        self.close_reason: str | None = None

        self._parser = XMLStreamParser(max_stanza_bytes)
        self._transport: asyncio.Transport | None = None
        self._protocol = _Protocol(self)
        self._bound = False  # after binding, stanzas go to on_stanza
        self._closing = False  # we sent </stream:stream> (or gave up on the stream)
        self._negotiation: deque[Event] = deque()
        self._wakeup: asyncio.Future[None] | None = None
        self._local_error: StreamError | None = None
        self._peer_closed: asyncio.Future[None] | None = None
        self._lost: asyncio.Future[None] | None = None
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._phase = "not connected"
        self._iq_counter = 0

    @property
    def encrypted(self) -> bool:
        """Whether the stream runs over TLS (STARTTLS or direct)."""
        transport = self._transport
        return transport is not None and transport.get_extra_info("ssl_object") is not None

    # -- public API -------------------------------------------------------------------

    async def connect(self, timeout: float) -> None:
        """Connect, secure, authenticate and bind within `timeout` seconds; set `full_jid`."""
        if self._transport is not None or self.closed:
            raise XMPPError("this client has already connected; make a new one")
        loop = asyncio.get_running_loop()
        self._peer_closed = loop.create_future()
        self._lost = loop.create_future()
        try:
            async with asyncio.timeout(timeout):
                await self._negotiate()
        except TimeoutError:
            await self._give_up(f"timed out while {self._phase}", graceful=False)
            raise ConnectTimeout(self._phase, timeout) from None
        except XMPPError as exc:
            await self._give_up(str(exc), graceful=True)
            raise
        except BaseException:
            await self._give_up("connection attempt cancelled", graceful=False)
            raise

    async def send_raw(self, data: str | bytes) -> None:
        """Write `data` exactly as given and wait until the transport has taken it."""
        if self._closing or not self._bound:
            reason = self.close_reason
            state = f"the stream is closed ({reason})" if reason else "not connected"
            raise ConnectionLost(f"cannot send: {state}")
        payload = data.encode("utf-8") if isinstance(data, str) else data
        self._write(payload)
        if self._write_paused:
            await self._drain()

    async def close(self) -> None:
        """End the stream politely, give the server a moment to answer, then disconnect."""
        transport, lost = self._transport, self._lost
        if transport is None or lost is None:
            self._finish("closed by the client")
            return
        if not self._closing:
            self._closing = True
            if self.close_reason is None:
                self.close_reason = "closed by the client"
            if not transport.is_closing():
                self._write(_STREAM_END)
            await self._wait(self._peer_closed, CLOSE_WAIT_SECONDS)
            transport.close()
        if not await self._wait(lost, CLOSE_WAIT_SECONDS):
            transport.abort()
            await self._wait(lost, CLOSE_WAIT_SECONDS)

    # -- negotiation ------------------------------------------------------------------

    async def _negotiate(self) -> None:
        domain = self.jid.domain
        await self._open_transport(domain)
        features = await self._open_stream()
        if not self.direct_tls:
            features = await self._maybe_starttls(features, domain)
        await self._authenticate(features)
        self._parser.reset()
        features = await self._open_stream()
        await self._bind(features)
        if self._session_required(features):
            self._phase = "establishing the session"
            await self._iq_set(f"<session xmlns='{ns.SESSION}'/>", "session establishment")
        self._start_delivery()

    async def _open_transport(self, domain: str) -> None:
        loop = asyncio.get_running_loop()
        where = f"{self.host}:{self.port}"
        self._phase = f"connecting to {where}"
        context = _tls_context(self.insecure) if self.direct_tls else None
        try:
            await loop.create_connection(
                lambda: self._protocol,
                self.host,
                self.port,
                ssl=context,
                server_hostname=domain if context else None,
            )
        except ssl.SSLError as exc:
            raise _tls_failure(exc, domain) from None
        except ConnectionRefusedError:
            raise TargetUnreachable(f"cannot connect to {where}: connection refused") from None
        except OSError as exc:
            raise TargetUnreachable(f"cannot connect to {where}: {exc.strerror or exc}") from None

    async def _open_stream(self) -> etree._Element:
        """Send our stream header; return the server's <stream:features>."""
        self._phase = "waiting for the server's stream header"
        self._write(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
            f"xmlns:stream='{ns.STREAM}' to={quoteattr(self.jid.domain)} "
            "version='1.0' xml:lang='en'>".encode()
        )
        event = await self._next_event()
        if not isinstance(event, StreamOpened):
            raise NegotiationFailed(f"expected the stream header, got {_name(event)}")
        self._phase = "waiting for the stream features"
        return await self._expect(_FEATURES)

    async def _maybe_starttls(self, features: etree._Element, domain: str) -> etree._Element:
        offer = features.find(f"{{{ns.TLS}}}starttls")
        if offer is None:
            if self.tls == "require":
                raise NegotiationFailed(f"{domain} does not offer STARTTLS and TLS is required")
            return features
        if self.tls == "off":
            if offer.find(f"{{{ns.TLS}}}required") is not None:
                raise NegotiationFailed(f"{domain} requires STARTTLS but TLS is turned off")
            return features
        self._phase = "negotiating STARTTLS"
        self._write(f"<starttls xmlns='{ns.TLS}'/>".encode())
        answer = await self._expect(f"{{{ns.TLS}}}proceed", f"{{{ns.TLS}}}failure")
        if answer.tag != f"{{{ns.TLS}}}proceed":
            raise NegotiationFailed(f"{domain} refused STARTTLS")
        self._phase = "in the TLS handshake"
        self._parser.reset()
        loop = asyncio.get_running_loop()
        try:
            tls_transport = await loop.start_tls(
                self._transport,  # type: ignore[arg-type]
                self._protocol,
                _tls_context(self.insecure),
                server_hostname=domain,
            )
        except (ssl.SSLError, ConnectionError) as exc:
            raise _tls_failure(exc, domain) from None
        if tls_transport is None:
            raise ConnectionLost("the connection closed during the TLS handshake")
        self._transport = tls_transport
        return await self._open_stream()

    async def _authenticate(self, features: etree._Element) -> None:
        offered = [
            (mech.text or "").strip().upper()
            for mech in features.iterfind(f"{{{ns.SASL}}}mechanisms/{{{ns.SASL}}}mechanism")
        ]
        tls = self._transport.get_extra_info("ssl_object") if self._transport else None
        advertised = [  # XEP-0440
            item.get("type", "")
            for item in features.iterfind(
                f"{{{ns.SASL_CB}}}sasl-channel-binding/{{{ns.SASL_CB}}}channel-binding"
            )
        ]
        binding = channel_binding(tls, advertised)
        mechanism = choose_mechanism(offered, can_bind=binding is not None)
        if mechanism is None:
            shown = ", ".join(offered) or "none"
            raise NegotiationFailed(
                f"no usable SASL mechanism (offered: {shown}; "
                f"supported: {', '.join(MECHANISMS_BY_STRENGTH)})"
            )
        self._phase = f"authenticating with {mechanism}"
        try:
            if mechanism == "PLAIN":
                await self._sasl_plain()
            else:
                await self._sasl_scram(mechanism, binding)
        except SaslFailure as exc:
            raise AuthFailed(self.jid.bare, mechanism, exc.condition, exc.text) from None

    async def _sasl_plain(self) -> None:
        self._send_sasl("auth", plain_message(self.jid.local, self.password), "PLAIN")
        answer = await self._sasl_answer()
        if answer.tag != f"{{{ns.SASL}}}success":
            raise SaslFailure("malformed-request", "PLAIN got a challenge")

    async def _sasl_scram(self, mechanism: str, binding: ChannelBinding | None) -> None:
        scram = ScramClient(mechanism, self.jid.local, self.password, channel_binding=binding)
        self._send_sasl("auth", scram.first_message(), mechanism)
        answer = await self._sasl_answer()
        if answer.tag != f"{{{ns.SASL}}}challenge":
            raise SaslFailure("malformed-request", "the server skipped the SCRAM challenge")
        self._send_sasl("response", scram.final_message(_payload(answer)))
        answer = await self._sasl_answer()
        if answer.tag == f"{{{ns.SASL}}}challenge":  # server-final as a challenge
            scram.verify(_payload(answer))
            self._send_sasl("response", b"")
            answer = await self._sasl_answer()
            if answer.tag != f"{{{ns.SASL}}}success":
                raise SaslFailure("malformed-request", "unexpected extra SCRAM challenge")
        else:
            scram.verify(_payload(answer))

    def _send_sasl(self, name: str, payload: bytes, mechanism: str | None = None) -> None:
        attr = f" mechanism='{mechanism}'" if mechanism else ""
        data = base64.b64encode(payload).decode("ascii") or "="
        self._write(f"<{name} xmlns='{ns.SASL}'{attr}>{data}</{name}>".encode())

    async def _sasl_answer(self) -> etree._Element:
        answer = await self._expect(
            f"{{{ns.SASL}}}challenge", f"{{{ns.SASL}}}success", f"{{{ns.SASL}}}failure"
        )
        if answer.tag == f"{{{ns.SASL}}}failure":
            raise SaslFailure(*_error_condition(answer, ns.SASL))
        return answer

    async def _bind(self, features: etree._Element) -> None:
        if features.find(f"{{{ns.BIND}}}bind") is None:
            raise NegotiationFailed("the server offers no resource binding")
        self._phase = "binding a resource"
        resource = self.jid.resource
        inner = f"<resource>{escape(resource)}</resource>" if resource else ""
        result = await self._iq_set(f"<bind xmlns='{ns.BIND}'>{inner}</bind>", "resource binding")
        bound = result.findtext(f"{{{ns.BIND}}}bind/{{{ns.BIND}}}jid")
        if not bound:
            raise NegotiationFailed("resource binding result carries no JID")
        try:
            JID.parse(bound.strip())
        except ValueError as exc:
            raise NegotiationFailed(f"the server bound an invalid JID: {exc}") from None
        self.full_jid = bound.strip()

    @staticmethod
    def _session_required(features: etree._Element) -> bool:
        session = features.find(f"{{{ns.SESSION}}}session")
        return session is not None and session.find(f"{{{ns.SESSION}}}optional") is None

    async def _iq_set(self, payload: str, what: str) -> etree._Element:
        self._iq_counter += 1
        iq_id = f"{what.split()[0]}{self._iq_counter}"
        self._write(f"<iq type='set' id='{iq_id}'>{payload}</iq>".encode())
        answer = await self._expect(f"{{{ns.CLIENT}}}iq")
        if answer.get("id") != iq_id:
            raise NegotiationFailed(f"unexpected iq {answer.get('id')!r} during {what}")
        if answer.get("type") != "result":
            condition, text = _error_condition(answer.find(f"{{{ns.CLIENT}}}error"), ns.STANZAS)
            raise NegotiationFailed(f"{what} failed: {_describe(condition, text)}")
        return answer

    async def _expect(self, *tags: str) -> etree._Element:
        event = await self._next_event()
        if not isinstance(event, etree._Element) or event.tag not in tags:
            wanted = " or ".join(f"<{etree.QName(tag).localname}>" for tag in tags)
            raise NegotiationFailed(f"expected {wanted} while {self._phase}, got {_name(event)}")
        return event

    async def _next_event(self) -> Event:
        """The next stream event before binding; stream errors and closes become exceptions."""
        while not self._negotiation:
            self._raise_if_dead()
            self._wakeup = asyncio.get_running_loop().create_future()
            try:
                await self._wakeup
            finally:
                self._wakeup = None
        event = self._negotiation.popleft()
        if isinstance(event, StreamClosed):
            raise ConnectionLost(f"the server closed the stream while {self._phase}")
        if isinstance(event, etree._Element) and event.tag == _STREAM_ERROR:
            raise StreamErrorReceived(*_error_condition(event, ns.STREAMS_ERRORS))
        return event

    def _raise_if_dead(self) -> None:
        if self._local_error is not None:
            error = self._local_error
            raise NegotiationFailed(
                f"the server sent invalid XML while {self._phase}: {error.condition}"
                + (f" ({error.text})" if error.text else "")
            )
        if self._lost is not None and self._lost.done():
            raise ConnectionLost(f"{self.close_reason} while {self._phase}")

    def _start_delivery(self) -> None:
        """Switch to direct delivery; stanzas that arrived with the bind result go first."""
        self._phase = "connected"
        self._bound = True
        pending, self._negotiation = self._negotiation, deque()
        for event in pending:
            self._dispatch(event)

    # -- transport callbacks ----------------------------------------------------------

    def _data_received(self, data: bytes) -> None:
        if self.on_traffic is not None:
            self.on_traffic("in", data)
        try:
            events = self._parser.feed(data)
        except StreamError as exc:
            self._invalid_xml(exc)
            return
        if self._bound:
            try:
                for event in events:
                    self._dispatch(event)
            except Exception as exc:
                # The transport will close; say why instead of blaming the server.
                self.close_reason = self.close_reason or f"on_stanza failed: {exc!r}"
                raise
        elif events:
            self._negotiation.extend(events)
            self._wake()

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, etree._Element):
            if event.tag == _STREAM_ERROR:
                condition, text = _error_condition(event, ns.STREAMS_ERRORS)
                self._end_stream(f"stream error from the server: {_describe(condition, text)}")
            elif not self._closing:
                self.on_stanza(event)
        elif isinstance(event, StreamClosed):
            self._end_stream("the server closed the stream")

    def _end_stream(self, reason: str) -> None:
        """The server ended the stream: answer with our end tag and let the TCP go."""
        if self.close_reason is None:
            self.close_reason = reason
        if self._peer_closed is not None and not self._peer_closed.done():
            self._peer_closed.set_result(None)
        if not self._closing and self._transport is not None:
            self._closing = True
            self._write(_STREAM_END)
            self._transport.close()

    def _invalid_xml(self, error: StreamError) -> None:
        reason = f"the server sent invalid XML: {_describe(error.condition, error.text)}"
        if self.close_reason is None:
            self.close_reason = reason
        self._local_error = error
        if self._transport is not None and not self._closing:
            self._closing = True
            self._write(
                f"<stream:error><{error.condition} xmlns='{ns.STREAMS_ERRORS}'/>"
                "</stream:error></stream:stream>".encode()
            )
            self._transport.close()
        self._wake()

    def _connection_lost(self, exc: Exception | None) -> None:
        if self.close_reason is None:
            detail = f": {exc}" if exc else ""
            self.close_reason = f"the server closed the connection{detail}"
        for future in (self._peer_closed, self._lost, self._drain_waiter):
            if future is not None and not future.done():
                future.set_result(None)
        self._wake()
        self._finish(self.close_reason)

    def _finish(self, reason: str) -> None:
        """Mark the client closed and tell the owner once, if the stream ever got bound."""
        if self.closed:
            return
        self.closed = True
        self._closing = True
        if self.close_reason is None:
            self.close_reason = reason
        if self._bound and self.on_close is not None:
            self.on_close(self.close_reason)

    # -- plumbing ---------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if self.on_traffic is not None:
            self.on_traffic("out", data)
        self._transport.write(data)  # type: ignore[union-attr]

    async def _drain(self) -> None:
        if self._drain_waiter is None or self._drain_waiter.done():
            self._drain_waiter = asyncio.get_running_loop().create_future()
        await self._drain_waiter
        if self.closed:
            raise ConnectionLost(f"the stream closed while sending ({self.close_reason})")

    def _resume_writing(self) -> None:
        self._write_paused = False
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    @staticmethod
    async def _wait(future: asyncio.Future[None] | None, seconds: float) -> bool:
        """Wait for `future` at most `seconds`; True if it completed."""
        if future is None:
            return True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await asyncio.shield(future)
        return future.done()

    async def _give_up(self, reason: str, *, graceful: bool) -> None:
        """Tear the connection down after a failed connect, leaving no socket behind.

        After a protocol failure the pending bytes (our stream error, say) still
        go out; after a timeout or cancellation the connection is simply cut.
        """
        self.close_reason = reason
        self._closing = True
        transport = self._transport
        if transport is not None:
            if graceful:
                transport.close()
            if not graceful or not await self._wait(self._lost, CLOSE_WAIT_SECONDS):
                transport.abort()
                await self._wait(self._lost, CLOSE_WAIT_SECONDS)
        self._finish(reason)


def _payload(element: etree._Element) -> bytes:
    text = (element.text or "").strip()
    return b"" if text in ("", "=") else b64decode(text)


def _name(event: Event) -> str:
    if isinstance(event, StreamOpened):
        return "a new stream header"
    if isinstance(event, StreamClosed):
        return "the end of the stream"
    return f"<{etree.QName(event).localname}>"
