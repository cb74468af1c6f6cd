"""Persistent rooms outlive their last occupant (and a server restart, with a database)."""

from __future__ import annotations

from reference.muc import xml
from reference.muc.forms import Field
from reference.muc.hooks import Event, Hooks

FIELD = "muc#roomconfig_persistentroom"


def register(hooks: Hooks) -> None:
    hooks.on("muc-config-form", _form, 100 - 5)
    hooks.on(f"muc-config-submitted/{FIELD}", _submitted)
    hooks.on("muc-disco#info", _disco)
    hooks.on("muc-room-destroyed", _not_anymore, -100)


def _form(event: Event) -> None:
    event.form.add(
        Field(
            FIELD,
            "boolean",
            "Persistent (room should remain even when it is empty)",
            "Rooms are automatically deleted when they are empty, unless this option is enabled",
            value=event.room.data.get("persistent"),
        )
    )


def _submitted(event: Event) -> None:
    room = event.room
    if bool(room.data.get("persistent")) != bool(event.value):
        if event.value:
            room.data["persistent"] = True
        else:
            room.data.pop("persistent", None)
        event.status_codes.add("104")


def _disco(event: Event) -> None:
    var = "muc_persistent" if event.room.data.get("persistent") else "muc_temporary"
    xml.child(event.reply, "feature", attrs={"var": var})


def _not_anymore(event: Event) -> None:
    event.room.data.pop("persistent", None)
