"""Soak load: many raw-socket XMPP sessions doing random MUC work, recording what they see.

Each `Session` is one TCP connection. It records, in the order its own stream
delivers them, every room event it is shown: occupants' presences (with status
codes), groupchat messages, private messages and errors. The checks in
`invariants` then compare these records across sessions; the load itself never
decides whether something was right.

Nicknames are `n<session>.<generation>`, unique for the whole soak, so any nick
seen anywhere names exactly one session.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from lxml import etree

from protocol import namespaces as ns
from protocol.xmlstream import StreamClosed, StreamError, StreamOpened, XMLStreamParser

MUC = "http://jabber.org/protocol/muc"
MUC_USER = MUC + "#user"
MUC_ADMIN = MUC + "#admin"
MUC_OWNER = MUC + "#owner"
DELAY = "urn:xmpp:delay"
DATA = "jabber:x:data"
HEADER = (
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
)
SERVICE = "conference.localhost"
WAIT = 20.0  # generous bound for one answer on two busy shared cores


def room_jid(index: int) -> str:
    return f"room{index}@{SERVICE}"


def session_of(nick: str) -> int:
    """The session id a soak nickname names."""
    return int(nick[1:].partition(".")[0])


@dataclass(frozen=True, slots=True)
class Seen:
    """One room event as a session's stream showed it."""

    kind: str  # "available", "unavailable", "message", "pm", "error"
    nick: str  # the occupant it is about (sender for messages)
    codes: frozenset[str] = frozenset()
    ident: str = ""  # message id for "message", "pm" and "error"


@dataclass
class Sent:
    ident: str
    room: str
    sender: int
    to_session: int | None = None  # private messages: the session the nick named


class Closed(Exception):
    pass


