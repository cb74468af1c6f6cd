"""A new room stays locked until its owner configures it (XEP-0045 10.1.1).

Meanwhile everyone else is told it does not exist; an unconfigured lock lapses
after five minutes, as Prosody's does.
"""

from __future__ import annotations

import time

from reference.muc import xml
from reference.muc.hooks import Event, Hooks
from reference.muc.room import Room

LOCK_SECONDS = 300


def register(hooks: Hooks) -> None:
    hooks.on("muc-room-pre-create", _lock, 10)
    hooks.on("muc-occupant-pre-join", _refuse_while_locked, -30)
    hooks.on("muc-config-submitted", _unlock, -1)


def is_locked(room: Room) -> bool:
    until = room.data.get("locked")
    if until is None:
        return False
    if time.time() < until:
        return True
    del room.data["locked"]
    return False


def _lock(event: Event) -> None:
    if xml.find(event.stanza, "x", xml.MUC) is not None:  # the old groupchat protocol is not locked
        event.room.data["locked"] = time.time() + LOCK_SECONDS


def _refuse_while_locked(event: Event) -> bool | None:
    if event.is_new_room or not is_locked(event.room):
        return None
    error = xml.error_reply(event.stanza, "cancel", "item-not-found", by=event.room.service.host)
    event.room.route(error)
    return True


def _unlock(event: Event) -> None:
    event.room.data.pop("locked", None)
