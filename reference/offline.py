"""Offline messages (XEP-0160): kept while an account has no available resource.

Delivered, stamped with XEP-0203 `<delay/>`, to the first resource that sends
initial presence with a non-negative priority, as Prosody's mod_offline does.
"""

from __future__ import annotations

import copy
import datetime

from lxml import etree

from protocol import namespaces as ns

# Bounds, so that messages to made-up accounts (any name exists in test mode)
# cannot grow the server without limit.
_MAX_PER_ACCOUNT = 1000
_MAX_TOTAL = 20000


class OfflineStore:
    def __init__(self, domain: str) -> None:
        self._domain = domain
        self._messages: dict[str, list[etree._Element]] = {}
        self._total = 0

    def store(self, bare: str, message: etree._Element) -> bool:
        """Keep a copy of `message`; False when a bound is reached (the sender gets an error)."""
        queue = self._messages.setdefault(bare, [])
        if len(queue) >= _MAX_PER_ACCOUNT or self._total >= _MAX_TOTAL:
            return False
        self._total += 1
        kept = copy.deepcopy(message)
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        etree.SubElement(
            kept,
            f"{{{ns.DELAY}}}delay",
            {"from": self._domain, "stamp": stamp},
            nsmap={None: ns.DELAY},
        )
        queue.append(kept)
        return True

    def take(self, bare: str) -> list[etree._Element]:
        messages = self._messages.pop(bare, [])
        self._total -= len(messages)
        return messages
