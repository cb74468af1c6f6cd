"""A destroyed persistent room leaves a tombstone for 31 days: joining it says `gone`
(pointing to the alternate venue, if the owner gave one)."""

from __future__ import annotations

import time

from reference.muc.hooks import Event, Hooks
from reference.muc.room import Room

TTL_SECONDS = 86400 * 31


def register(hooks: Hooks) -> None:
    hooks.on("muc-room-destroyed", _leave_tombstone, -10)


def _leave_tombstone(event: Event) -> None:
    room = event.room
    if not room.data.get("persistent") or room.data.get("destroyed"):
        return
    data = {
        "locked": time.time() + TTL_SECONDS,
        "destroyed": True,
        "persistent": True,
        "hidden": True,
    }
    if event.reason:
        data["reason"] = event.reason
    if event.newjid:
        data["newjid"] = event.newjid
    tombstone = Room(room.service, room.jid, data)
    room.service.save_room(tombstone, True)
