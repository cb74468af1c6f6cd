"""The MUC service component: finds (or creates) the room a stanza is for and hands it over.

Rooms and the service itself answer through events: the service fires
`iq-<type>/bare/<namespace>:<element>` for an iq to a room and
`iq-<type>/host/<namespace>:<element>` for one to the service, so a feature adds
a protocol by registering a handler.
Rooms nobody is in and that are not persistent disappear; persistent ones are
written to the room store and come back from it on demand.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from lxml import etree

from protocol.jid import split_jid
from reference.component import Router
from reference.contact_info import ContactInfo
from reference.muc import joining, messages, xml
from reference.muc.features import FEATURES
from reference.muc.hooks import Event, Hooks
from reference.muc.room import Room
from reference.muc.storage import RoomStore, UnreadableRecord
from reference.wire import Readdressable

log = logging.getLogger(__name__)


class MUCService:
    """A Component hosting chat rooms at `host`, behaving as Prosody 0.12's mod_muc."""

    def __init__(
        self,
        host: str,
        admins: frozenset[str],
        database: Path | None = None,
        contact_info: ContactInfo | None = None,
    ) -> None:
        self.host = host.lower()
        self.admins = frozenset(admin.lower() for admin in admins)
        self.contact_info: ContactInfo = contact_info or {}
        self.hooks = Hooks()
        self.store = RoomStore(database)
        self.rooms: dict[str, Room] = {}
        self.public_rooms: dict[str, str] = {}  # room JID -> name ("" when unnamed)
        self._router: Router | None = None
        self.unreadable: dict[str, str] = {}  # room JID -> why its stored record was skipped
        for feature in FEATURES:
            feature.register(self.hooks)
        self.hooks.on("muc-room-destroyed", self._forget_destroyed)
        for jid in self.store.jids():
            room = self._restore(jid)
            if room is not None and not room.data.get("hidden"):
                self.public_rooms[jid] = room.data.get("name") or ""

    # -- Component ----------------------------------------------------------

    def attach(self, router: Router) -> None:
        self._router = router

    def close(self) -> None:
        for room in list(self.rooms.values()):
            self.save_room(room)
        self.store.close()

    def handle(self, stanza: etree._Element) -> None:
        try:
            self._dispatch(stanza)
        except Exception:
            # A bug must cost one stanza, not the sender's session or the server.
            log.exception("MUC service failed on a stanza from %s", stanza.get("from"))
            if stanza.get("type") not in ("error", "result") and stanza.get("from"):
                self.route(xml.error_reply(stanza, "wait", "internal-server-error"))

    def _dispatch(self, stanza: etree._Element) -> None:
        to = split_jid(stanza.get("to", ""))
        sender = stanza.get("from")
        if to is None or sender is None:
            return
        if not to.local:
            self._handle_host(stanza, to.resource or None)
            return
        stanza.set("to", to.full)  # normalised: rooms are found by their exact JID
        self._handle_room_stanza(stanza, to.bare, bool(to.resource))

    # -- delivery (what rooms use) -----------------------------------------

    def route(self, stanza: etree._Element) -> None:
        if self._router is not None:
            self._router.route(stanza)

    def route_copies(self, stanza: etree._Element, recipients: Iterable[str]) -> None:
        if self._router is not None:
            self._router.route_copies(stanza, recipients)

    def route_rendered(self, rendered: Sequence[Readdressable], recipient: str) -> None:
        """Stanzas rendered beforehand (an occupant list) to one JID, in order."""
        if self._router is not None:
            self._router.route_rendered(rendered, recipient)

    def is_admin(self, jid: str) -> bool:
        return jid.partition("/")[0].lower() in self.admins

    # -- rooms ----------------------------------------------------------------

    def get_room(self, jid: str) -> Room | None:
        return self.rooms.get(jid) or self._restore(jid)

    def track(self, room: Room) -> None:
        self.rooms[room.jid] = room

    def all_rooms(self) -> list[Room]:
        """Live rooms and stored ones (tombstones excluded), sorted by JID."""
        found = dict(self.rooms)
        for jid in self.store.jids():
            if jid not in found and (room := self._restore(jid)) is not None:
                found[jid] = room
        return [found[jid] for jid in sorted(found) if not found[jid].data.get("destroyed")]

    def save_room(self, room: Room, forced: bool = False) -> None:
        if room.data.get("hidden"):
            self.public_rooms.pop(room.jid, None)
        else:
            self.public_rooms[room.jid] = room.data.get("name") or ""
        if room.data.get("persistent"):
            self.store.save(
                room.jid,
                {
                    "data": room.data,
                    "affiliations": room.affiliations,
                    "affiliation_data": room.affiliation_data,
                },
            )
        elif forced:
            self.store.delete(room.jid)

    def _restore(self, jid: str) -> Room | None:
        if jid in self.unreadable:
            return None
        try:
            record = self.store.load(jid)
        except UnreadableRecord as exc:
            # One bad record costs that room, not the service: reported once, then skipped.
            self.unreadable[jid] = str(exc)
            log.warning("room %s skipped: its stored record is unreadable: %s", jid, exc)
            return None
        if record is None:
            return None
        room = Room(self, jid, record["data"])
        room.affiliations = record["affiliations"]
        room.affiliation_data = record["affiliation_data"]
        self.hooks.fire("muc-room-restored", Event(room=room))
        self.rooms[jid] = room
        return room

    def delete_room(self, room: Room) -> None:
        """Forget the room, in memory and in the store."""
        if self.rooms.get(room.jid) is room:
            del self.rooms[room.jid]
        self.store.delete(room.jid)
        self.public_rooms.pop(room.jid, None)

    def _forget_destroyed(self, event: Event) -> None:
        self.delete_room(event.room)

    # -- dispatch -------------------------------------------------------------

    def _handle_host(self, stanza: etree._Element, resource: str | None) -> None:
        name = xml.kind(stanza)
        stanza_type = stanza.get("type")
        if name == "iq":
            payload = xml.first_child(stanza)
            if stanza_type in ("get", "set") and payload is not None:
                event = Event(service=self, stanza=stanza)
                if resource is None and self.hooks.fire(
                    f"iq-{stanza_type}/host/{_payload_key(payload)}", event
                ):
                    return
                self.route(xml.error_reply(stanza, "cancel", "service-unavailable"))
            return
        if stanza_type != "error":
            self.route(xml.error_reply(stanza, "cancel", "item-not-found"))

    def _handle_room_stanza(self, stanza: etree._Element, room_jid: str, to_occupant: bool) -> None:
        room = self.get_room(room_jid)
        if not to_occupant and xml.kind(stanza) == "iq" and not _needs_room(stanza):
            self._room_iq(room, stanza)  # its handlers decide what a missing room means
            return
        if room is not None and room.data.get("destroyed"):
            if not self._tombstone_expired(room, stanza):
                if stanza.get("type") != "error":
                    self.route(_gone(stanza, room, self.host))
                return
            self.delete_room(room)
            room = None
        if room is None:
            self._no_such_room(stanza, room_jid)
            return
        name = xml.kind(stanza)
        if to_occupant:
            if name == "presence":
                joining.handle_presence_to_occupant(room, stanza)
            elif name == "message":
                messages.handle_message_to_occupant(room, stanza)
            else:
                messages.handle_iq_to_occupant(room, stanza)
        elif name == "presence":
            if not joining.handle_presence_to_room(room, stanza):
                self._unhandled(stanza)
        elif name == "message":
            messages.handle_message_to_room(room, stanza)
        else:
            self._room_iq(room, stanza)

    def _tombstone_expired(self, room: Room, stanza: etree._Element) -> bool:
        if room.data.get("locked", 0) < time.time():
            return True
        # A service admin may take the name back at once by joining it.
        return (
            self.is_admin(stanza.get("from", ""))
            and xml.kind(stanza) == "presence"
            and stanza.get("type") is None
        )

    def _no_such_room(self, stanza: etree._Element, room_jid: str) -> None:
        joins = (
            xml.kind(stanza) == "presence"
            and stanza.get("type") is None
            and xml.find(stanza, "x", xml.MUC) is not None
        )
        if joins:
            joining.handle_first_presence(Room(self, room_jid), stanza)
        elif stanza.get("type") != "error":
            self.route(xml.error_reply(stanza, "cancel", "item-not-found", by=self.host))

    def _room_iq(self, room: Room | None, stanza: etree._Element) -> None:
        """An iq to a room JID; `room` is None when there is no such room."""
        stanza_type = stanza.get("type")
        payload = xml.first_child(stanza)
        if stanza_type not in ("get", "set") or payload is None:
            return
        event = Event(room=room, service=self, stanza=stanza)
        if self.hooks.fire(f"iq-{stanza_type}/bare/{_payload_key(payload)}", event):
            return
        self._unhandled(stanza)

    def _unhandled(self, stanza: etree._Element) -> None:
        """What nothing in the service answers: an error unless it is one (or an iq result)."""
        if stanza.get("type") == "error" or (
            xml.kind(stanza) == "iq" and stanza.get("type") == "result"
        ):
            return
        self.route(xml.error_reply(stanza, "cancel", "service-unavailable"))


