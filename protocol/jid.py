"""Jabber IDs (RFC 7622): `localpart@domainpart/resourcepart`.

Both the harness and the reference server compare addresses, so JIDs are kept in
one canonical form: localpart and domain casefolded (a simple stand-in for the
PRECIS profiles, enough for the ASCII and common Unicode names tests use), the
domain without a trailing dot, the resource kept exactly as given.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

MAX_PART_BYTES = 1023

# RFC 7622 section 3.3.1: characters the localpart may never hold.
_LOCAL_FORBIDDEN = frozenset("\"&'/:<>@")


def _utf8_len(part: str) -> int:
    return len(part.encode("utf-8"))


def _has_control_or_space(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Zs", "Zl", "Zp") for ch in text)


def _check_length(kind: str, part: str, original: str) -> None:
    if not part:
        raise ValueError(f"invalid JID {original!r}: empty {kind}")
    if _utf8_len(part) > MAX_PART_BYTES:
        raise ValueError(f"invalid JID {original!r}: {kind} longer than {MAX_PART_BYTES} bytes")


def _normalize_local(local: str, original: str) -> str:
    local = unicodedata.normalize("NFKC", local).casefold()
    _check_length("localpart", local, original)
    bad = sorted({ch for ch in local if ch in _LOCAL_FORBIDDEN})
    if bad or _has_control_or_space(local):
        shown = "".join(bad) or "space or control character"
        raise ValueError(f"invalid JID {original!r}: localpart may not contain {shown}")
    return local


def _normalize_domain(domain: str, original: str) -> str:
    domain = unicodedata.normalize("NFKC", domain).casefold()
    if domain.endswith("."):
        domain = domain[:-1]
    _check_length("domain", domain, original)
    if _has_control_or_space(domain) or any(ch in "@/" for ch in domain):
        raise ValueError(f"invalid JID {original!r}: malformed domain {domain!r}")
    if domain.startswith("[") != domain.endswith("]"):
        raise ValueError(f"invalid JID {original!r}: malformed IPv6 domain {domain!r}")
    return domain


def _normalize_resource(resource: str, original: str) -> str:
    resource = unicodedata.normalize("NFKC", resource)
    _check_length("resource", resource, original)
    if any(unicodedata.category(ch) == "Cc" for ch in resource):
        raise ValueError(f"invalid JID {original!r}: resource may not contain control characters")
    return resource


@dataclass(frozen=True, slots=True)
class JID:
    """A parsed, normalised JID; `local` and `resource` are "" when absent."""

    local: str
    domain: str
    resource: str = ""

    @classmethod
    def parse(cls, text: str) -> JID:
        """Split and normalise `text`; raise ValueError saying what is wrong with it."""
        if not isinstance(text, str) or not text:
            raise ValueError(f"invalid JID {text!r}: empty")
        rest, slash, resource = text.partition("/")
        local, at, domain = rest.rpartition("@")
        if not at:
            domain = rest
        return cls(
            local=_normalize_local(local, text) if at else "",
            domain=_normalize_domain(domain, text),
            resource=_normalize_resource(resource, text) if slash else "",
        )

    @property
    def bare(self) -> str:
        """`local@domain` (or just the domain)."""
        return f"{self.local}@{self.domain}" if self.local else self.domain

    @property
    def full(self) -> str:
        """`local@domain/resource`, or the bare JID when there is no resource."""
        return f"{self.bare}/{self.resource}" if self.resource else self.bare

    def with_resource(self, resource: str) -> JID:
        """The same account with another resource (validated like a parsed one)."""
        return JID(
            self.local, self.domain, _normalize_resource(resource, f"{self.bare}/{resource}")
        )

    def __str__(self) -> str:
        return self.full
