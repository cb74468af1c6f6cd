"""What must hold after a soak, computed from the sessions' own records.

"Present when sent" is decided by the room's broadcast order, as any session
in the room saw it: presences and messages reach every occupant in the order
the room sent them, so the occupants an observer knew of when a message
reached it are the occupants the room broadcast it to. Every observer of a
message must agree on that set, each member must see the message exactly once
(a session that reset its connection may miss what came after the last thing
it read), nobody else may see it, and each session sees each sender's
messages in the order they were sent.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from loadgen import Seen, Sent, Session, session_of


@dataclass
class Verdict:
    messages: int = 0  # groupchat messages the room broadcast
    deliveries: int = 0
    rejected: int = 0  # answered with an error (the sender had been kicked, say)
    unobserved_after_drop: int = 0  # the sender reset its connection before the room saw it
    excused_after_drop: int = 0  # a copy for a session that had reset its connection
    lost: int = 0
    duplicated: int = 0
    misdelivered: int = 0
    disagreements: int = 0
    out_of_order: int = 0
    private_delivered: int = 0
    private_errors: int = 0
    private_lost: int = 0
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        if len(self.problems) < 20:
            self.problems.append(text)


def _key(seen: Seen) -> tuple[str, str] | None:
    """An identity the same room event has in every stream that shows it."""
    if seen.kind == "message":
        return ("message", seen.ident)
    if seen.kind in ("available", "unavailable"):
        return (seen.kind, seen.nick)
    return None


@dataclass
class _Stream:
    """One session's events in one room, replayed: where each message fell, who was there."""

    session: Session
    order: dict[tuple[str, str], int] = field(default_factory=dict)  # first position of each key
    counts: Counter[str] = field(default_factory=Counter)  # message id -> times seen in a window
    outside: list[str] = field(default_factory=list)  # messages seen while not in the room
    present: dict[str, frozenset[str]] = field(default_factory=dict)  # message id -> occupants
    last_position: int = -1

    @classmethod
    def replay(cls, session: Session, events: list[Seen]) -> _Stream:
        stream = cls(session)
        view: set[str] = set()
        inside = False
        for position, seen in enumerate(events):
            key = _key(seen)
            if key is not None:
                stream.order.setdefault(key, position)
                stream.last_position = position
            if seen.kind == "available":
                view.add(seen.nick)
                inside = inside or "110" in seen.codes
            elif seen.kind == "unavailable":
                view.discard(seen.nick)
                if "110" in seen.codes and "303" not in seen.codes:
                    inside = False
                    view.clear()
            elif seen.kind == "message":
                if not inside:
                    stream.outside.append(seen.ident)
                    continue
                stream.counts[seen.ident] += 1
                stream.present.setdefault(seen.ident, frozenset(view))
        return stream


def check(sessions: list[Session], sent: dict[str, Sent]) -> Verdict:
    verdict = Verdict()
    streams: dict[str, dict[int, _Stream]] = defaultdict(dict)
    for session in sessions:
        for room, events in session.records.items():
            streams[room][session.sid] = _Stream.replay(session, events)
            _check_order(session, room, events, verdict)
            _check_private(session, events, sent, verdict)
    errors = set().union(*(s.errors for s in sessions))
    for ident, message in sent.items():
        if ident.startswith("m"):
            _check_groupchat(message, streams[message.room], sessions, ident in errors, verdict)
        elif ident in errors:
            verdict.private_errors += 1
        else:
            _count_private(message, sessions, verdict)
    for room, by_session in streams.items():
        for stream in by_session.values():
            for ident in stream.outside:
                verdict.misdelivered += 1
                verdict.problem(f"{ident} reached session {stream.session.sid} outside {room}")
    return verdict


def _check_groupchat(
    message: Sent, room: dict[int, _Stream], sessions: list[Session], errored: bool, v: Verdict
) -> None:
    ident = message.ident
    observers = [stream for stream in room.values() if stream.counts[ident]]
    if not observers:
        if errored:
            v.rejected += 1
        elif sessions[message.sender].aborted:
            v.unobserved_after_drop += 1
        else:
            v.lost += 1
            v.problem(f"{ident} from session {message.sender} reached nobody")
        return
    v.messages += 1
    if errored:
        v.problem(f"{ident} was both broadcast and refused")
        v.duplicated += 1
    views = {stream.present[ident] for stream in observers}
    if len(views) > 1:
        v.disagreements += 1
        v.problem(f"observers of {ident} disagree on who was present: {sorted(map(sorted, views))}")
    by_sender = [stream for stream in observers if stream.session.sid == message.sender]
    reference = (by_sender or observers)[0]
    expected = {session_of(nick) for nick in reference.present[ident]}
    for sid, stream in room.items():
        seen = stream.counts[ident]
        if sid not in expected:
            if seen:
                v.misdelivered += 1
                v.problem(f"{ident} reached session {sid}, not an occupant when it was sent")
            continue
        if seen == 1:
            v.deliveries += 1
        elif seen > 1:
            v.duplicated += 1
            v.problem(f"{ident} reached session {sid} {seen} times")
        elif _after_reset(stream, reference, ident):
            v.excused_after_drop += 1
        else:
            v.lost += 1
            v.problem(f"{ident} never reached session {sid}, an occupant when it was sent")
    for sid in expected - set(room):
        if sessions[sid].aborted and not sessions[sid].records.get(message.room):
            v.excused_after_drop += 1
        else:
            v.lost += 1
            v.problem(f"{ident} never reached session {sid} (no record of the room at all)")


def _after_reset(stream: _Stream, reference: _Stream, ident: str) -> bool:
    """Whether `ident` came after the last event a reset session read (in `reference`'s order)."""
    if not stream.session.aborted:
        return False
    position = reference.order[("message", ident)]
    read = [reference.order[key] for key in stream.order if key in reference.order]
    return not read or max(read) < position


def _check_order(session: Session, room: str, events: list[Seen], v: Verdict) -> None:
    last: dict[int, int] = {}
    for seen in events:
        if seen.kind != "message":
            continue
        sender, _, number = seen.ident[1:].partition(".")
        if int(sender) != session_of(seen.nick):
            v.misdelivered += 1
            v.problem(f"{seen.ident} in {room} came from nick {seen.nick}")
        previous = last.get(int(sender), -1)
        if int(number) <= previous:
            v.out_of_order += 1
            v.problem(f"session {session.sid} saw {seen.ident} after {sender}.{previous}")
        last[int(sender)] = int(number)


def _check_private(session: Session, events: list[Seen], sent: dict[str, Sent], v: Verdict) -> None:
    for seen in events:
        if seen.kind != "pm":
            continue
        message = sent.get(seen.ident)
        if message is None or message.to_session != session.sid:
            v.misdelivered += 1
            v.problem(f"private {seen.ident} reached session {session.sid}")


def _count_private(message: Sent, sessions: list[Session], v: Verdict) -> None:
    assert message.to_session is not None
    target = sessions[message.to_session]
    copies = sum(
        1
        for seen in target.records.get(message.room, [])
        if seen.kind == "pm" and seen.ident == message.ident
    )
    if copies == 1:
        v.private_delivered += 1
    elif copies > 1:
        v.duplicated += 1
        v.problem(f"private {message.ident} reached its target {copies} times")
    elif target.aborted or sessions[message.sender].aborted:
        v.excused_after_drop += 1
    else:
        v.private_lost += 1
        v.problem(f"private {message.ident} neither delivered nor refused")
