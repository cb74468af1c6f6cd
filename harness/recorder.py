"""Record what real XMPP clients do as a `.scs` script, through a c2s proxy.

Clients connect to the proxy; it connects each of them to the upstream server and
forwards the bytes both ways unchanged, with one exception: it must read the
stanzas, so it removes `<starttls/>` from the features the server offers (TLS is
never negotiated through it, hence loopback only). It follows the stream restart
after SASL, learns each client's password from SASL and its JID from the bind
result, and keeps, in the order they passed, the stanzas each bound client sent
and received. `Recording.script_text()` turns them into a script that replays
against the same server: full and bare JIDs of the recorded clients become
`${X's full JID}` / `${X's JID}`, and what the server generates afresh on every
run (ids it chose, delay stamps, stanza-id and occupant-id elements) is left out
of the expected stanzas, which rule M4 lets the replay ignore.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import os
import re
import socket
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lxml import etree

from harness.model import Action
from protocol import namespaces as ns
from protocol.jid import JID
from protocol.xmlstream import Event, StreamClosed, StreamError, StreamOpened, XMLStreamParser

PLACEHOLDER_PASSWORD = "password"
# The proxy reads whatever the server accepts; a big stanza must not end the recording.
MAX_STANZA_BYTES = 16 * 1024 * 1024
# How long a connection may stay half-open after one side has closed.
CLOSE_GRACE_SECONDS = 5.0
_READ_SIZE = 65536

_STANZAS = frozenset(f"{{{ns.CLIENT}}}{name}" for name in ("message", "presence", "iq"))
_IQ = f"{{{ns.CLIENT}}}iq"
_FEATURES = f"{{{ns.STREAM}}}features"
_XML_NS = "http://www.w3.org/XML/1998/namespace"
# Extension elements whose content the server makes up anew on every run.
VOLATILE_ELEMENTS = frozenset(
    {
        f"{{{ns.DELAY}}}delay",
        "{jabber:x:delay}x",
        "{urn:xmpp:sid:0}stanza-id",
        "{urn:xmpp:occupant-id:0}occupant-id",
    }
)
_STARTTLS = re.compile(
    rb"<(?:[\w.-]+:)?starttls\b[^>]*?(?:/>|>.*?</(?:[\w.-]+:)?starttls\s*>)", re.DOTALL
)
_KEYWORDS = frozenset(action.value for action in Action) | {"nothing"}


# --------------------------------------------------------------------------- capture


@dataclass(eq=False)
class RecordedActor:
    """One script actor: a login identity, reused by its sequential connections."""

    name: str
    jid: str  # the bare JID, with the resource when the client chose it
    password: str
    connection: Connection | None = None  # the live one, if any

    @property
    def bare_jid(self) -> str:
        return self.jid.partition("/")[0]


@dataclass(eq=False)
class Connection:
    """What the recorder learned about one client connection."""

    domain: str = ""
    username: str = ""
    password: str | None = None
    bind_id: str | None = None
    requested_resource: str | None = None
    full_jid: str | None = None
    actor: RecordedActor | None = None
    session_ids: set[str] = field(default_factory=set)  # session iqs, skipped with their result
    server_iq_ids: set[str] = field(default_factory=set)  # requests the server made up
    ended: bool = False


@dataclass(frozen=True)
class RecordedStep:
    actor: RecordedActor
    action: Action
    stanza: etree._Element | None = None
    full_jid: str | None = None  # for `connects`: the JID this connection bound


class Recording:
    """The steps of every client session, in the order the proxy saw them."""

    def __init__(self) -> None:
        self.actors: list[RecordedActor] = []
        self.steps: list[RecordedStep] = []
        self.client_ids: set[str] = set()  # every `id` value a client sent
        self.warnings: list[str] = []

    def open(self) -> Connection:
        return Connection()

    def from_client(self, connection: Connection, event: Event) -> None:
        """Note one event of the client's stream."""
        if isinstance(event, StreamOpened):
            connection.domain = event.root.get("to", "")
        elif isinstance(event, StreamClosed):
            self.close(connection)
        elif event.tag == f"{{{ns.SASL}}}auth":
            self._learn_credentials(connection, event)
        elif connection.actor is None:
            bind = event.find(f"{{{ns.BIND}}}bind") if event.tag == _IQ else None
            if bind is not None:
                connection.bind_id = event.get("id")
                connection.requested_resource = bind.findtext(f"{{{ns.BIND}}}resource")
        elif event.tag in _STANZAS and not self._outside_scenario_sent(connection, event):
            self.client_ids.update(
                stanza_id for element in event.iter() if (stanza_id := element.get("id"))
            )
            self.steps.append(RecordedStep(connection.actor, Action.SENDS, event))

    def from_server(self, connection: Connection, event: Event) -> bool:
        """Note one event of the server's stream; True when both streams restart after it."""
        if isinstance(event, StreamOpened | StreamClosed):
            return False
        if event.tag == f"{{{ns.SASL}}}success":
            return True
        if connection.actor is None:
            if event.tag == _IQ and event.get("id") == connection.bind_id:
                self._bound(connection, event)
        elif (
            event.tag in _STANZAS
            and not connection.ended  # what arrives after the client left is not its to see
            and not self._outside_scenario_received(connection, event)
        ):
            self.steps.append(RecordedStep(connection.actor, Action.RECEIVES, event))
        return False

    def close(self, connection: Connection) -> None:
        """The client left (its stream ended or the connection closed)."""
        if connection.ended:
            return
        connection.ended = True
        actor = connection.actor
        if actor is None:
            if connection.username:
                self.warnings.append(
                    f"{connection.username}@{connection.domain} logged in but never bound "
                    "a resource: that session is not in the script"
                )
            return
        if actor.connection is connection:
            actor.connection = None
            self.steps.append(RecordedStep(actor, Action.DISCONNECTS))

    def _learn_credentials(self, connection: Connection, auth: etree._Element) -> None:
        try:
            payload = base64.b64decode((auth.text or "").strip(), validate=True)
        except (binascii.Error, ValueError):
            return
        mechanism = auth.get("mechanism", "")
        if mechanism == "PLAIN":
            parts = payload.decode("utf-8", "replace").split("\0")
            if len(parts) == 3:
                authzid, authcid, connection.password = parts
                connection.username = (authzid or authcid).partition("@")[0]
        elif mechanism.startswith("SCRAM-"):
            connection.username = scram_username(payload) or connection.username

    def _bound(self, connection: Connection, result: etree._Element) -> None:
        if result.get("type") != "result":
            return
        text = result.findtext(f"{{{ns.BIND}}}bind/{{{ns.BIND}}}jid")
        try:
            full = JID.parse((text or "").strip())
        except ValueError:
            self.warnings.append(f"the server bound an unusable JID {text!r}; session not recorded")
            return
        jid = full.bare
        if connection.requested_resource and full.resource == connection.requested_resource:
            jid = full.full
        password = connection.password
        if password is None:
            password = PLACEHOLDER_PASSWORD
            self.warnings.append(
                f"{full.bare} did not log in with PLAIN: its password in the script is "
                f"{PLACEHOLDER_PASSWORD!r}, edit it before replaying"
            )
        actor = self._actor_for(jid, full, password)
        actor.connection = connection
        connection.actor = actor
        connection.full_jid = full.full
        self.steps.append(RecordedStep(actor, Action.CONNECTS, full_jid=full.full))

    def _actor_for(self, jid: str, full: JID, password: str) -> RecordedActor:
        for actor in self.actors:
            if actor.jid == jid and actor.connection is None:
                return actor
        taken = {actor.name for actor in self.actors}
        base = actor_name(full.local or full.domain)
        name = base
        if base in taken:
            name = second_name(base, full.resource if jid == full.full else None, taken)
        actor = RecordedActor(name, jid, password)
        self.actors.append(actor)
        return actor

    @staticmethod
    def _outside_scenario_sent(connection: Connection, stanza: etree._Element) -> bool:
        """Session establishment (its id is remembered to skip the result too), and answers
        to requests the replay cannot repeat."""
        if stanza.tag != _IQ:
            return False
        if stanza.find(f"{{{ns.SESSION}}}session") is not None:
            connection.session_ids.add(stanza.get("id", ""))
            return True
        return stanza.get("type") in ("result", "error") and stanza.get("id") in (
            connection.server_iq_ids
        )

    def _outside_scenario_received(self, connection: Connection, stanza: etree._Element) -> bool:
        """The session result, and the server's keepalive pings (whose ids are remembered)."""
        if stanza.tag != _IQ:
            return False
        iq_id = stanza.get("id", "")
        if iq_id in connection.session_ids:
            connection.session_ids.discard(iq_id)
            return True
        if stanza.get("type") in ("get", "set") and iq_id not in self.client_ids:
            # The server's own request: its id differs on every run, so the client's
            # answer cannot be replayed; a keepalive ping is not part of the scenario.
            connection.server_iq_ids.add(iq_id)
            return stanza.find(f"{{{ns.PING}}}ping") is not None
        return False

    def script_text(self, title: str | None = None, description: Iterable[str] = ()) -> str:
        """The recording as a script (empty of steps when no client ever bound)."""
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return render_script(
            title or f"Recorded session {when}",
            description,
            self.actors,
            self.steps,
            self.client_ids,
        )


