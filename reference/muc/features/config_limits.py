"""Refuses room configurations no room can work with (XEP-0045 10.1.3: not-acceptable).

A negative history length is one: Prosody 0.12.3 accepts it and then loops
forever trimming the history on the next message (docs/deviations.md).
"""

from __future__ import annotations

from lxml import etree

from reference.muc import xml
from reference.muc.features.history import LENGTH_FIELD
from reference.muc.hooks import Event, Hooks


def register(hooks: Hooks) -> None:
    hooks.on("muc-config-check", _history_length)


def _history_length(event: Event) -> etree._Element | None:
    length = event.fields.get(LENGTH_FIELD)
    if isinstance(length, int) and length < 0:
        return xml.error_reply(
            event.stanza, "modify", "not-acceptable", "The history length cannot be negative"
        )
    return None
