"""The headings Prosody puts between groups of room configuration fields."""

from __future__ import annotations

from reference.muc.forms import Field
from reference.muc.hooks import Event, Handler, Hooks

SECTIONS = {
    100: "Room information",
    90: "Access to the room",
    80: "Permissions in the room",
    70: "Other options",
}


def register(hooks: Hooks) -> None:
    for priority, heading in SECTIONS.items():
        hooks.on("muc-config-form", _heading(heading), priority)


def _heading(text: str) -> Handler:
    def add(event: Event) -> None:
        event.form.add(Field(None, "fixed", value=text))

    return add
