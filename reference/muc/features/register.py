"""Registering with a room (XEP-0045 7.10): reserving a nickname, becoming a member.

A reserved nickname cannot be used by anyone else, is returned by the
`x-roomuser-item` disco node, and `<remove/>` gives up the membership. Users
without an affiliation may not register (Prosody's default).
"""

from __future__ import annotations

from lxml import etree

from protocol.jid import resourceprep
from reference.muc import xml
from reference.muc.authority import set_affiliation
from reference.muc.forms import Field, Form, form_type
from reference.muc.hooks import Event, Hooks
from reference.muc.room import bare, resource

FORM_TYPE = "http://jabber.org/protocol/muc#register"
NICK_FIELD = "muc#register_roomnick"


def register(hooks: Hooks) -> None:
    hooks.on("muc-disco#info", _disco)
    hooks.on("muc-disco#info/x-roomuser-item", _reserved_nick)
    hooks.on("muc-occupant-pre-join", _refuse_reserved)
    hooks.on("muc-occupant-pre-change", _refuse_reserved)
    hooks.on(f"iq-get/bare/{xml.REGISTER}:query", _handle)
    hooks.on(f"iq-set/bare/{xml.REGISTER}:query", _handle)


def registration_form() -> Form:
    form = Form()
    form.add(Field("FORM_TYPE", "hidden", value=FORM_TYPE))
    form.add(Field(NICK_FIELD, "text-single", "Nickname", required=True))
    return form


def _disco(event: Event) -> None:
    xml.child(event.reply, "feature", attrs={"var": xml.REGISTER})


def _reserved_nick(event: Event) -> None:
    nick = event.room.registered_nick(event.stanza.get("from", ""))
    if nick is not None:
        xml.child(
            event.reply, "identity", attrs={"category": "conference", "type": "text", "name": nick}
        )


def _refuse_reserved(event: Event) -> bool | None:
    room, stanza = event.room, event.stanza
    holder = room.registered_jid(resource(stanza.get("to", "")) or "")
    if holder is None or holder == bare(stanza.get("from", "")):
        return None
    room.route(xml.error_reply(stanza, "cancel", "conflict", by=room.jid))
    return True


def _handle(event: Event) -> bool:
    room, stanza = event.room, event.stanza
    user = bare(stanza.get("from", ""))
    affiliation = room.get_affiliation(user)
    if affiliation == "outcast":
        room.route(xml.error_reply(stanza, "auth", "forbidden"))
        return True
    if affiliation is None:
        room.route(xml.error_reply(stanza, "auth", "registration-required"))
        return True
    answer = xml.reply(stanza)
    registered = room.registered_nick(user)
    query = xml.find(stanza, "query", xml.REGISTER)
    assert query is not None
    if stanza.get("type") == "get":
        result = xml.child(answer, "query", xml.REGISTER)
        if registered is not None:
            xml.child(result, "registered")
            xml.child(result, "username", text=registered)
        else:
            result.append(registration_form().render())
        room.route(answer)
        return True
    if xml.find(query, "remove", xml.REGISTER) is not None:
        kept = affiliation if affiliation != "member" else None
        ok, error_type, condition = set_affiliation(room, None, user, kept, None, False)
        room.route(answer if ok else xml.error_reply(stanza, error_type or "", condition or ""))
        return True
    error = _register_nick(event, user, affiliation, registered)
    room.route(error if error is not None else answer)
    return True


def _register_nick(
    event: Event, user: str, affiliation: str, registered: str | None
) -> etree._Element | None:
    """Reserve the submitted nickname; the error to answer with when it cannot be."""
    room, stanza = event.room, event.stanza
    query = xml.find(stanza, "query", xml.REGISTER)
    form = xml.find(query, "x", xml.DATA_FORMS) if query is not None else None
    if form is None:
        return xml.error_reply(stanza, "modify", "bad-request", "Missing dataform")
    if form_type(form) != FORM_TYPE:
        return xml.error_reply(stanza, "modify", "bad-request", "Error in form")
    values, _ = registration_form().read(form)
    nick = resourceprep(values.get(NICK_FIELD) or "", strict=True)
    if not nick:
        return xml.error_reply(stanza, "modify", "bad-request", "Invalid Nickname")
    current = room.occupants.get(f"{room.jid}/{nick}")
    if current is not None and current.bare_jid != user:
        return xml.error_reply(stanza, "cancel", "conflict")
    holder = room.registered_jid(nick)
    if holder is not None and holder != user:
        return xml.error_reply(stanza, "cancel", "conflict")
    if registered != nick:
        ok, error_type, condition = set_affiliation(
            room, None, user, affiliation or "member", None, {"reserved_nickname": nick}
        )
        if not ok:
            return xml.error_reply(stanza, error_type or "", condition or "")
    return None
