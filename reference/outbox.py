"""Coalesced output: what one connection is sent in one loop turn leaves in one write.

A groupchat message to a room of N occupants is N small writes; a burst of M
messages read in one chunk would be N*M writes, one system call each. Sessions
queue their stanzas instead, and the first one queued in a loop turn asks the
outbox to flush every waiting session once the turn's callbacks have run (the
next loop iteration, before any new input is read). Order per connection is kept:
a session writes what it queued before anything it writes directly.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class Flushable(Protocol):
    def flush(self) -> None: ...


class Outbox:
    """The sessions of one server that have output queued in this loop turn."""

    def __init__(self) -> None:
        self._waiting: dict[Flushable, None] = {}  # insertion order: first queued, first out

    def schedule(self, connection: Flushable) -> None:
        """Flush `connection` at the end of this loop turn (once, however often asked)."""
        if not self._waiting:
            asyncio.get_running_loop().call_soon(self._flush)
        self._waiting[connection] = None

    def _flush(self) -> None:
        waiting, self._waiting = self._waiting, {}
        for connection in waiting:
            connection.flush()