def scram_username(client_first: bytes) -> str | None:
    """The `n=` username of a SCRAM client-first message (RFC 5802 section 5.1)."""
    text = client_first.decode("utf-8", "replace")
    for attribute in text.split(",")[2:]:
        if attribute.startswith("n="):
            return attribute[2:].replace("=2C", ",").replace("=3D", "=")
    return None


# --------------------------------------------------------------------------- naming


def actor_name(localpart: str) -> str:
    """`romeo` -> `Romeo`, `juliet.capulet` -> `Juliet Capulet`: words the grammar accepts."""
    words = re.findall(r"[^\W_]+", localpart)
    return " ".join(word[:1].upper() + word[1:] for word in words) or "User"


def second_name(base: str, resource: str | None, taken: set[str]) -> str:
    """A name for another login of the same account: `Romeo's phone`, else `Romeo2`."""
    if resource:
        words = re.findall(r"[^\W_]+", resource)
        if words and len(words) <= 3 and not any(word.lower() in _KEYWORDS for word in words):
            name = f"{base}'s {' '.join(words)}"
            if name not in taken:
                return name
    separator = " " if base[-1].isdigit() else ""
    number = 2
    while f"{base}{separator}{number}" in taken:
        number += 1
    return f"{base}{separator}{number}"


# --------------------------------------------------------------------------- script text


