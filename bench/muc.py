"""MUC occupants for load scenarios: room creation, joining, and counting what arrives.

An occupant's sink scans each chunk once with one regular expression for the
two things that matter: presence opening tags (who joined, and whether our own
join was refused) and the `fo:SEQ:SENT_NS<` markers in fan-out message bodies.
Every delivery is checked for loss, duplication and order on the fly, or, while
counting is deferred, recorded with its arrival time and checked afterwards.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from bench.loadgen import MUC_HOST, Connection, LoadError, expectation

_EVENT = re.compile(rb"<presence\b([^>]*)>|fo:(\d+):(\d+)<")
_MARKER = re.compile(rb"fo:(\d+):(\d+)<")
_FROM = re.compile(rb"""\bfrom=(['"])([^'"]*)\1""")
_TYPE = re.compile(rb"""\btype=(['"])([^'"]*)\1""")
_ERROR_CONDITION = re.compile(rb"<error\b[^>]*>\s*<([A-Za-z-]+)")
_CONFIGURED = expectation(rb"<iq\b[^>]*\bid=['\"]bench-config['\"][^>]*>")
_STATUS_201 = re.compile(rb"""code=['"]201['"]""")

NICK_PREFIX = b"n"
_ROOM_FULL = ("resource-constraint", "service-unavailable")
_ROOM_FULL_HINT = (
    "the room is full? ejabberd's mod_muc allows 200 occupants per room by default "
    "(max_users) and the room configuration cannot go beyond it"
)


def nick(index: int) -> str:
    return f"n{index}"


def join_presence(room_jid: str, nickname: str) -> bytes:
    return (
        f"<presence to='{room_jid}/{nickname}'><x xmlns='http://jabber.org/protocol/muc'>"
        "<history maxstanzas='0'/></x></presence>"
    ).encode()


def room_jid(name: str) -> str:
    return f"{name}@{MUC_HOST}"


@dataclass
class Tally:
    """What all occupants of a run received, against what they should have."""

    expected: int = 0
    unique: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    latencies_ns: list[int] = field(default_factory=list)
    last_ns: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    complete: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: int = 0  # fan-out markers recorded while counting is deferred, unchecked

    @property
    def progress(self) -> int:
        return self.unique + self.arrived

    def recorded(self, markers: int) -> None:
        """Markers arrived but not checked yet: enough of them end the wait for now."""
        self.arrived += markers
        if self.expected and self.arrived >= self.expected:
            self.complete.set()

    def delivered(self, now_ns: int) -> None:
        self.unique += 1
        self.last_ns = now_ns
        if self.expected and self.unique >= self.expected:
            self.complete.set()

    def expect(self, expected: int) -> None:
        self.expected = expected
        if self.unique >= expected:
            self.complete.set()

    @property
    def lost(self) -> int:
        return max(0, self.expected - self.unique)


class Occupant:
    """One connection in one room, counting messages and presences as they arrive."""

    def __init__(
        self,
        conn: Connection,
        room: str,
        index: int,
        tally: Tally,
        *,
        messages: int = 0,
        peers: int = 0,
        joined: bool = False,
    ) -> None:
        self.conn = conn
        self.room = room
        self.index = index
        self.nick = nick(index)
        self.tally = tally
        self._occupant_prefix = f"{room}/".encode()
        self._own = self._occupant_prefix + self.nick.encode()
        self._messages_seen = bytearray(messages)
        self._max_seq = -1
        self._presences_seen = bytearray(peers)
        self._in_room = joined  # our own presence was checked: newcomers come in order from here
        self._last_peer_after_join = -1
        self._own_presence_tag = re.compile(
            rb"<presence\b([^>]*\bfrom=(['\"])" + re.escape(self._own) + rb"\2[^>]*)>"
        )
        self.count_presences = peers > 0
        self._deferred: list[tuple[int, bytes]] | None = None
        self.joined: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        if joined:  # the room's creator, already in
            self.joined.set_result(time.perf_counter_ns())
        conn.start_sink(self._feed)

    def join(self) -> None:
        self.conn.send(join_presence(self.room, self.nick))

    def defer_counting(self) -> None:
        """Only record what arrives (with arrival times) until `count_deferred`; until
        joined, also look for our own presence, which ends the join.

        During a measured phase the generator then spends almost nothing per
        chunk, so what is timed is the server; the counts come out the same."""
        self._deferred = []

    def count_deferred(self) -> None:
        """Check what was recorded, in arrival order, and check live from now on."""
        recorded, self._deferred = self._deferred or [], None
        for now, chunk in recorded:
            self.tally.arrived -= chunk.count(b"fo:")
            self._scan(chunk, now)

    def _feed(self, chunk: bytes) -> None:
        now = time.perf_counter_ns()
        if self._deferred is None:
            self._scan(chunk, now)
            return
        self._deferred.append((now, chunk))
        self.tally.recorded(chunk.count(b"fo:"))
        if not self.joined.done() and (own := self._own_presence_tag.search(chunk)) is not None:
            kind = _TYPE.search(own[1])
            self._join_answered(kind[2] if kind else b"", chunk, own.end(), now)

    def _scan(self, chunk: bytes, now: int) -> None:
        if b"<stream:error" in chunk:
            self.tally.errors[f"stream error sent to {self.nick}"] += 1
        if b"<presence" in chunk:
            for match in _EVENT.finditer(chunk):
                attributes = match[1]
                if attributes is None:
                    self._messages(((match[2], match[3]),), now)
                else:
                    self._presence(attributes, chunk, match.end(), now)
        else:  # the fan-out phase: messages only, the hot path
            self._messages(_MARKER.findall(chunk), now)

    def _messages(self, markers: Iterable[tuple[bytes, bytes]], now: int) -> None:
        seen = self._messages_seen
        tally = self.tally
        latencies = tally.latencies_ns
        for seq_text, sent in markers:
            seq = int(seq_text)
            if seq >= len(seen):
                tally.errors[f"message with unknown sequence number {seq}"] += 1
                continue
            if seen[seq]:
                tally.duplicated += 1
                continue
            seen[seq] = 1
            if seq < self._max_seq:
                tally.out_of_order += 1
            else:
                self._max_seq = seq
            latencies.append(now - int(sent))
            tally.delivered(now)

    def _presence(self, attributes: bytes, chunk: bytes, end: int, now: int) -> None:
        sender = _FROM.search(attributes)
        if sender is None or not sender[2].startswith(self._occupant_prefix):
            return
        kind = _TYPE.search(attributes)
        presence_type = kind[2] if kind else b""
        if sender[2] == self._own:
            self._join_answered(presence_type, chunk, end, now)
            if presence_type == b"error":
                return
            if presence_type == b"":
                self._in_room = True
        if presence_type != b"" or not self.count_presences:
            return
        peer_nick = sender[2][len(self._occupant_prefix) :]
        if not peer_nick.startswith(NICK_PREFIX) or not peer_nick[1:].isdigit():
            return
        self._peer_presence(int(peer_nick[1:]), now)

    def _join_answered(self, presence_type: bytes, chunk: bytes, end: int, now: int) -> None:
        """Our own presence: the join is confirmed, or refused with an error."""
        if self.joined.done():
            return
        if presence_type == b"error":
            condition = _ERROR_CONDITION.search(chunk, end)
            reason = condition[1].decode() if condition else "an error"
            if reason in _ROOM_FULL:
                reason += f" ({_ROOM_FULL_HINT})"
            self.joined.set_exception(LoadError(f"join refused: {reason}"))
        elif presence_type == b"":
            self.joined.set_result(now)

    def _peer_presence(self, peer: int, now: int) -> None:
        seen = self._presences_seen
        if peer >= len(seen):
            return
        if seen[peer]:
            self.tally.duplicated += 1
            return
        seen[peer] = 1
        if self._in_room:
            # After our own join, newcomers must be announced in the order they joined.
            if peer < self._last_peer_after_join:
                self.tally.out_of_order += 1
            self._last_peer_after_join = max(self._last_peer_after_join, peer)
        self.tally.delivered(now)


async def create_room(
    conn: Connection, room: str, nickname: str, occupants: int, timeout: float
) -> None:
    """Join `room` as its creator and unlock it, room for `occupants` asked for.

    Prosody (and rooms per XEP-0045) lock a new room, answering with status 201,
    until the owner submits the configuration form; the submitted form keeps the
    defaults but asks for `muc#roomconfig_maxusers` (ejabberd allows 200 by
    default; servers without the field ignore it). A room that already existed is
    refused: scenarios use fresh names."""
    own = f"{room}/{nickname}".encode()
    self_presence = expectation(
        rb"<presence\b[^>]*from=['\"]" + re.escape(own) + rb"['\"][^>]*>.*?</presence>"
    )
    conn.send(join_presence(room, nickname))
    async with asyncio.timeout(timeout):
        presence = (await conn.expect(self_presence, f"creating room {room}"))["want"]
        if b"type='error'" in presence or b'type="error"' in presence:
            raise LoadError(f"creating room {room} was refused: {presence.decode()}")
        if not _STATUS_201.search(presence):
            raise LoadError(f"room {room} already existed; scenarios need fresh rooms")
        conn.send(
            (
                f"<iq type='set' to='{room}' id='bench-config'>"
                "<query xmlns='http://jabber.org/protocol/muc#owner'>"
                "<x xmlns='jabber:x:data' type='submit'>"
                "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value>"
                "</field><field var='muc#roomconfig_maxusers'>"
                f"<value>{occupants}</value></field></x></query></iq>"
            ).encode()
        )
        answer = (await conn.expect(_CONFIGURED, f"configuring room {room}"))["want"]
        if b"result" not in answer:
            raise LoadError(f"configuring room {room} was refused: {answer.decode()}")
