"""A short description of the room, in its config and disco#info."""

from __future__ import annotations

from reference.muc.forms import Field
from reference.muc.hooks import Event, Hooks

FIELD = "muc#roomconfig_roomdesc"


def register(hooks: Hooks) -> None:
    hooks.on("muc-disco#info", _disco)
    hooks.on("muc-config-form", _form, 100 - 2)
    hooks.on(f"muc-config-submitted/{FIELD}", _submitted)


def _disco(event: Event) -> None:
    description = event.room.data.get("description")
    event.form.add(
        Field(
            "muc#roominfo_description",
            label="Description",
            value=description if description is not None else "",
        )
    )


def _form(event: Event) -> None:
    event.form.add(
        Field(
            FIELD,
            "text-single",
            "Description",
            "A brief description of the room",
            value=event.room.data.get("description") or "",
        )
    )


def _submitted(event: Event) -> None:
    room = event.room
    description = event.value or None
    if room.data.get("description") != description:
        if description is None:
            room.data.pop("description", None)
        else:
            room.data["description"] = description
        event.status_codes.add("104")