class JidVariables:
    """Turns the recorded clients' JIDs back into `${X's full JID}` / `${X's JID}`."""

    _BOUNDARY_BEFORE = r"(?<![\w.@/-])"
    _BOUNDARY_AFTER = r"(?![\w-]|\.[\w-])"  # a sentence may end with the JID and a dot

    def __init__(self, full: dict[str, str], bare: dict[str, str]) -> None:
        """`full` and `bare` map a JID to the actor name that stands for it."""
        self._names = {jid: f"${{{name}'s full JID}}" for jid, name in full.items()}
        for jid, name in bare.items():
            self._names.setdefault(jid, f"${{{name}'s JID}}")
        # Longest first, so a full JID wins over its own bare JID.
        choices = sorted(self._names, key=len, reverse=True)
        self._pattern = (
            re.compile(
                self._BOUNDARY_BEFORE
                + "(?:"
                + "|".join(map(re.escape, choices))
                + ")"
                + self._BOUNDARY_AFTER
            )
            if choices
            else None
        )

    def __call__(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda match: self._names[match[0]], text)


def jid_variables(actors: Iterable[RecordedActor], steps: Iterable[RecordedStep]) -> JidVariables:
    full: dict[str, str] = {}
    bare: dict[str, str] = {}
    for actor in actors:
        bare.setdefault(actor.bare_jid, actor.name)
    for step in steps:
        if step.full_jid:
            full[step.full_jid] = step.actor.name
    return JidVariables(full, bare)


def expected_stanza(stanza: etree._Element, client_ids: set[str]) -> etree._Element:
    """A received stanza without what the server makes up anew on every run."""
    expected = copy.deepcopy(stanza)
    for element in list(expected.iter()):
        parent = element.getparent()
        if (
            element.tag in VOLATILE_ELEMENTS
            and parent is not None
            and etree.QName(parent).namespace != etree.QName(element).namespace
        ):
            parent.remove(element)
            continue
        if element.get("id") is not None and element.get("id") not in client_ids:
            del element.attrib["id"]
    return expected


def render_script(
    title: str,
    description: Iterable[str],
    actors: Iterable[RecordedActor],
    steps: list[RecordedStep],
    client_ids: set[str],
) -> str:
    actors = list(actors)
    variables = jid_variables(actors, steps)
    lines = [f"# {title}", *(f"# {line}" for line in description), ""]
    for actor in actors:
        lines += [f"[Client] {actor.name}", f"\tjid: {actor.jid}", f"\tpassword: {actor.password}"]
        lines.append("")
    lines += ["-----", ""]
    for step in steps:
        name = step.actor.name
        if step.stanza is None:
            lines += [f"{name} {step.action.value}", ""]
            continue
        stanza = step.stanza
        if step.action is Action.RECEIVES:
            stanza = expected_stanza(stanza, client_ids)
        lines.append(f"{name} {step.action.value}:")
        lines += [f"\t{line}" for line in stanza_lines(stanza, variables)]
        lines.append("")
    return "\n".join(lines)


