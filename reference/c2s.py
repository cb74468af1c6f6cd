"""One client connection: stream negotiation (RFC 6120) and stanza I/O.

An asyncio Protocol rather than streams: bytes go straight from `data_received`
into the stream parser and from the router into `transport.write`, with no task
or buffer copy per stanza. Anything wrong on the stream (bad XML, oversized
stanza, stanza before authentication) ends this stream alone with the RFC 6120
stream error; other sessions never notice.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import ssl
from collections import deque
from typing import TYPE_CHECKING

from lxml import etree

from protocol import namespaces as ns
from protocol.jid import nodeprep, split_jid
from protocol.sasl import SaslFailure, ScramServer, b64decode, parse_plain
from protocol.xmlstream import Event, StreamError, StreamOpened, XMLStreamParser
from reference import wire
from reference.config import ConfigError
from reference.limits import TokenBucket
from reference.tls import server_context

if TYPE_CHECKING:
    from reference.router import Hub

log = logging.getLogger("reference.c2s")

_TLS_STARTTLS = f"{{{ns.TLS}}}starttls"
_SASL_AUTH = f"{{{ns.SASL}}}auth"
_SASL_RESPONSE = f"{{{ns.SASL}}}response"
_SASL_ABORT = f"{{{ns.SASL}}}abort"
_IQ = f"{{{ns.CLIENT}}}iq"
_BIND = f"{{{ns.BIND}}}bind"
_RESOURCE = f"{{{ns.BIND}}}resource"
_SESSION = f"{{{ns.SESSION}}}session"
_STANZA_TAGS = frozenset(wire.CLIENT_TAG.values())

_PROCEED = f"<proceed xmlns='{ns.TLS}'/>".encode()
_TLS_FAILURE = f"<failure xmlns='{ns.TLS}'/></stream:stream>".encode()
_SUCCESS = f"<success xmlns='{ns.SASL}'/>".encode()
_BIND_FEATURES = (
    f"<stream:features><bind xmlns='{ns.BIND}'/>"
    f"<session xmlns='{ns.SESSION}'><optional/></session></stream:features>"
).encode()
_STREAM_END = b"</stream:stream>"
# Bytes parsed at a time: a client's big read becomes stanzas over several turns.
_PARSE_SLICE = 8 * 1024
# How long a closed stream's leftover input is drained before the socket is dropped.
LINGER_SECONDS = 2.0


def _sasl_failure(condition: str) -> bytes:
    return f"<failure xmlns='{ns.SASL}'><{condition}/></failure>".encode()


def _sasl_element(name: str, payload: bytes) -> bytes:
    text = base64.b64encode(payload).decode("ascii") if payload else "="
    return f"<{name} xmlns='{ns.SASL}'>{text}</{name}>".encode()


class ClientSession(asyncio.Protocol):
    """A c2s stream. After binding, `full_jid` names it in the router."""

    def __init__(self, hub: Hub, *, direct_tls: bool = False) -> None:
        self.hub = hub
        self.config = hub.config
        self._log_stanzas = hub.log_stanzas
        self.transport: asyncio.Transport | None = None
        self.parser = XMLStreamParser(self.config.max_stanza_bytes)
        self.secure = direct_tls
        self.header_sent = False
        self.closed = False
        self._linger: asyncio.TimerHandle | None = None
        self._deadline: asyncio.TimerHandle | None = None  # until the stream is bound
        self._held: list[bytes] | None = None  # input held back during the TLS upgrade
        self._restarted = False  # the parser was reset mid-chunk: drop the chunk's rest
        self._unauthenticated_bytes = 0
        # Read side: parsed events not handled yet, and why reading is paused
        # ("turn": this turn's share is spent; "rate": over the rate limit).
        self._unparsed = bytearray()
        self._backlog: deque[Event] = deque()
        self._holds: set[str] = set()
        self._rate_timer: asyncio.TimerHandle | None = None
        self._rate = (
            TokenBucket(self.config.c2s_rate_bytes, self.config.c2s_burst_bytes)
            if self.config.c2s_rate_bytes > 0
            else None
        )
        self.address = ""  # the peer's IP address, for per-address login limits
        self._auth_failures = 0
        self._attempted_user = ""
        self._scram: ScramServer | None = None  # None with a step in progress: PLAIN
        self._sasl_step: str | None = None  # "first" or "final" while authenticating
        self.username: str | None = None
        self.bare_jid: str | None = None
        self.full_jid: str | None = None
        self.lang = "en"  # the stream's xml:lang, given to stanzas that carry none
        self.to_attribute = b""  # ` to="full JID"`, ready for readdressed broadcasts
        # Presence state the router keeps per session (RFC 6121).
        self.presence: etree._Element | None = None  # last available presence, for new resources
        self.priority = 0
        self.directed: set[str] = set()
        self.interested = False  # asked for the roster: gets roster pushes

    # -- asyncio.Protocol -------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.set_write_buffer_limits(high=self.config.max_write_buffer_bytes)  # type: ignore[attr-defined]
        peer = transport.get_extra_info("peername")
        self.address = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        self._deadline = asyncio.get_running_loop().call_later(
            self.config.negotiation_timeout, self._negotiation_expired
        )
        self.hub.connection_opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._linger is not None:
            self._linger.cancel()
        self.hub.connections.discard(self)
        self._end("connection lost" if exc is None else f"connection lost: {exc}")

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        if self._held is not None:  # decrypted before start_tls handed us the TLS transport
            self._held.append(data)
            return
        if self.username is None:
            self._unauthenticated_bytes += len(data)
            if self._unauthenticated_bytes > self.config.max_unauthenticated_bytes:
                self.fail("policy-violation", "too much data before authentication")
                return
        if self._log_stanzas:
            log.debug("%s >> %s", self.full_jid or "(unbound)", data.decode("utf-8", "replace"))
        self._unparsed += data
        if self._rate is not None and self.username is not None:
            delay = self._rate.spend(len(data))
            if delay > 0:
                self._hold("rate")
                self._rate_timer = asyncio.get_running_loop().call_later(delay, self._rate_refilled)
        self._handle_backlog()

    def _handle_backlog(self) -> None:
        """Handle parsed events, at most `max_stanzas_per_turn` before yielding to the others.

        What is left waits for the next loop turn with this socket unread, so a
        client that floods fills its own TCP window, not everyone's latency."""
        backlog = self._backlog
        budget = self.config.max_stanzas_per_turn
        while (backlog or self._unparsed) and not self.closed:
            if not backlog:  # parse a slice at a time: a big read is not parsed in one go
                chunk = bytes(self._unparsed[:_PARSE_SLICE])
                del self._unparsed[:_PARSE_SLICE]
                try:
                    backlog.extend(self.parser.feed(chunk))
                except StreamError as exc:
                    self.fail(exc.condition, exc.text)
                    return
                continue
            if budget == 0:
                self._hold("turn")
                asyncio.get_running_loop().call_soon(self._handle_backlog)
                return
            budget -= 1
            event = backlog.popleft()
            if isinstance(event, etree._Element):
                self._element(event)
            elif isinstance(event, StreamOpened):
                self._stream_opened(event.root)
            else:
                self._peer_closed()
            if self._restarted:  # the parser was reset: what followed belongs to the old stream
                self._restarted = False
                backlog.clear()
                self._unparsed.clear()
        self._release("turn")

    def _rate_refilled(self) -> None:
        self._rate_timer = None
        self._release("rate")

    def _hold(self, reason: str) -> None:
        if not self._holds and self.transport is not None:
            self.transport.pause_reading()
        self._holds.add(reason)

    def _release(self, reason: str) -> None:
        if reason not in self._holds:
            return
        self._holds.discard(reason)
        # During a TLS upgrade the old transport stays paused: the new one takes over.
        if not self._holds and self._held is None and not self.closed:
            self.transport.resume_reading()  # type: ignore[union-attr]

    # -- output -------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Write one serialised stanza; a peer that stops reading is cut off, not buffered."""
        if self.closed:
            return
        self.transport.write(data)  # type: ignore[union-attr]
        if self._log_stanzas:
            log.debug("%s << %s", self.full_jid, data.decode("utf-8", "replace"))

    def pause_writing(self) -> None:
        """The peer left `max_write_buffer_bytes` unread: cut it off rather than buffer more.

        Nothing more is queued; what is queued (the stream error last) still goes
        out if the peer wakes up within `LINGER_SECONDS`, then the socket is cut."""
        self.fail("policy-violation", "not reading fast enough", linger=False)
        transport = self.transport
        if transport is not None and self._linger is None:
            self._linger = asyncio.get_running_loop().call_later(LINGER_SECONDS, transport.abort)

    def send_stanza(self, stanza: etree._Element) -> None:
        self.send(wire.serialise(stanza))

    def fail(self, condition: str, text: str = "", *, linger: bool = True) -> None:
        """End the stream with a stream error (sending a header first if none went out).

        With `linger`, the connection is half-closed and the peer's remaining
        bytes are drained for a moment: closing a socket with unread input makes
        the kernel send a reset, which can destroy the error before it is read."""
        if self.closed:
            return
        # Counted, not logged one by one: thousands of streams may end at once.
        self.hub.tally.count(f"stream errors {condition} ({text or 'no text'})")
        log.debug("%s: stream error %s %s", self.full_jid or "client", condition, text)
        prefix = b"" if self.header_sent else wire.stream_header(self.hub.domain, _new_id())
        self.transport.write(prefix + wire.stream_error(condition, text))  # type: ignore[union-attr]
        self._end(f"stream error: {condition}", linger=linger)

    def close(self) -> None:
        """End the stream politely (server side)."""
        if not self.closed:
            self.transport.write(_STREAM_END)  # type: ignore[union-attr]
            self._end("closed by server", linger=True)

    def _end(self, reason: str, *, linger: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if self._rate_timer is not None:
            self._rate_timer.cancel()
            self._rate_timer = None
        self._backlog.clear()
        self._unparsed.clear()
        self.hub.connection_closed(self, reason)
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self._holds and self._held is None:  # read again: the linger drains the peer's input
            self._holds.clear()
            transport.resume_reading()
        if not (linger and transport.can_write_eof()):
            transport.close()
            return
        try:
            transport.write_eof()
        except OSError:  # the peer is already gone
            transport.abort()
            return
        self._linger = asyncio.get_running_loop().call_later(LINGER_SECONDS, transport.abort)

    # -- negotiation --------------------------------------------------------

    def _negotiation_expired(self) -> None:
        self._deadline = None
        if self.full_jid is None:
            limit = self.config.negotiation_timeout
            self.fail("connection-timeout", f"stream not negotiated within {limit:g} s")

    def _stream_opened(self, root: etree._Element) -> None:
        if root.nsmap.get(None) != ns.CLIENT:
            self.fail("invalid-namespace", "the default namespace must be jabber:client")
            return
        to = root.get("to")
        if to is not None and to.lower() != self.hub.domain:
            self.fail("host-unknown", f"this server is {self.hub.domain}")
            return
        if root.get("version") is None:
            self.fail("unsupported-version", "XMPP 1.0 streams only (version='1.0')")
            return
        self.lang = root.get(wire.XML_LANG) or "en"
        header = wire.stream_header(self.hub.domain, _new_id())
        self.header_sent = True
        if self.username is None:
            self.transport.write(header + self._auth_features())  # type: ignore[union-attr]
        else:
            self.transport.write(header + _BIND_FEATURES)  # type: ignore[union-attr]

    def _auth_features(self) -> bytes:
        parts = [b"<stream:features>"]
        if self.config.starttls and not self.secure:
            required = b"<required/>" if self.config.require_tls else b""
            parts.append(f"<starttls xmlns='{ns.TLS}'>".encode() + required + b"</starttls>")
        if self.secure or not self.config.require_tls:
            parts.append(f"<mechanisms xmlns='{ns.SASL}'>".encode())
            parts.extend(
                f"<mechanism>{name}</mechanism>".encode() for name in self.hub.accounts.mechanisms
            )
            parts.append(b"</mechanisms>")
        parts.append(b"</stream:features>")
        return b"".join(parts)

    def _element(self, element: etree._Element) -> None:
        if self.full_jid is not None:
            if element.tag in _STANZA_TAGS:
                self.hub.client_stanza(self, element)
            else:
                self.fail("unsupported-stanza-type", f"{element.tag!s} is not a stanza")
        elif self.username is not None:
            self._bind(element)
        elif element.tag == _SASL_AUTH:
            self._sasl_auth(element)
        elif element.tag == _SASL_RESPONSE:
            self._sasl_input(element)
        elif element.tag == _SASL_ABORT:
            self._sasl_failed(SaslFailure("aborted"))
        elif element.tag == _TLS_STARTTLS:
            self._starttls()
        else:
            self.fail("not-authorized", "authenticate first")

    def _starttls(self) -> None:
        if self.secure or not self.config.starttls:
            self.transport.write(_TLS_FAILURE)  # type: ignore[union-attr]
            self._end("STARTTLS refused")
            return
        try:
            context = server_context(self.config)
        except ConfigError as exc:
            log.error("cannot offer TLS: %s", exc)
            self.transport.write(_TLS_FAILURE)  # type: ignore[union-attr]
            self._end("no usable TLS certificate")
            return
        self.transport.write(_PROCEED)  # type: ignore[union-attr]
        self.transport.pause_reading()  # type: ignore[union-attr]
        self.parser.reset()
        self._restarted = True
        self._held = []
        self.hub.spawn(self._upgrade(context))

    async def _upgrade(self, context: ssl.SSLContext) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport = await loop.start_tls(
                self.transport,  # type: ignore[arg-type]
                self,
                context,
                server_side=True,
                ssl_handshake_timeout=10.0,
            )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError) as exc:
            log.info("TLS handshake failed: %s", exc)
            self._end(f"TLS handshake failed: {exc}")
            return
        if transport is None or self.closed:
            if transport is not None:
                transport.close()
            return
        self.transport = transport
        transport.set_write_buffer_limits(high=self.config.max_write_buffer_bytes)
        self.secure = True
        self.header_sent = False
        held, self._held = self._held or [], None
        if held:
            self.data_received(b"".join(held))

    def _sasl_auth(self, element: etree._Element) -> None:
        mechanism = element.get("mechanism") or ""
        if self.hub.auth_failures.blocked(self.address):
            self._sasl_failed(SaslFailure("temporary-auth-failure"))
            return
        if self.config.require_tls and not self.secure:
            self.transport.write(_sasl_failure("encryption-required"))  # type: ignore[union-attr]
            return
        if mechanism not in self.hub.accounts.mechanisms:
            self.transport.write(_sasl_failure("invalid-mechanism"))  # type: ignore[union-attr]
            return
        if mechanism == "PLAIN":
            self._scram = None
        else:
            hash_name = mechanism.removeprefix("SCRAM-")
            self._scram = ScramServer(hash_name, self.hub.accounts.scram_lookup(hash_name))
        self._sasl_step = "first"
        self._sasl_input(element, initial=True)

    def _sasl_input(self, element: etree._Element, *, initial: bool = False) -> None:
        """One client SASL message: the initial response (in <auth/>) or a <response/>."""
        if self._sasl_step is None:
            self._sasl_failed(SaslFailure("malformed-request", "no authentication in progress"))
            return
        try:
            payload = _payload(element)
            if payload is None and initial:
                self.transport.write(_sasl_element("challenge", b""))  # type: ignore[union-attr]
                return
            payload = payload or b""
            if self._scram is None:
                self._plain(payload)
            elif self._sasl_step == "first":
                challenge = self._scram.first(payload)
                self._sasl_step = "final"
                self.transport.write(_sasl_element("challenge", challenge))  # type: ignore[union-attr]
            else:
                server_final = self._scram.final(payload)
                self._authenticated(self._scram.username or "", server_final)
        except SaslFailure as failure:
            self._sasl_failed(failure)

    def _plain(self, payload: bytes) -> None:
        authzid, username, password = parse_plain(payload)
        self._attempted_user = username
        local = nodeprep(username)
        if local is None or not self.hub.accounts.check_plain(local, password):
            raise SaslFailure("not-authorized")
        authorized = split_jid(authzid) if authzid else None
        if authzid and (authorized is None or authorized.full != f"{local}@{self.hub.domain}"):
            raise SaslFailure("invalid-authzid")
        self._authenticated(local, None)

    def _sasl_failed(self, failure: SaslFailure) -> None:
        if self._scram is not None and self._scram.username:
            self._attempted_user = self._scram.username
        self._scram = None
        self._sasl_step = None
        self.transport.write(_sasl_failure(failure.condition))  # type: ignore[union-attr]
        if failure.condition == "aborted":
            return
        if failure.condition == "not-authorized":
            self.hub.auth_failures.failed(self.address, self._attempted_user)
        self._auth_failures += 1
        if self._auth_failures >= self.config.max_auth_failures_per_connection:
            self.fail("policy-violation", "too many failed authentication attempts")

    def _authenticated(self, username: str, additional: bytes | None) -> None:
        local = nodeprep(username)
        if local is None:
            raise SaslFailure("not-authorized")
        self._scram = None
        self._sasl_step = None
        self.username = local
        self.bare_jid = f"{local}@{self.hub.domain}"
        success = _SUCCESS if additional is None else _sasl_element("success", additional)
        self.transport.write(success)  # type: ignore[union-attr]
        self.parser.reset()
        self._restarted = True

    def _bind(self, element: etree._Element) -> None:
        bind = element.find(_BIND) if element.tag == _IQ else None
        if bind is None or element.get("type") != "set":
            self.fail("not-authorized", "bind a resource first")
            return
        requested = (bind.findtext(_RESOURCE) or "").strip()
        resource = requested or secrets.token_urlsafe(9)
        jid = split_jid(f"{self.bare_jid}/{resource}")
        if jid is None:
            self._reply_error(element, "modify", "bad-request", "invalid resource")
            return
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self.full_jid = jid.full
        self.to_attribute = wire.to_attribute(jid.full)
        self.hub.bind(self)
        reply = wire.result_reply(element)
        bound = etree.SubElement(reply, _BIND, nsmap={None: ns.BIND})
        etree.SubElement(bound, f"{{{ns.BIND}}}jid").text = self.full_jid
        self.send_stanza(reply)

    def _reply_error(self, stanza: etree._Element, kind: str, condition: str, text: str) -> None:
        reply = wire.error_reply(stanza, kind, condition, text)
        self.transport.write(wire.serialise(reply))  # type: ignore[union-attr]

    def _peer_closed(self) -> None:
        self.close()


def _payload(element: etree._Element) -> bytes | None:
    """The SASL payload: None when absent, b"" for "=" (RFC 6120 section 6.4.2)."""
    text = (element.text or "").strip()
    if not text:
        return None
    if text == "=":
        return b""
    return b64decode(text)


def _new_id() -> str:
    return secrets.token_hex(8)
