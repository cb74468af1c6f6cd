"""The room's subject: sent to each joining session, changed by a groupchat `<subject/>`.

Moderators may always change it; participants too when the room allows. A
message with a subject and a body (or thread) is an ordinary message.
"""

from __future__ import annotations

import time

from lxml import etree

from reference.muc import xml
from reference.muc.forms import Field
from reference.muc.hooks import Event, Hooks
from reference.muc.ranks import ROLES, role_rank
from reference.muc.room import Room
from reference.muc.timestamps import datetime_stamp

FIELD = "muc#roomconfig_changesubject"


def register(hooks: Hooks) -> None:
    hooks.on("muc-disco#info", _disco)
    hooks.on("muc-config-form", _form, 80 - 1)
    hooks.on(f"muc-config-submitted/{FIELD}", _submitted)
    hooks.on("muc-occupant-session-new", _send_to_joiner, 20)
    hooks.on("muc-occupant-groupchat", _change, 20)


def _subject_message(room: Room) -> etree._Element:
    message = xml.stanza(
        "message", {"from": room.data.get("subject_from") or room.jid, "type": "groupchat"}
    )
    xml.child(message, "subject", text=room.data.get("subject"))
    return message


def set_subject(room: Room, sender: str, subject: str | None) -> bool:
    subject = subject or None
    if (
        room.data.get("subject") == subject
        and (room.data.get("subject_from") or room.jid) == sender
    ):
        return False
    room.data["subject_from"] = sender
    room.data["subject_time"] = time.time()
    if subject is None:
        room.data.pop("subject", None)
    else:
        room.data["subject"] = subject
    room.broadcast_message(_subject_message(room))
    return True


def _disco(event: Event) -> None:
    event.form.add(Field(FIELD, "boolean", value=event.room.data.get("changesubject")))


def _form(event: Event) -> None:
    event.form.add(
        Field(
            FIELD,
            "boolean",
            "Allow anyone to set the room's subject",
            "Choose whether anyone, or only moderators, may set the room's subject",
            value=event.room.data.get("changesubject"),
        )
    )


def _submitted(event: Event) -> None:
    room = event.room
    if bool(room.data.get("changesubject")) != bool(event.value):
        if event.value:
            room.data["changesubject"] = True
        else:
            room.data.pop("changesubject", None)
        event.status_codes.add("104")


def _send_to_joiner(event: Event) -> None:
    room = event.room
    message = _subject_message(room)
    message.set("to", event.stanza.get("from", ""))
    stamp = room.data.get("subject_time")
    if stamp is not None:
        xml.child(message, "delay", xml.DELAY, {"from": room.jid, "stamp": datetime_stamp(stamp)})
    room.route(message)


def _change(event: Event) -> bool | None:
    stanza = event.stanza
    subject = xml.client_child(stanza, "subject")
    if subject is None:
        return None
    if (
        xml.client_child(stanza, "body") is not None
        or xml.client_child(stanza, "thread") is not None
    ):
        return None
    room = event.room
    occupant = event.occupant
    rank = role_rank(occupant.role if occupant is not None else None)
    allowed = rank >= ROLES["moderator"] or (
        rank >= ROLES["participant"] and room.data.get("changesubject")
    )
    if not allowed or occupant is None:
        error = xml.error_reply(
            stanza, "auth", "forbidden", "You are not allowed to change the subject"
        )
        room.route(error)
        return True
    set_subject(room, occupant.nick, subject.text or "")
    room.save()
    return True
