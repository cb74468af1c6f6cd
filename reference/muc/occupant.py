"""One nickname in a room: who holds it, its role, and each client session's presence.

A user may join the same nickname from several resources; each session keeps the
last presence it sent (the room's own namespaces removed, `from` set to the
in-room JID), which is what others see. `primary` is the session whose presence
represents the occupant. `listed` caches how the occupant appears in occupant
lists sent to joiners (see `presence.listed_presence`), rendered once per state.
"""

from __future__ import annotations

from collections.abc import Iterator

from lxml import etree

from reference.muc import xml
from reference.wire import Readdressable

_FILTERED = (xml.MUC, xml.MUC_USER)


class Occupant:
    __slots__ = ("bare_jid", "listed", "nick", "primary", "role", "sessions", "stable_id")

    def __init__(self, bare_jid: str, nick: str, role: str | None) -> None:
        self.bare_jid = bare_jid
        self.nick = nick  # the in-room JID, room@host/nick
        self.role = role
        self.sessions: dict[str, etree._Element] = {}
        self.primary: str | None = None
        self.stable_id: str | None = None
        # anonymous? -> (the state it was rendered from, the rendering)
        self.listed: dict[bool, tuple[tuple[object, ...], Readdressable]] = {}

    @property
    def nickname(self) -> str:
        return self.nick.partition("/")[2]

    def set_session(self, real_jid: str, presence: etree._Element) -> None:
        stored = xml.without_namespaces(xml.clone(presence), _FILTERED)
        stored.set("from", self.nick)
        stored.set("to", real_jid)
        self.sessions[real_jid] = stored
        unavailable = stored.get("type") == "unavailable"
        if self.primary is None or (unavailable and self.primary == real_jid):
            self.primary = self._live_session() or real_jid

    def remove_session(self, real_jid: str) -> None:
        self.sessions.pop(real_jid, None)
        if self.primary == real_jid:
            self.primary = self._live_session()

    def presence(self, real_jid: str | None = None) -> etree._Element | None:
        key = real_jid or self.primary
        return self.sessions.get(key) if key is not None else None

    def live_sessions(self) -> Iterator[str]:
        return (jid for jid, pr in self.sessions.items() if pr.get("type") is None)

    def snapshot(self) -> Occupant:
        """A copy without left sessions' presences (except the primary's: it may be the last)."""
        copy = Occupant(self.bare_jid, self.nick, self.role)
        copy.sessions = {
            jid: pr
            for jid, pr in self.sessions.items()
            if pr.get("type") != "unavailable" or jid == self.primary
        }
        copy.primary = self.primary
        copy.stable_id = self.stable_id
        copy.listed = dict(self.listed)
        return copy

    def _live_session(self) -> str | None:
        return next(self.live_sessions(), None)