# The iqs to a room JID that need the room (and get item-not-found without it),
# as Prosody's mod_muc routes them; others go to their handlers whether or not
# the room exists, or get service-unavailable.
_ROOM_IQS = frozenset(
    f"{kind}/{namespace}:query"
    for kind, namespace in (
        ("get", xml.DISCO_INFO),
        ("get", xml.DISCO_ITEMS),
        ("get", xml.MUC_ADMIN),
        ("set", xml.MUC_ADMIN),
        ("get", xml.MUC_OWNER),
        ("set", xml.MUC_OWNER),
        ("get", xml.REGISTER),
        ("set", xml.REGISTER),
    )
)


def _needs_room(iq: etree._Element) -> bool:
    payload = xml.first_child(iq)
    return payload is not None and f"{iq.get('type')}/{_payload_key(payload)}" in _ROOM_IQS


def _payload_key(payload: etree._Element) -> str:
    """`namespace:name` of an iq's payload, the last part of the event that handles it."""
    name = etree.QName(payload)
    return f"{name.namespace}:{name.localname}"


def _gone(stanza: etree._Element, room: Room, host: str) -> etree._Element:
    """The answer from a destroyed room's tombstone, pointing to its successor if any."""
    reply = xml.error_reply(stanza, "cancel", "gone", room.data.get("reason"), host)
    new_jid = room.data.get("newjid")
    if new_jid:
        error = xml.client_child(reply, "error")
        gone = error.find(xml.tag("gone", xml.STANZAS)) if error is not None else None
        if gone is not None:
            gone.text = f"xmpp:{new_jid}?join"
    return reply
