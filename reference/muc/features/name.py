"""The room's title, shown in disco and the public room list."""

from __future__ import annotations

from reference.muc import xml
from reference.muc.forms import Field
from reference.muc.hooks import Event, Hooks

FIELD = "muc#roomconfig_roomname"


def register(hooks: Hooks) -> None:
    hooks.on("muc-disco#info", _disco)
    hooks.on("muc-config-form", _field, 100 - 1)
    hooks.on(f"muc-config-submitted/{FIELD}", _submitted)


def _field(event: Event) -> None:
    event.form.add(Field(FIELD, "text-single", "Title", value=event.room.data.get("name")))


def _disco(event: Event) -> None:
    xml.child(
        event.reply,
        "identity",
        attrs={"category": "conference", "type": "text", "name": event.room.data.get("name")},
    )
    _field(event)


def _submitted(event: Event) -> None:
    room = event.room
    name = event.value or None
    if room.data.get("name") != name:
        if name is None:
            room.data.pop("name", None)
        else:
            room.data["name"] = name
        event.status_codes.add("104")
