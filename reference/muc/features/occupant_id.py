"""XEP-0421: a stable, anonymous id per user in each room, on their presence and messages."""

from __future__ import annotations

import base64
import hashlib
import hmac

from reference.muc import xml
from reference.muc.hooks import Event, Hooks
from reference.muc.occupant import Occupant
from reference.muc.room import Room

NS = "urn:xmpp:occupant-id:0"


def register(hooks: Hooks) -> None:
    hooks.on("muc-disco#info", _disco, 1)
    hooks.on("muc-broadcast-presence", _stamp)
    hooks.on("muc-occupant-pre-join", _stamp)
    hooks.on("muc-occupant-pre-change", _stamp)
    hooks.on("muc-occupant-groupchat", _stamp)
    hooks.on("muc-private-message", _stamp_private)


def occupant_id(room: Room, occupant: Occupant) -> str:
    if occupant.stable_id is None:
        digest = hmac.new(occupant.bare_jid.encode(), room.salt().encode(), hashlib.sha256).digest()
        occupant.stable_id = base64.b64encode(digest).decode()
    return occupant.stable_id


def _disco(event: Event) -> None:
    xml.child(event.reply, "feature", attrs={"var": NS})


def _stamp(event: Event) -> None:
    occupant = event.dest_occupant if event.dest_occupant is not None else event.occupant
    if occupant is None:
        return
    xml.remove_children(event.stanza, "occupant-id", NS)  # never trust a client's
    xml.child(event.stanza, "occupant-id", NS, {"id": occupant_id(event.room, occupant)})


def _stamp_private(event: Event) -> None:
    occupant = event.room.occupants.get(event.stanza.get("from", ""))
    if occupant is not None:
        _stamp(Event(room=event.room, stanza=event.stanza, occupant=occupant))