def stanza_lines(element: etree._Element, variables: Callable[[str], str]) -> list[str]:
    """The stanza pretty-printed with tabs, namespaces declared where they change."""
    out: list[str] = []
    _render(element, ns.CLIENT, 0, variables, out)
    return out


def _render(
    element: etree._Element,
    parent_ns: str | None,
    depth: int,
    variables: Callable[[str], str],
    out: list[str],
) -> None:
    children = [child for child in element if isinstance(child.tag, str)]
    mixed = any((child.tail or "").strip() for child in children)
    if children and ((element.text or "").strip() or mixed):
        out.append("\t" * depth + _inline(element, parent_ns, variables))
        return
    start = _start_tag(element, parent_ns, variables)
    if not children:
        text = element.text or ""
        if not text:
            out.append("\t" * depth + f"<{start}/>")
        else:
            out.append("\t" * depth + f"<{start}>{_text(variables(text))}</{_local(element)}>")
        return
    out.append("\t" * depth + f"<{start}>")
    namespace = etree.QName(element).namespace
    for child in children:
        _render(child, namespace, depth + 1, variables, out)
    out.append("\t" * depth + f"</{_local(element)}>")


def _inline(element: etree._Element, parent_ns: str | None, variables: Callable[[str], str]) -> str:
    """Mixed content on one line, its text kept exactly."""
    start = _start_tag(element, parent_ns, variables)
    namespace = etree.QName(element).namespace
    parts = [f"<{start}>", _text(variables(element.text or ""))]
    for child in element:
        if isinstance(child.tag, str):
            parts.append(_inline(child, namespace, variables))
        parts.append(_text(variables(child.tail or "")))
    parts.append(f"</{_local(element)}>")
    return "".join(parts)


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _start_tag(
    element: etree._Element, parent_ns: str | None, variables: Callable[[str], str]
) -> str:
    qname = etree.QName(element)
    parts = [qname.localname]
    if qname.namespace != parent_ns:
        parts.append(f'xmlns="{_attribute(qname.namespace or "")}"')
    prefixes: dict[str, str] = {}
    for key, value in element.attrib.items():
        name = etree.QName(key)
        if name.namespace is None:
            shown = name.localname
        elif name.namespace == _XML_NS:
            shown = f"xml:{name.localname}"
        else:
            if name.namespace not in prefixes:
                prefixes[name.namespace] = f"ns{len(prefixes)}"
                parts.append(f'xmlns:{prefixes[name.namespace]}="{_attribute(name.namespace)}"')
            shown = f"{prefixes[name.namespace]}:{name.localname}"
        parts.append(f'{shown}="{_attribute(variables(value))}"')
    return " ".join(parts)