@dataclass
class Session:
    """One client connection of the soak."""

    sid: int
    user: str
    owner_of: str | None = None
    records: dict[str, list[Seen]] = field(default_factory=dict)
    errors: set[str] = field(default_factory=set)
    joined: dict[str, str] = field(default_factory=dict)  # room -> own nick (own stream)
    views: dict[str, set[str]] = field(default_factory=dict)  # room -> nicks (own stream)
    aborted: bool = False
    recording: bool = True
    generation: int = 0
    seq: int = 0
    stanzas_in: int = 0
    stanzas_out: int = 0
    _reader: asyncio.StreamReader | None = None
    _writer: asyncio.StreamWriter | None = None
    _parser: XMLStreamParser = field(default_factory=lambda: XMLStreamParser(1 << 20))
    _waiters: list[tuple[Callable[[etree._Element], bool], asyncio.Future[etree._Element]]] = field(
        default_factory=list
    )
    _pump: asyncio.Task[None] | None = None
    _pending: list[object] = field(default_factory=list)  # events read during negotiation
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def user_bare(self) -> str:
        return f"{self.user}@localhost"

    # -- connection ------------------------------------------------------------

    async def connect(self, port: int) -> None:
        self._reader, self._writer = await asyncio.open_connection("127.0.0.1", port)
        await self._negotiate()
        self._pump = asyncio.get_running_loop().create_task(self._read_forever())

    async def _negotiate(self) -> None:
        await self._open()
        token = base64.b64encode(f"\0{self.user}\0pw".encode()).decode()
        self._write(f"<auth xmlns='{ns.SASL}' mechanism='PLAIN'>{token}</auth>")
        outcome = await self._next_element()
        if etree.QName(outcome).localname != "success":
            raise Closed(f"{self.user}: authentication failed")
        self._parser.reset()
        await self._open()
        self._write(
            f"<iq type='set' id='bind'><bind xmlns='{ns.BIND}'>"
            f"<resource>s{self.sid}</resource></bind></iq>"
        )
        bound = await self._next_element()
        if bound.get("type") != "result":
            raise Closed(f"{self.user}: bind failed")

    async def _open(self) -> None:
        self._write(HEADER)
        while not isinstance(await self._next_event(), StreamOpened):
            pass
        await self._next_element()  # features

    async def _next_event(self) -> object:
        assert self._reader is not None
        while not self._pending:
            data = await asyncio.wait_for(self._reader.read(65536), WAIT)
            if not data:
                raise Closed(f"{self.user}: closed during negotiation")
            self._pending.extend(self._parser.feed(data))
        return self._pending.pop(0)

    async def _next_element(self) -> etree._Element:
        while True:
            event = await self._next_event()
            if isinstance(event, etree._Element):
                return event

    async def _read_forever(self) -> None:
        assert self._reader is not None
        try:
            for event in self._pending:
                self._event(event)
            while data := await self._reader.read(65536):
                for event in self._parser.feed(data):
                    self._event(event)
        except (ConnectionError, StreamError):
            pass
        finally:
            self.closed.set()
            for _, future in self._waiters:
                if not future.done():
                    future.set_exception(Closed(f"{self.user}: connection ended"))

    def _write(self, data: str) -> None:
        assert self._writer is not None
        self._writer.write(data.encode())

    async def send(self, data: str) -> None:
        if self.closed.is_set():
            raise Closed(f"{self.user}: closed")
        self.stanzas_out += 1
        self._write(data)
        assert self._writer is not None
        await self._writer.drain()

    def listen(self, accept: Callable[[etree._Element], bool]) -> asyncio.Future[etree._Element]:
        """A future for the first stanza from now on that `accept` takes."""
        future: asyncio.Future[etree._Element] = asyncio.get_running_loop().create_future()
        waiter = (accept, future)
        self._waiters.append(waiter)
        future.add_done_callback(lambda _: self._waiters.remove(waiter))
        return future

    async def request(self, data: str, accept: Callable[[etree._Element], bool]) -> etree._Element:
        """Send, then wait for the first stanza `accept` takes (bounded by WAIT)."""
        answer = self.listen(accept)
        try:
            await self.send(data)
            return await asyncio.wait_for(answer, WAIT)
        finally:
            answer.cancel()

    async def ping(self) -> None:
        self.seq += 1
        ident = f"ping{self.sid}.{self.seq}"
        await self.request(
            f"<iq type='get' id='{ident}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
            lambda e: e.get("id") == ident,
        )

    async def close(self) -> None:
        if self._writer is None:
            return
        if not self.closed.is_set() and not self._writer.is_closing():
            self._write("</stream:stream>")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closed.wait(), WAIT)
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()
        if self._pump is not None:
            await self._pump

    async def abort_mid_stanza(self, room: str) -> None:
        """Stop recording, write half a stanza, then reset the connection (RST)."""
        assert self._writer is not None
        self.recording = False
        self.aborted = True
        self._write(f"<message to='{room}' type='groupchat'><body>cut he")
        with contextlib.suppress(ConnectionError):
            await self._writer.drain()
        sock = self._writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._writer.transport.abort()
        if self._pump is not None:
            await self._pump

    # -- what the stream shows -------------------------------------------------------

    def _event(self, event: object) -> None:
        if not isinstance(event, etree._Element):
            if isinstance(event, StreamClosed):
                self._write("</stream:stream>")
            return
        self.stanzas_in += 1
        if self.recording:
            self._record(event)
        for accept, future in list(self._waiters):
            if not future.done() and accept(event):
                future.set_result(event)

    def _record(self, stanza: etree._Element) -> None:
        sender = stanza.get("from") or ""
        room, _, nick = sender.partition("/")
        if not room.endswith("@" + SERVICE):
            return
        stanza_type = stanza.get("type")
        if stanza_type == "error":  # from the room itself (e.g. no longer an occupant) or a nick
            if stanza.get("id"):
                self.errors.add(stanza.get("id") or "")
            return
        if not nick:
            return
        kind = etree.QName(stanza).localname
        records = self.records.setdefault(room, [])
        if kind == "presence" and nick:
            statuses = stanza.iterfind(f"{{{MUC_USER}}}x/{{{MUC_USER}}}status")
            codes = frozenset(status.get("code") or "" for status in statuses)
            view = self.views.setdefault(room, set())
            if stanza_type == "unavailable":
                records.append(Seen("unavailable", nick, codes))
                view.discard(nick)
                if "110" in codes and "303" not in codes:
                    self.joined.pop(room, None)
                    view.clear()
            elif stanza_type is None:
                records.append(Seen("available", nick, codes))
                view.add(nick)
                if "110" in codes:
                    self.joined[room] = nick
        elif kind == "message":
            body = stanza.findtext(f"{{{ns.CLIENT}}}body")
            if body is None or stanza.find(f"{{{DELAY}}}delay") is not None:
                return
            ident = stanza.get("id") or ""
            if stanza_type == "groupchat":
                records.append(Seen("message", nick, ident=ident))
            else:
                records.append(Seen("pm", nick, ident=ident))


