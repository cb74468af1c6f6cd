"""Whether the room is listed in the service's public room list (hidden by default)."""

from __future__ import annotations

from reference.muc import xml
from reference.muc.forms import Field
from reference.muc.hooks import Event, Hooks

FIELD = "muc#roomconfig_publicroom"


def register(hooks: Hooks) -> None:
    hooks.on("muc-room-pre-create", _hidden_by_default, 1)
    hooks.on("muc-config-form", _form, 100 - 9)
    hooks.on(f"muc-config-submitted/{FIELD}", _submitted)
    hooks.on("muc-disco#info", _disco)


def _hidden_by_default(event: Event) -> None:
    event.room.data["hidden"] = True


def _form(event: Event) -> None:
    event.form.add(
        Field(
            FIELD,
            "boolean",
            "Include room information in public lists",
            "Enable this to allow people to find the room",
            value=not event.room.data.get("hidden"),
        )
    )


def _submitted(event: Event) -> None:
    room = event.room
    hidden = not event.value
    if bool(room.data.get("hidden")) != hidden:
        if hidden:
            room.data["hidden"] = True
        else:
            room.data.pop("hidden", None)
        event.status_codes.add("104")


def _disco(event: Event) -> None:
    var = "muc_hidden" if event.room.data.get("hidden") else "muc_public"
    xml.child(event.reply, "feature", attrs={"var": var})
