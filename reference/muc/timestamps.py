"""XEP-0082 timestamps, as Prosody writes and reads them."""

from __future__ import annotations

from datetime import UTC, datetime


def datetime_stamp(seconds: float) -> str:
    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_stamp(text: str) -> float | None:
    """Seconds since the epoch for an XEP-0082 dateTime, None when unreadable."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
