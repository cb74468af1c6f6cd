"""Messages and iqs through a room: groupchat, private messages, proxied iqs, invitations.

Groupchat goes through `muc-occupant-groupchat` (role check, subject changes,
occupant ids) before the room broadcasts it; a message carrying an invitation,
a decline or a voice request is handed to whichever feature handles it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from lxml import etree

from protocol import namespaces as ns
from reference.muc import xml
from reference.muc.forms import form_type
from reference.muc.hooks import Event
from reference.muc.joining import kick_for_error
from reference.muc.occupant import Occupant
from reference.muc.room import Room, bare

_KICKABLE = frozenset(
    {
        "gone",
        "internal-server-error",
        "item-not-found",
        "jid-malformed",
        "recipient-unavailable",
        "redirect",
        "remote-server-not-found",
        "remote-server-timeout",
        "service-unavailable",
    }
)
_TO_BARE_NAMESPACES = frozenset(
    {"vcard-temp", "http://jabber.org/protocol/pubsub", "urn:ietf:params:xml:ns:vcard-4.0"}
)
VOICE_REQUEST = "http://jabber.org/protocol/muc#request"


def is_kickable_error(stanza: etree._Element) -> bool:
    """An error meaning the sender's client is gone (a malformed error counts too)."""
    condition, _ = xml.error_condition(stanza)
    return condition is None or condition in _KICKABLE


def new_id() -> str:
    return secrets.token_urlsafe(18)


def handle_message_to_room(room: Room, stanza: etree._Element) -> None:
    message_type = stanza.get("type")
    if message_type == "groupchat":
        _groupchat(room, stanza)
        return
    if message_type == "error" and is_kickable_error(stanza):
        kick_for_error(room, stanza)
        return
    if message_type in (None, "normal"):
        x = xml.find(stanza, "x", xml.MUC_USER)
        if x is not None:
            payload = xml.first_child(x)
            name = etree.QName(payload).localname if payload is not None else None
            if name in ("invite", "decline") and payload is not None and payload.get("to"):
                event = Event(room=room, stanza=stanza, payload=payload)
                if room.hooks.fire(f"muc-mediated-{name}", event):
                    return
            room.route(xml.error_reply(stanza, "cancel", "bad-request"))
            return
        form = xml.find(stanza, "x", xml.DATA_FORMS)
        if form is not None and form_type(form) == VOICE_REQUEST:
            room.hooks.fire("muc-role-request", Event(room=room, stanza=stanza, form=form))
            return
    if message_type != "error":
        room.route(xml.error_reply(stanza, "cancel", "service-unavailable"))


def _groupchat(room: Room, stanza: etree._Element) -> None:
    sender = stanza.get("from", "")
    occupant = room.occupant_by_real_jid(sender)
    if stanza.get("id") is None:
        stanza.set("id", new_id())
    event = Event(room=room, stanza=stanza, occupant=occupant)
    if room.hooks.fire("muc-occupant-groupchat", event):
        return
    stanza.set("from", event.occupant.nick if event.occupant is not None else room.jid)
    room.broadcast_message(stanza)


def handle_message_to_occupant(room: Room, stanza: etree._Element) -> None:
    """A private message to `room@host/nick`."""
    sender = stanza.get("from", "")
    message_type = stanza.get("type")
    current_nick = room.jid_nick.get(sender)
    if current_nick is None:
        if message_type != "error":
            room.route(
                xml.error_reply(
                    stanza,
                    "cancel",
                    "not-acceptable",
                    "You are not currently connected to this chat",
                    room.jid,
                )
            )
        return
    if message_type == "groupchat":
        room.route(xml.error_reply(stanza, "modify", "bad-request", by=room.jid))
        return
    if message_type == "error" and is_kickable_error(stanza):
        kick_for_error(room, stanza)
        return
    target = room.occupants.get(stanza.get("to", ""))
    if target is None:
        room.route(
            xml.error_reply(stanza, "cancel", "item-not-found", "Recipient not in room", room.jid)
        )
        return
    private = xml.without_namespaces(xml.clone(stanza), (xml.MUC, xml.MUC_USER))
    xml.child(private, "x", xml.MUC_USER)
    private.set("from", current_nick)
    if room.hooks.fire("muc-private-message", Event(room=room, stanza=private)) is not False:
        room.route_to_occupant(target, private)


def handle_iq_to_occupant(room: Room, stanza: etree._Element) -> None:
    """Iqs between occupants: the room hides real JIDs by rewriting ids it can undo."""
    iq_type = stanza.get("type")
    to = stanza.get("to", "")
    sender = stanza.get("from", "")
    target = room.occupants.get(to)
    if iq_type in ("result", "error"):
        if target is not None:
            _relay_response(room, stanza, sender, target)
        return
    current_nick = room.jid_nick.get(sender)
    if current_nick is None:
        room.route(
            xml.error_reply(
                stanza,
                "cancel",
                "not-acceptable",
                "You are not currently connected to this chat",
                room.jid,
            )
        )
        return
    if target is None:
        room.route(
            xml.error_reply(stanza, "cancel", "item-not-found", "Recipient not in room", room.jid)
        )
        return
    payload = xml.first_child(stanza)
    if to == current_nick and iq_type == "get" and xml.find(stanza, "ping", ns.PING) is not None:
        room.route(xml.reply(stanza))  # XEP-0410 self-ping: answered by the room
        return
    if target.primary is None:
        return
    salt = room.salt().encode()
    token = target.primary + "\0" + stanza.get("id", "") + "\0"
    digest = hmac.new(salt, sender.encode(), hashlib.sha256).digest()[:8]
    forwarded = xml.clone(stanza)
    forwarded.set("id", base64.b64encode(token.encode() + digest).decode())
    forwarded.set("from", current_nick)
    namespace = etree.QName(payload).namespace if payload is not None else None
    forwarded.set(
        "to", bare(target.primary) if namespace in _TO_BARE_NAMESPACES else target.primary
    )
    room.route(forwarded)


def _relay_response(room: Room, stanza: etree._Element, sender: str, target: Occupant) -> None:
    try:
        raw = base64.b64decode(stanza.get("id", ""), validate=True)
    except ValueError:
        return
    parts = raw.split(b"\0", 2)
    if len(parts) != 3:
        return
    try:
        from_jid, original_id = parts[0].decode(), parts[1].decode()
    except UnicodeDecodeError:
        return
    if sender not in (from_jid, bare(from_jid)):
        return
    from_nick = room.jid_nick.get(from_jid)
    if from_nick is None:
        return
    salt = room.salt().encode()
    for session in target.sessions:
        if hmac.new(salt, session.encode(), hashlib.sha256).digest()[:8] == parts[2]:
            relayed = xml.clone(stanza)
            relayed.set("from", from_nick)
            relayed.set("to", session)
            relayed.set("id", original_id)
            room.route(relayed)
            return
