"""Offline messages (XEP-0160): kept while an account has no available resource.

Delivered, stamped with XEP-0203 `<delay/>`, to the first resource that sends
initial presence with a non-negative priority, as Prosody's mod_offline does.
"""

from __future__ import annotations

import copy
import datetime

from lxml import etree

from harness.xmpp import namespaces as ns

_MAX_PER_ACCOUNT = 1000


class OfflineStore:
    def __init__(self, domain: str) -> None:
        self._domain = domain
        self._messages: dict[str, list[etree._Element]] = {}

    def store(self, bare: str, message: etree._Element) -> None:
        queue = self._messages.setdefault(bare, [])
        if len(queue) >= _MAX_PER_ACCOUNT:
            return
        kept = copy.deepcopy(message)
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        etree.SubElement(
            kept,
            f"{{{ns.DELAY}}}delay",
            {"from": self._domain, "stamp": stamp},
            nsmap={None: ns.DELAY},
        )
        queue.append(kept)

    def take(self, bare: str) -> list[etree._Element]:
        return self._messages.pop(bare, [])
