"""A room's state and the operations every feature builds on.

The room holds occupants, affiliations and each feature's settings (`data`, a
plain dict that persistence stores as is) and delivers stanzas to occupants.
Behaviour that varies with settings lives in the feature modules, reached
through `hooks`; changing affiliations and roles is `authority`'s job.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from lxml import etree

from reference.muc.hooks import Event
from reference.muc.occupant import Occupant
from reference.muc.ranks import ROLES, affiliation_rank, role_rank
from reference.wire import Readdressable

if TYPE_CHECKING:
    from reference.muc.service import MUCService


def bare(jid: str) -> str:
    return jid.partition("/")[0]


def resource(jid: str) -> str | None:
    _, slash, rest = jid.partition("/")
    return rest if slash else None


class Room:
    def __init__(self, service: MUCService, jid: str, data: dict[str, Any] | None = None) -> None:
        self.service = service
        self.hooks = service.hooks
        self.jid = jid
        self.data: dict[str, Any] = data if data is not None else {}
        self.affiliations: dict[str, str] = {}
        self.affiliation_data: dict[str, dict[str, Any]] = {}
        self.occupants: dict[str, Occupant] = {}  # in-room JID -> occupant
        self.jid_nick: dict[str, str] = {}  # real full JID -> in-room JID
        self._nick_jids: dict[str, set[str]] = {}  # in-room JID -> indexed real JIDs
        self.cache: dict[str, Any] = {}  # features' derived, unsaved state
        self.destroying: str | bool = False

    def __repr__(self) -> str:
        return f"Room({self.jid})"

    # -- delivery ---------------------------------------------------------

    def route(self, stanza: etree._Element) -> None:
        self.service.route(stanza)

    def route_copies(self, stanza: etree._Element, recipients: Iterable[str]) -> None:
        self.service.route_copies(stanza, recipients)

    def route_rendered(self, rendered: Sequence[Readdressable], recipient: str) -> None:
        self.service.route_rendered(rendered, recipient)

    def route_to_occupant(self, occupant: Occupant, stanza: etree._Element) -> None:
        self.route_copies(stanza, list(occupant.sessions))

    def broadcast(
        self, stanza: etree._Element, only: Callable[[Occupant], bool] | None = None
    ) -> None:
        recipients = [
            jid
            for occupant in self.occupants.values()
            if only is None or only(occupant)
            for jid in occupant.sessions
        ]
        self.route_copies(stanza, recipients)

    def broadcast_message(self, stanza: etree._Element) -> None:
        """A message from the room to every occupant (history and archive see it first)."""
        if self.hooks.fire("muc-broadcast-message", Event(room=self, stanza=stanza)):
            return
        self.broadcast(stanza)

    def save(self, forced: bool = False) -> None:
        self.service.save_room(self, forced)

    # -- occupants --------------------------------------------------------

    def occupant_by_real_jid(self, real_jid: str) -> Occupant | None:
        nick = self.jid_nick.get(real_jid)
        return self.occupants.get(nick) if nick is not None else None

    def new_occupant(self, bare_jid: str, nick: str) -> Occupant:
        role = self.default_role(self.get_affiliation(bare_jid))
        return Occupant(bare_jid, nick, role)

    def save_occupant(self, occupant: Occupant) -> Occupant | None:
        """Store a snapshot of `occupant`; it leaves the room without a live session or role.

        The caller's object is left as it was (same role, same sessions), so what
        is announced next still describes the occupant as it was when it left."""
        nick = occupant.nick
        for real_jid in self._nick_jids.pop(nick, ()):
            if self.jid_nick.get(real_jid) == nick:
                del self.jid_nick[real_jid]
        stored = occupant.snapshot()
        live = list(stored.live_sessions()) if stored.role is not None else []
        if not live:
            self.occupants.pop(nick, None)
            return None
        for real_jid in live:
            self.jid_nick[real_jid] = nick
        self._nick_jids[nick] = set(live)
        self.occupants[nick] = stored
        return stored

    def default_role(self, affiliation: str | None) -> str | None:
        role = self.hooks.fire(
            "muc-get-default-role",
            Event(room=self, affiliation=affiliation, rank=affiliation_rank(affiliation)),
        )
        return role or None

    # -- affiliations -----------------------------------------------------

    def get_affiliation(self, jid: str) -> str | None:
        bare_jid = bare(jid)
        if bare_jid in self.service.admins:
            return "owner"
        found = self.affiliations.get(bare_jid)
        if found is None and self.affiliations.get(bare_jid.rpartition("@")[2]) == "outcast":
            return "outcast"
        return found

    def each_affiliation(self, wanted: str | None = None) -> list[tuple[str, str]]:
        return [(j, a) for j, a in self.affiliations.items() if wanted is None or a == wanted]

    def registered_nick(self, jid: str) -> str | None:
        data = self.affiliation_data.get(bare(jid))
        return data.get("reserved_nickname") if data else None

    def registered_jid(self, nick: str) -> str | None:
        """Who reserved `nick` (an index rebuilt after each affiliation change)."""
        index = self.cache.get("reserved_nicks")
        if index is None:
            index = {
                data["reserved_nickname"]: jid
                for jid, data in self.affiliation_data.items()
                if data.get("reserved_nickname")
            }
            self.cache["reserved_nicks"] = index
        return index.get(nick)

    # -- settings every part needs ----------------------------------------

    def salt(self) -> str:
        """A random per-room secret (occupant ids and proxied iq ids derive from it)."""
        salt = self.data.get("occupant_id_salt")
        if salt is None:
            salt = self.data["occupant_id_salt"] = str(uuid.uuid4())
        return salt

    def whois(self) -> str:
        return self.data.get("whois", "moderators")

    def can_see_real_jids(self, viewer: Occupant) -> bool:
        """Depends on the room's whois setting and the viewer's role only."""
        whois = self.whois()
        return whois == "anyone" or (
            whois == "moderators" and role_rank(viewer.role) >= ROLES["moderator"]
        )

    def is_anonymous_for(self, real_jid: str) -> bool:
        if self.whois() == "anyone":
            return False
        if self.get_affiliation(real_jid) in ("admin", "owner"):
            return False
        occupant = self.occupant_by_real_jid(real_jid)
        return not (occupant is not None and self.can_see_real_jids(occupant))
