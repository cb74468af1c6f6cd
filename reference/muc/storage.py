"""Where rooms that outlive their occupants are kept: SQLite, or memory by default.

A room is stored as one JSON record (its settings, affiliations and their data).
SQLite runs in WAL mode and every write is its own transaction, so a crash loses
at most the change being made.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from reference.config import ConfigError

Record = dict[str, Any]
_RECORD_KEYS = ("data", "affiliations", "affiliation_data")


class UnreadableRecord(Exception):
    """A stored room record that cannot be used (corrupted or of another shape)."""


class RoomStore:
    """Room records by room JID; in memory unless a database path is given."""

    def __init__(self, database: Path | None = None) -> None:
        self._memory: dict[str, str] = {}
        self._db: sqlite3.Connection | None = None
        if database is not None:
            try:
                database.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(database, isolation_level=None)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS muc_rooms "
                    "(jid TEXT PRIMARY KEY, record TEXT NOT NULL)"
                )
            except (OSError, sqlite3.Error) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                raise ConfigError(f"cannot use the room database {database}: {reason}") from None

    def load(self, jid: str) -> Record | None:
        if self._db is None:
            text = self._memory.get(jid)
        else:
            row = self._db.execute("SELECT record FROM muc_rooms WHERE jid = ?", (jid,)).fetchone()
            text = row[0] if row else None
        if text is None:
            return None
        try:
            record = json.loads(text)
        except ValueError as exc:
            raise UnreadableRecord(f"not JSON ({exc})") from None
        if not isinstance(record, dict) or not all(
            isinstance(record.get(key), dict) for key in _RECORD_KEYS
        ):
            raise UnreadableRecord(f"a record needs the objects {', '.join(_RECORD_KEYS)}")
        return record

    def save(self, jid: str, record: Record) -> None:
        text = json.dumps(record, sort_keys=True)
        if self._db is None:
            self._memory[jid] = text
            return
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO muc_rooms (jid, record) VALUES (?, ?) "
                "ON CONFLICT(jid) DO UPDATE SET record = excluded.record",
                (jid, text),
            )

    def delete(self, jid: str) -> None:
        if self._db is None:
            self._memory.pop(jid, None)
            return
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM muc_rooms WHERE jid = ?", (jid,))

    def jids(self) -> list[str]:
        if self._db is None:
            return sorted(self._memory)
        return [row[0] for row in self._db.execute("SELECT jid FROM muc_rooms ORDER BY jid")]

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
