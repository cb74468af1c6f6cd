"""Voice requests in moderated rooms (XEP-0045 7.13 and 8.6).

A visitor's request is forwarded to the moderators as a form; a moderator
submitting it with `muc#request_allow` makes the visitor a participant.
"""

from __future__ import annotations

from lxml import etree

from reference.muc import xml
from reference.muc.authority import set_role
from reference.muc.forms import Field, Form, Option
from reference.muc.hooks import Event, Hooks
from reference.muc.room import resource

FORM_TYPE = "http://jabber.org/protocol/muc#request"


def register(hooks: Hooks) -> None:
    hooks.on("muc-disco#info", _disco)
    hooks.on("muc-role-request", _handle)


def request_form(jid: str | None = None, nick: str | None = None) -> Form:
    form = Form(title="Voice Request")
    form.add(Field("FORM_TYPE", "hidden", value=FORM_TYPE))
    form.add(Field("muc#jid", "jid-single", "User ID", "The user's JID (address)", value=jid))
    form.add(
        Field(
            "muc#roomnick",
            "text-single",
            "Room nickname",
            "The user's nickname within the room",
            value=nick,
        )
    )
    form.add(
        Field(
            "muc#role",
            "list-single",
            "Requested role",
            value="participant",
            options=[Option(r, r) for r in ("none", "visitor", "participant", "moderator")],
        )
    )
    form.add(
        Field(
            "muc#request_allow",
            "boolean",
            "Grant voice to this person?",
            "Specify whether this person is able to speak in a moderated room",
            value=False,
        )
    )
    return form


def _disco(event: Event) -> None:
    xml.child(event.reply, "feature", attrs={"var": FORM_TYPE})


def _handle(event: Event) -> bool:
    room, stanza = event.room, event.stanza
    occupant = room.occupant_by_real_jid(stanza.get("from", ""))
    if occupant is None:
        return True
    if occupant.role == "moderator":
        _grant(event, occupant.nick)
    elif occupant.role == "visitor":
        form = request_form(stanza.get("from"), resource(occupant.nick)).render()
        message = xml.stanza("message", {"type": "normal", "from": room.jid})
        message.append(form)
        room.broadcast(message, lambda o: o.role == "moderator")
    return True


def _grant(event: Event, moderator_nick: str) -> None:
    room, stanza = event.room, event.stanza
    form: etree._Element = event.form
    values, _ = request_form().read(form)
    if not values.get("muc#request_allow"):
        return
    target = room.occupant_by_real_jid(values.get("muc#jid") or "")
    if target is None or target.role != "visitor":
        return
    ok, error_type, condition = set_role(
        room, stanza.get("from"), target.nick, "participant", "Voice granted"
    )
    if not ok:
        room.route(xml.error_reply(stanza, error_type or "", condition or ""))
