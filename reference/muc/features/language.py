"""The room's language: the creator's `xml:lang` until the owner sets another."""

from __future__ import annotations

from reference.muc.forms import Field
from reference.muc.hooks import Event, Hooks
from reference.wire import XML_LANG

FIELD = "muc#roomconfig_lang"


def register(hooks: Hooks) -> None:
    hooks.on("muc-room-pre-create", _from_creator, 1)
    hooks.on("muc-disco#info", _disco)
    hooks.on("muc-config-form", _form, 100 - 3)
    hooks.on(f"muc-config-submitted/{FIELD}", _submitted)


def _from_creator(event: Event) -> None:
    language = event.stanza.get(XML_LANG)
    if language:
        event.room.data["language"] = language


def _disco(event: Event) -> None:
    language = event.room.data.get("language")
    event.form.add(Field("muc#roominfo_lang", value=language if language is not None else ""))


def _form(event: Event) -> None:
    event.form.add(
        Field(
            FIELD,
            "text-single",
            "Language tag for room (e.g. 'en', 'de', 'fr' etc.)",
            "Indicate the primary language spoken in this room",
            value=event.room.data.get("language") or "",
            datatype="xs:language",
        )
    )


def _submitted(event: Event) -> None:
    room = event.room
    language = event.value or None
    if room.data.get("language") != language:
        if language is None:
            room.data.pop("language", None)
        else:
            room.data["language"] = language
        event.status_codes.add("104")
