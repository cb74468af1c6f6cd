"""Discussion history: recent messages replayed to a joining session (XEP-0045 7.2.15).

Messages worth keeping (a body, a store hint, encryption, chat markers) are kept,
up to the room's history length; a joining client may ask for fewer (maxstanzas,
maxchars, seconds, since). The archive feature may answer `muc-get-history` first.

Every groupchat message may be kept, but few are ever replayed: a message is kept
as its serialisation (without `to`) and the time it came, and only a replayed one
is parsed back and given the room's delay stamp.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from lxml import etree

from reference.muc import xml
from reference.muc.forms import Field
from reference.muc.hooks import Event, Hooks
from reference.muc.room import Room
from reference.muc.timestamps import datetime_stamp, parse_stamp
from reference.wire import Readdressable

DEFAULT_LENGTH = 20
LENGTH_FIELD = "muc#roomconfig_historylength"
DEFAULT_FIELD = "muc#roomconfig_defaulthistorymessages"
HINTS = "urn:xmpp:hints"
# Only this server's own serialisations are parsed back; still, no entities, DTDs or network.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@dataclass(frozen=True, slots=True)
class Kept:
    """A message in the history: its bytes without `to`, and when the room got it."""

    rendered: bytes
    when: float

    def replayed(self, room_jid: str) -> etree._Element:
        """The message as history replays it: with the room's delay stamp, without `to`."""
        message = etree.fromstring(self.rendered, _PARSER)
        xml.child(
            message, "delay", xml.DELAY, {"from": room_jid, "stamp": datetime_stamp(self.when)}
        )
        return message


def register(hooks: Hooks) -> None:
    hooks.on("muc-config-form", _form, 70 - 5)
    hooks.on(f"muc-config-submitted/{LENGTH_FIELD}", _submitted_length)
    hooks.on(f"muc-config-submitted/{DEFAULT_FIELD}", _submitted_default)
    hooks.on("muc-occupant-session-new", _send_history, 50)
    hooks.on("muc-broadcast-message", _keep_if_historic)
    hooks.on("muc-message-is-historic", _is_historic, -1)
    hooks.on("muc-add-history", _add, -1)
    hooks.on("muc-get-history", _from_memory, -1)


def length(room: Room) -> int:
    return room.data.get("history_length", DEFAULT_LENGTH)


def default_messages(room: Room) -> int:
    return room.data.get("default_history_messages", DEFAULT_LENGTH)


def memory(room: Room) -> list[Kept]:
    return room.cache.setdefault("history", [])


def _form(event: Event) -> None:
    room = event.room
    event.form.add(
        Field(
            LENGTH_FIELD,
            "text-single",
            "Maximum number of history messages returned by room",
            "Specify the maximum number of previous messages that should be sent to users "
            "when they join the room",
            value=length(room),
            datatype="xs:integer",
        )
    )
    event.form.add(
        Field(
            DEFAULT_FIELD,
            "text-single",
            "Default number of history messages returned by room",
            "Specify the number of previous messages sent to new users when they join the room",
            value=default_messages(room),
            datatype="xs:integer",
        )
    )


def _submitted_length(event: Event) -> None:
    # Prosody reports a change whenever the field is submitted, even unchanged.
    room = event.room
    if event.value is None or event.value == DEFAULT_LENGTH:
        room.data.pop("history_length", None)
    else:
        room.data["history_length"] = event.value
    event.status_codes.add("104")


def _submitted_default(event: Event) -> None:
    room = event.room
    number = event.value if isinstance(event.value, int) else DEFAULT_LENGTH
    number = min(number, room.data.get("history_length", DEFAULT_LENGTH))
    if number == DEFAULT_LENGTH:
        room.data.pop("default_history_messages", None)
    else:
        room.data["default_history_messages"] = number


def _keep_if_historic(event: Event) -> None:
    if event.room.hooks.fire("muc-message-is-historic", event):
        event.room.hooks.fire("muc-add-history", event)


def _is_historic(event: Event) -> bool | None:
    stanza = event.stanza
    if xml.find(stanza, "no-store", HINTS) is not None:
        return False
    if xml.find(stanza, "no-permanent-store", HINTS) is not None:
        return False
    if xml.find(stanza, "store", HINTS) is not None:
        return True
    if xml.client_child(stanza, "body") is not None:
        return True
    if xml.find(stanza, "encryption", "urn:xmpp:eme:0") is not None:
        return True
    if any(etree.QName(c).namespace == "urn:xmpp:chat-markers:0" for c in xml.children(stanza)):
        return True
    return None


def _add(event: Event) -> bool | None:
    room = event.room
    if length(room) == 0:
        room.cache.pop("history", None)
        return None
    history = memory(room)
    history.append(Kept(Readdressable(event.stanza).to(None), time.time()))
    del history[: max(0, len(history) - length(room))]
    return True


def _parse_request(stanza: etree._Element) -> dict[str, Any]:
    muc_x = xml.find(stanza, "x", xml.MUC)
    request = xml.find(muc_x, "history", xml.MUC) if muc_x is not None else None
    if request is None:
        return {}
    wanted: dict[str, Any] = {}
    for name in ("maxchars", "maxstanzas"):
        value = request.get(name)
        if value is not None and value.strip().lstrip("-").isdigit():
            wanted[name] = int(value)
    since = parse_stamp(request.get("since", "")) if request.get("since") else None
    seconds = request.get("seconds")
    if seconds is not None and seconds.strip().lstrip("-").isdigit():
        cutoff = time.time() - int(seconds)
        since = max(since, cutoff) if since is not None else cutoff
    if since is not None:
        wanted["since"] = since
    return wanted


def _send_history(event: Event) -> None:
    room = event.room
    wanted = _parse_request(event.stanza)
    if not wanted:
        wanted["maxstanzas"] = default_messages(room)
    request = Event(
        room=room,
        stanza=event.stanza,
        to=event.stanza.get("from", ""),
        maxchars=wanted.get("maxchars"),
        maxstanzas=wanted.get("maxstanzas"),
        since=wanted.get("since"),
        messages=[],
    )
    room.hooks.fire("muc-get-history", request)
    for message in request.messages:
        room.route(message)


def _from_memory(event: Event) -> bool:
    room = event.room
    history = memory(room)
    maxstanzas = event.maxstanzas if event.maxstanzas is not None else len(history)
    chars = 0
    picked: list[etree._Element] = []
    for kept in reversed(history):
        if len(picked) + 1 > maxstanzas:
            break
        message = kept.replayed(room.jid)
        if event.maxchars is not None:
            chars += len(etree.tostring(message)) + len(event.to)
            if chars > event.maxchars:
                break
        if event.since is not None and event.since > kept.when:
            break
        picked.append(message)
    for message in reversed(picked):
        message.set("to", event.to)
        event.messages.append(message)
    return True
