"""Splitting and normalising JIDs on the server's hot path.

Every routed stanza needs its `to` split; the same few JIDs recur, so results are
cached. Normalisation follows what Prosody does in practice for the ASCII JIDs
tests use: localpart and domain are case-folded, the resource is kept as is.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

_LOCAL_FORBIDDEN = frozenset("\"&'/:<>@ \t\r\n")
_MAX_PART_BYTES = 1023


class Jid(NamedTuple):
    local: str | None
    domain: str
    resource: str | None

    @property
    def bare(self) -> str:
        return f"{self.local}@{self.domain}" if self.local else self.domain

    @property
    def full(self) -> str:
        return f"{self.bare}/{self.resource}" if self.resource is not None else self.bare


# Big enough for the JIDs in play at once (sessions, rooms, occupants), small
# enough that a long run with ever-new nicknames does not turn it into a heap.
@lru_cache(maxsize=1024)
def split_jid(text: str) -> Jid | None:
    """The normalised parts of `text`, or None when it is not a valid JID."""
    slash = text.find("/")
    if slash >= 0:
        resource: str | None = text[slash + 1 :]
        text = text[:slash]
        if not resource or len(resource.encode()) > _MAX_PART_BYTES:
            return None
        if any(ord(c) < 32 for c in resource):
            return None
    else:
        resource = None
    local: str | None
    local, at, domain = text.rpartition("@")
    if not at:
        local = None
    elif not local or len(local.encode()) > _MAX_PART_BYTES or _LOCAL_FORBIDDEN & set(local):
        return None
    else:
        local = local.lower()
    domain = domain.lower().rstrip(".")
    if not domain or len(domain) > _MAX_PART_BYTES or any(c in domain for c in "@/ \t<>&'\""):
        return None
    return Jid(local, domain, resource)


def valid_localpart(local: str) -> bool:
    return (
        bool(local) and len(local.encode()) <= _MAX_PART_BYTES and not _LOCAL_FORBIDDEN & set(local)
    )


def bare_of(full: str) -> str:
    """The bare part of an already normalised JID (no validation: internal use)."""
    slash = full.find("/")
    return full if slash < 0 else full[:slash]
