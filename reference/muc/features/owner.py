"""The muc#owner protocol: the room configuration form, and destroying the room."""

from __future__ import annotations

from lxml import etree

from reference.muc import xml
from reference.muc.authority import destroy
from reference.muc.forms import Field, Form, form_type
from reference.muc.hooks import Event, Hooks
from reference.muc.room import Room

ROOMCONFIG = "http://jabber.org/protocol/muc#roomconfig"


def register(hooks: Hooks) -> None:
    hooks.on(f"iq-get/bare/{xml.MUC_OWNER}:query", _get)
    hooks.on(f"iq-set/bare/{xml.MUC_OWNER}:query", _set)


def config_form(room: Room, actor: str) -> Form:
    form = Form(
        title=f"Configuration for {room.jid}",
        instructions="Complete and submit this form to configure the room.",
    )
    form.add(Field("FORM_TYPE", "hidden", value=ROOMCONFIG))
    room.hooks.fire("muc-config-form", Event(room=room, actor=actor, form=form))
    return form


def _only_owners(room: Room, event: Event) -> bool:
    if room.get_affiliation(event.stanza.get("from", "")) == "owner":
        return False
    error = xml.error_reply(event.stanza, "auth", "forbidden", "Only owners can configure rooms")
    room.route(error)
    return True


def _get(event: Event) -> bool:
    room = event.room
    if _only_owners(room, event):
        return True
    answer = xml.reply(event.stanza)
    query = xml.child(answer, "query", xml.MUC_OWNER)
    query.append(config_form(room, event.stanza.get("from", "")).render())
    room.route(answer)
    return True


def _set(event: Event) -> bool:
    room, stanza = event.room, event.stanza
    if _only_owners(room, event):
        return True
    query = xml.first_child(stanza)
    payload = xml.first_child(query) if query is not None else None
    if payload is None:
        room.route(xml.error_reply(stanza, "modify", "bad-request"))
    elif payload.tag == xml.tag("destroy", xml.MUC_OWNER):
        reason = xml.find_text(payload, "reason", xml.MUC_OWNER)
        password = xml.find_text(payload, "password", xml.MUC_OWNER)
        if destroy(room, payload.get("jid"), reason, password):
            room.route(xml.reply(stanza))
        else:
            room.route(xml.error_reply(stanza, "cancel", "not-allowed"))
    elif payload.tag == xml.tag("x", xml.DATA_FORMS):
        _submit(room, event, payload)
    else:
        room.route(xml.error_reply(stanza, "cancel", "service-unavailable"))
    return True


def _submit(room: Room, event: Event, submitted: etree._Element) -> None:
    stanza = event.stanza
    kind = submitted.get("type")
    if kind == "cancel":
        room.route(xml.reply(stanza))
        return
    if kind != "submit":
        room.route(xml.error_reply(stanza, "cancel", "bad-request", "Not a submitted form"))
        return
    actor = stanza.get("from", "")
    values: dict[str, object] = {}
    present: list[str] = []
    if xml.first_child(submitted) is not None:  # no fields at all: an instant room
        if form_type(submitted) != ROOMCONFIG:
            room.route(
                xml.error_reply(
                    stanza, "cancel", "bad-request", "Form is not of type room configuration"
                )
            )
            return
        layout = config_form(room, actor)
        values, submitted_vars = layout.read(submitted)
        present = [f.var for f in layout.fields if f.var in submitted_vars]
    codes: set[str] = set()
    change = Event(room=room, stanza=stanza, fields=values, status_codes=codes, actor=actor)
    refusal = room.hooks.fire("muc-config-check", change)
    if refusal is not None:
        room.route(refusal)
        return
    room.hooks.fire("muc-config-submitted", change)
    for var in present:
        change.field, change.value = var, values.get(var)
        room.hooks.fire(f"muc-config-submitted/{var}", change)
    room.save(True)
    room.route(xml.reply(stanza))
    if codes:
        message = xml.stanza("message", {"type": "groupchat", "from": room.jid})
        x = xml.child(message, "x", xml.MUC_USER)
        for code in sorted(codes):
            xml.child(x, "status", attrs={"code": code})
        room.broadcast_message(message)
