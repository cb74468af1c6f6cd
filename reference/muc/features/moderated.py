"""Moderated rooms: visitors without affiliation may not speak until given voice."""

from __future__ import annotations

from reference.muc import xml
from reference.muc.forms import Field
from reference.muc.hooks import Event, Hooks

FIELD = "muc#roomconfig_moderatedroom"


def register(hooks: Hooks) -> None:
    hooks.on("muc-disco#info", _disco)
    hooks.on("muc-config-form", _form, 80 - 3)
    hooks.on(f"muc-config-submitted/{FIELD}", _submitted)
    hooks.on("muc-get-default-role", _visitor_by_default, 1)


def _disco(event: Event) -> None:
    var = "muc_moderated" if event.room.data.get("moderated") else "muc_unmoderated"
    xml.child(event.reply, "feature", attrs={"var": var})


def _form(event: Event) -> None:
    event.form.add(
        Field(
            FIELD,
            "boolean",
            "Moderated (require permission to speak)",
            "In moderated rooms occupants must be given permission to speak by a room moderator",
            value=event.room.data.get("moderated"),
        )
    )


def _submitted(event: Event) -> None:
    room = event.room
    if bool(room.data.get("moderated")) != bool(event.value):
        if event.value:
            room.data["moderated"] = True
        else:
            room.data.pop("moderated", None)
        event.status_codes.add("104")


def _visitor_by_default(event: Event) -> str | None:
    if event.affiliation is None and event.room.data.get("moderated"):
        return "visitor"
    return None