class Soak:
    """Drives `clients` sessions over `rooms` rooms for a while, with a fixed random seed."""

    def __init__(self, port: int, clients: int, rooms: int, seed: int = 1) -> None:
        self.port = port
        self.clients = clients
        self.room_count = rooms
        self.rng = random.Random(seed)
        self.sessions: list[Session] = []
        self.sent: dict[str, Sent] = {}
        self.banned: dict[str, set[str]] = {room_jid(i): set() for i in range(rooms)}
        self.running = True
        self.failures: list[str] = []
        self.counts: dict[str, int] = {}

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def live(self) -> list[Session]:
        return [s for s in self.sessions if not s.closed.is_set()]

    async def new_session(self, user: str, owner_of: str | None = None) -> Session:
        session = Session(len(self.sessions), user, owner_of)
        self.sessions.append(session)
        await session.connect(self.port)
        return session

    # -- setup -------------------------------------------------------------------------

    async def start(self) -> list[Session]:
        """Owners create and configure their rooms; everyone else logs in and joins one."""
        owners = await asyncio.gather(
            *(self.new_session(f"owner{i}", room_jid(i)) for i in range(self.room_count))
        )
        await asyncio.gather(*(self._create_room(owner) for owner in owners))
        users = []
        for start in range(0, self.clients - self.room_count, 50):
            batch = range(start, min(start + 50, self.clients - self.room_count))
            users += await asyncio.gather(*(self.new_session(f"user{i}") for i in batch))
        await asyncio.gather(*(self._join(u, self._pick_room(u)) for u in users))
        return users

    async def _create_room(self, owner: Session) -> None:
        room = owner.owner_of
        assert room is not None
        await self._join(owner, room)
        await self._configure(owner, room, f"Room {room}")

    async def _configure(self, owner: Session, room: str, name: str) -> None:
        owner.seq += 1
        ident = f"cfg{owner.sid}.{owner.seq}"
        answer = await owner.request(
            f"<iq type='set' id='{ident}' to='{room}'><query xmlns='{MUC_OWNER}'>"
            f"<x xmlns='{DATA}' type='submit'>"
            f"<field var='FORM_TYPE'><value>{MUC}#roomconfig</value></field>"
            f"<field var='muc#roomconfig_roomname'><value>{name}</value></field>"
            "<field var='muc#roomconfig_enablearchiving'><value>0</value></field>"
            "<field var='muc#roomconfig_historylength'><value>5</value></field>"
            "</x></query></iq>",
            lambda e: e.get("id") == ident,
        )
        if answer.get("type") != "result":
            self.failures.append(f"configuring {room} failed: {etree.tostring(answer)!r}")
        self.count("config")

    def _pick_room(self, session: Session) -> str:
        return room_jid(self.rng.randrange(self.room_count))

    # -- actions -------------------------------------------------------------------------

    async def _join(self, session: Session, room: str) -> None:
        if room in session.joined or session.user_bare in self.banned[room]:
            return
        session.generation += 1
        nick = f"n{session.sid}.{session.generation}"
        answer = await session.request(
            f"<presence to='{room}/{nick}'><x xmlns='{MUC}'><history maxstanzas='0'/></x>"
            "</presence>",
            lambda e: (
                e.get("from") == f"{room}/{nick}"
                and (e.get("type") == "error" or session.joined.get(room) == nick)
            ),
        )
        self.count("join" if answer.get("type") != "error" else "join refused")

    async def _leave(self, session: Session, room: str) -> None:
        nick = session.joined.get(room)
        if nick is None or session.owner_of == room:
            return
        await session.request(
            f"<presence type='unavailable' to='{room}/{nick}'/>",
            lambda e: e.get("from") == f"{room}/{nick}" and e.get("type") == "unavailable",
        )
        self.count("leave")

    async def _change_nick(self, session: Session, room: str) -> None:
        if room not in session.joined:
            return
        session.generation += 1
        nick = f"n{session.sid}.{session.generation}"
        await session.request(
            f"<presence to='{room}/{nick}'/>",
            lambda e: (
                (e.get("from") == f"{room}/{nick}" and e.get("type") == "error")
                or (
                    e.get("from", "").startswith(room + "/")
                    and (session.joined.get(room) == nick or room not in session.joined)
                )
            ),
        )
        self.count("nick change")

    async def _groupchat(self, session: Session, room: str) -> None:
        if room not in session.joined:
            return
        session.seq += 1
        ident = f"m{session.sid}.{session.seq}"
        self.sent[ident] = Sent(ident, room, session.sid)
        await session.send(
            f"<message to='{room}' type='groupchat' id='{ident}'><body>{ident}</body></message>"
        )
        self.count("groupchat")

    async def _private(self, session: Session, room: str) -> None:
        others = sorted(session.views.get(room, set()) - {session.joined.get(room)})
        if room not in session.joined or not others:
            return
        nick = self.rng.choice(others)
        session.seq += 1
        ident = f"p{session.sid}.{session.seq}"
        self.sent[ident] = Sent(ident, room, session.sid, session_of(nick))
        await session.send(
            f"<message to='{room}/{nick}' type='chat' id='{ident}'><body>{ident}</body></message>"
        )
        self.count("private")

    async def _moderate(self, owner: Session) -> None:
        room = owner.owner_of
        assert room is not None
        others = sorted(owner.views.get(room, set()) - {owner.joined.get(room)})
        choice = self.rng.random()
        if choice < 0.3 and others:
            nick = self.rng.choice(others)
            await self._admin(owner, room, f"<item nick='{nick}' role='none'/>", "kick")
        elif choice < 0.45 and others:
            target = self.sessions[session_of(self.rng.choice(others))]
            self.banned[room].add(target.user_bare)
            await self._admin(
                owner, room, f"<item jid='{target.user_bare}' affiliation='outcast'/>", "ban"
            )
        elif choice < 0.7 and self.banned[room]:
            user = sorted(self.banned[room])[0]
            await self._admin(owner, room, f"<item jid='{user}' affiliation='none'/>", "unban")
            self.banned[room].discard(user)
        else:
            await self._configure(owner, room, f"Room {room} #{owner.seq}")

    async def _admin(self, owner: Session, room: str, item: str, what: str) -> None:
        owner.seq += 1
        ident = f"adm{owner.sid}.{owner.seq}"
        await owner.request(
            f"<iq type='set' id='{ident}' to='{room}'><query xmlns='{MUC_ADMIN}'>{item}"
            "</query></iq>",
            lambda e: e.get("id") == ident,
        )
        self.count(what)

    async def act(self, session: Session) -> bool:
        """One random action; False when the session ended (dropped on purpose)."""
        joined = sorted(session.joined)
        roll = self.rng.random()
        if session.owner_of is not None and roll < 0.15:
            await self._moderate(session)
            return True
        if session.owner_of is None and roll < 0.01 and joined:
            await session.abort_mid_stanza(self.rng.choice(joined))
            self.count("abrupt drop")
            return False
        if not joined or (roll < 0.15 and len(joined) < 3):
            await self._join(session, self._pick_room(session))
        elif roll < 0.22:
            await self._leave(session, self.rng.choice(joined))
        elif roll < 0.30:
            await self._change_nick(session, self.rng.choice(joined))
        elif roll < 0.40:
            await self._private(session, self.rng.choice(joined))
        else:
            await self._groupchat(session, self.rng.choice(joined))
        return True

    async def drive(self, slot: Session, pause: float) -> None:
        """Act until stopped; a session dropped on purpose is replaced by a new one."""
        session = slot
        while self.running:
            await asyncio.sleep(self.rng.uniform(0, 2 * pause))
            if not self.running:
                break
            try:
                alive = await self.act(session)
            except (Closed, TimeoutError) as exc:
                if self.running:
                    self.failures.append(f"{session.user} (session {session.sid}): {exc!r}")
                return
            if not alive:
                session = await self.new_session(session.user)
                self.count("reconnect")

    async def settle(self) -> None:
        """Two ping rounds: the first proves the server handled everything sent,
        the second that every session has read everything the server wrote."""
        for _ in range(2):
            await asyncio.gather(*(s.ping() for s in self.live()))