def _attribute(value: str) -> str:
    return _lines_safe(value.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;"))


def _text(value: str) -> str:
    return _lines_safe(value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def _lines_safe(value: str) -> str:
    """A script block is line-based: line breaks and tabs inside values become references."""
    return value.replace("\r", "&#13;").replace("\n", "&#10;").replace("\t", "&#9;")


# --------------------------------------------------------------------------- proxy


def strip_starttls(features: bytes) -> tuple[bytes, bool]:
    """Remove the STARTTLS offer; True when the server said TLS is required."""
    required = False

    def remove(match: re.Match[bytes]) -> bytes:
        nonlocal required
        required = required or b"required" in match[0]
        return b""

    return _STARTTLS.sub(remove, features), required


class _StreamReader:
    """One direction's parser; a stream it cannot parse is still forwarded, unrecorded."""

    def __init__(self) -> None:
        self.parser = XMLStreamParser(MAX_STANZA_BYTES)
        self.failed: str | None = None

    def feed(self, data: bytes) -> list[Event]:
        if self.failed is not None:
            return []
        try:
            return self.parser.feed(data)
        except StreamError as exc:
            self.failed = str(exc)
            return []


class RecordingProxy:
    """Listens on loopback, connects each client to the upstream server, records both ways."""

    def __init__(
        self,
        upstream: tuple[str, int],
        recording: Recording,
        *,
        report: Callable[[str], None] = lambda message: print(message, file=sys.stderr),
    ) -> None:
        self.upstream = upstream
        self.recording = recording
        self.report = report
        self.port = 0  # where clients connect, once started
        self.sessions_ended = 0
        self._sessions_changed = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the port (useful with port 0). OSError when the address is taken."""
        self._server = await asyncio.start_server(self._accept, host, port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def wait_sessions(self, count: int) -> None:
        """Return once `count` client sessions (that bound) have ended."""
        while self.sessions_ended < count:
            self._sessions_changed.clear()
            await self._sessions_changed.wait()

    async def stop(self) -> None:
        """Stop listening and end the open connections (their clients are recorded as leaving)."""
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.abort()
        if self._handlers:
            await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            self._handlers.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = self.upstream
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
        except OSError as exc:
            self.report(f"cannot reach the upstream server {host}:{port}: {os_reason(exc)}")
            writer.close()
            return
        link = _Link(self, self.recording.open(), reader, writer, upstream_reader, upstream_writer)
        self._links.add(link)
        try:
            await link.run()
        finally:
            self._links.discard(link)
            self.recording.close(link.connection)
            actor = link.connection.actor
            if actor is not None:
                self.sessions_ended += 1
                self._sessions_changed.set()
                self.report(f"{link.connection.full_jid} ({actor.name}) left")


class _Link:
    """One client connection and its upstream connection."""

    def __init__(
        self,
        proxy: RecordingProxy,
        connection: Connection,
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
        server_reader: asyncio.StreamReader,
        server_writer: asyncio.StreamWriter,
    ) -> None:
        self.proxy = proxy
        self.connection = connection
        self.client_reader, self.client_writer = client_reader, client_writer
        self.server_reader, self.server_writer = server_reader, server_writer
        self.client_stream = _StreamReader()
        self.server_stream = _StreamReader()

    async def run(self) -> None:
        pumps = {
            asyncio.create_task(self._client_to_server()),
            asyncio.create_task(self._server_to_client()),
        }
        try:
            _, pending = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            if pending:  # one side closed: let the other finish its goodbye, within bounds
                _, pending = await asyncio.wait(pending, timeout=CLOSE_GRACE_SECONDS)
            for task in pending:
                task.cancel()
            outcomes = await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            self.abort()
        for outcome in outcomes:
            if isinstance(outcome, Exception):  # a fault of the recorder, not of the peers
                self.proxy.report(
                    f"internal error, connection closed: {type(outcome).__name__}: {outcome}"
                )

    def abort(self) -> None:
        for writer in (self.client_writer, self.server_writer):
            writer.close()

    async def _client_to_server(self) -> None:
        recording = self.proxy.recording
        with contextlib.suppress(OSError):
            while data := await self.client_reader.read(_READ_SIZE):
                for event in self.client_stream.feed(data):
                    recording.from_client(self.connection, event)
                self.server_writer.write(data)
                await self.server_writer.drain()
        _half_close(self.server_writer)

    async def _server_to_client(self) -> None:
        """Forward the server's bytes; each stream's features wait until STARTTLS is removed."""
        recording = self.proxy.recording
        held = b""
        holding = True  # from the start of each server stream until its first element
        with contextlib.suppress(OSError):
            while data := await self.server_reader.read(_READ_SIZE):
                held += data
                features = restart = complete = False
                for event in self.server_stream.feed(data):
                    complete = complete or not isinstance(event, StreamOpened)
                    features = features or _is_features(event)
                    restart = recording.from_server(self.connection, event) or restart
                if holding and not complete and self.server_stream.failed is None:
                    continue
                if features:
                    held = self._without_starttls(held)
                holding = False
                if restart:
                    # Before the client can read the success and restart its stream.
                    self.client_stream.parser.reset()
                    self.server_stream.parser.reset()
                    holding = True
                self.client_writer.write(held)
                held = b""
                await self.client_writer.drain()
            self.client_writer.write(held)  # what a stream that ended early still sent
        _half_close(self.client_writer)

    def _without_starttls(self, data: bytes) -> bytes:
        data, required = strip_starttls(data)
        if required:
            self.proxy.report(
                "the upstream server requires STARTTLS, which the recorder cannot pass through: "
                "allow plain-text client connections on it while recording"
            )
        return data


def os_reason(exc: OSError) -> str:
    """`Connection refused` rather than asyncio's `Connect call failed ('127.0.0.1', 1)`."""
    if isinstance(exc, socket.gaierror) or not exc.errno:
        return exc.strerror or str(exc)
    return os.strerror(exc.errno)


def _is_features(event: Event) -> bool:
    return isinstance(event, etree._Element) and event.tag == _FEATURES


def _half_close(writer: asyncio.StreamWriter) -> None:
    """Tell the peer nothing more is coming, as the other side did."""
    with contextlib.suppress(OSError, RuntimeError):
        if writer.can_write_eof():
            writer.write_eof()
        else:
            writer.close()
