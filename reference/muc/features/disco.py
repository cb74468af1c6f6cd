"""Service discovery of a room: its identity, features and muc#roominfo form."""

from __future__ import annotations

from reference.muc import xml
from reference.muc.forms import Field, Form
from reference.muc.hooks import Event, Hooks

ROOMINFO = "http://jabber.org/protocol/muc#roominfo"


def register(hooks: Hooks) -> None:
    hooks.on(f"iq-get/bare/{xml.DISCO_INFO}:query", _info)
    hooks.on(f"iq-get/bare/{xml.DISCO_ITEMS}:query", _items)


def _info(event: Event) -> bool:
    room, stanza = event.room, event.stanza
    request = xml.first_child(stanza)
    node = request.get("node") if request is not None else None
    answer = xml.reply(stanza)
    reply = xml.child(answer, "query", xml.DISCO_INFO, {"node": node})
    if node:
        room.hooks.fire(f"muc-disco#info/{node}", Event(room=room, reply=reply, stanza=stanza))
    else:
        form = Form()
        form.add(Field("FORM_TYPE", "hidden", value=ROOMINFO))
        room.hooks.fire("muc-disco#info", Event(room=room, reply=reply, stanza=stanza, form=form))
        reply.append(form.render("result"))
    room.route(answer)
    return True


def _items(event: Event) -> bool:
    answer = xml.reply(event.stanza)
    xml.child(answer, "query", xml.DISCO_ITEMS)
    event.room.route(answer)
    return True
