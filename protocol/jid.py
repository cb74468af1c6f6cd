"""Jabber IDs: `localpart@domainpart/resourcepart`, prepared as Prosody prepares them.

The harness and the reference server compare addresses, so both keep JIDs in
the canonical form XMPP servers use: nodeprep on the localpart, nameprep on the
domain and resourceprep on the resource (the stringprep profiles of RFC 3920
appendixes A and B, which Prosody 0.12/13 and ejabberd apply), from the
standard library's Unicode 3.2 tables: case is folded in the localpart and the
domain (Greek capital sigma becomes small sigma, sharp s becomes "ss"), the
domain loses its root dot, and characters mapped to nothing (U+200B, U+FE0F)
vanish everywhere. A part that a profile refuses makes the JID invalid.

Preparation is lenient by default (unassigned code points pass, as in Prosody's
routing); `strict=True` refuses them, as for nicknames people join with.
Prepared results are cached: the same few addresses recur on every stanza.
"""

from __future__ import annotations

import stringprep
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from encodings import idna
from functools import lru_cache

MAX_PART_BYTES = 1023

# RFC 3920 appendix A.5: characters nodeprep prohibits on top of stringprep's tables.
_NODE_FORBIDDEN = frozenset("\"&'/:<>@")

_RESOURCE_PROHIBITED: tuple[Callable[[str], bool], ...] = (
    stringprep.in_table_c12,
    stringprep.in_table_c21,
    stringprep.in_table_c22,
    stringprep.in_table_c3,
    stringprep.in_table_c4,
    stringprep.in_table_c5,
    stringprep.in_table_c6,
    stringprep.in_table_c7,
    stringprep.in_table_c8,
    stringprep.in_table_c9,
)
_NODE_PROHIBITED = (stringprep.in_table_c11, *_RESOURCE_PROHIBITED)

# Printable ASCII (space excluded): the common case, where every profile is trivial.
_PLAIN_ASCII = frozenset(chr(c) for c in range(0x21, 0x7F))


def _fits(part: str) -> bool:
    return 0 < len(part.encode("utf-8")) <= MAX_PART_BYTES


def _bidi_ok(text: str) -> bool:
    """RFC 3454 section 6: right-to-left text only as a whole, framed by RandALCat."""
    if not any(stringprep.in_table_d1(c) for c in text):
        return True
    if any(stringprep.in_table_d2(c) for c in text):
        return False
    return stringprep.in_table_d1(text[0]) and stringprep.in_table_d1(text[-1])


def _prepare(
    text: str,
    *,
    fold: bool,
    prohibited: tuple[Callable[[str], bool], ...],
    strict: bool,
) -> str | None:
    mapped = "".join(
        stringprep.map_table_b2(c) if fold else c for c in text if not stringprep.in_table_b1(c)
    )
    prepared = unicodedata.ucd_3_2_0.normalize("NFKC", mapped)
    for c in prepared:
        if any(check(c) for check in prohibited) or (strict and stringprep.in_table_a1(c)):
            return None
    if not _bidi_ok(prepared):
        return None
    return prepared


@lru_cache(maxsize=4096)
def nodeprep(text: str, strict: bool = False) -> str | None:
    """The localpart as nodeprep prepares it (case-folded), or None when refused."""
    if _PLAIN_ASCII.issuperset(text):
        prepared: str | None = text.lower()
    else:
        prepared = _prepare(text, fold=True, prohibited=_NODE_PROHIBITED, strict=strict)
    if prepared is None or _NODE_FORBIDDEN.intersection(prepared) or not _fits(prepared):
        return None
    return prepared


@lru_cache(maxsize=4096)
def resourceprep(text: str, strict: bool = False) -> str | None:
    """The resource (or room nickname) as resourceprep prepares it, or None when refused.

    Case is kept and spaces are allowed; characters mapped to nothing
    (U+FE0F, U+200B) are dropped and compatibility forms (full-width letters)
    are normalised, so full-width "mia" and "mia" + U+200B are both "mia".
    """
    if _PLAIN_ASCII.issuperset(text.replace(" ", "")):
        prepared: str | None = text
    else:
        prepared = _prepare(text, fold=False, prohibited=_RESOURCE_PROHIBITED, strict=strict)
    if prepared is None or not _fits(prepared):
        return None
    return prepared


@lru_cache(maxsize=1024)
def nameprep(text: str, strict: bool = False) -> str | None:
    """The domain as nameprep prepares it (case-folded, no root dot), or None when refused."""
    if text.endswith("."):
        text = text[:-1]
    if _PLAIN_ASCII.issuperset(text):
        prepared = text.lower()
    else:
        try:
            prepared = idna.nameprep(text)
        except UnicodeError:
            return None
        if strict and any(stringprep.in_table_a1(c) for c in prepared):
            return None
    if not _fits(prepared) or any(c in "@/" or stringprep.in_table_c11(c) for c in prepared):
        return None
    if prepared.startswith("[") != prepared.endswith("]"):
        return None
    return prepared


@dataclass(frozen=True, slots=True)
class JID:
    """A prepared JID; `local` and `resource` are "" when absent."""

    local: str
    domain: str
    resource: str = ""

    @classmethod
    def parse(cls, text: str) -> JID:
        """Split and prepare `text`; raise ValueError saying what is wrong with it."""
        if not isinstance(text, str) or not text:
            raise ValueError(f"invalid JID {text!r}: empty")
        jid = split_jid(text)
        if jid is None:
            raise ValueError(f"invalid JID {text!r}: {_what_is_wrong(text)}")
        return jid

    @property
    def bare(self) -> str:
        """`local@domain` (or just the domain)."""
        return f"{self.local}@{self.domain}" if self.local else self.domain

    @property
    def full(self) -> str:
        """`local@domain/resource`, or the bare JID when there is no resource."""
        return f"{self.bare}/{self.resource}" if self.resource else self.bare

    def with_resource(self, resource: str) -> JID:
        """The same account with another resource (prepared like a parsed one)."""
        return JID.parse(f"{self.bare}/{resource}")

    def __str__(self) -> str:
        return self.full


def _split(text: str) -> tuple[str | None, str, str | None]:
    rest, slash, resource = text.partition("/")
    local, at, domain = rest.rpartition("@")
    return (local if at else None), domain, (resource if slash else None)


@lru_cache(maxsize=4096)
def split_jid(text: str) -> JID | None:
    """The prepared JID `text` names, or None when it is not a valid JID.

    Big enough a cache for the JIDs in play at once (sessions, rooms, occupants),
    small enough that a long run with ever-new nicknames does not grow a heap.
    """
    local, domain, resource = _split(text)
    prepared_domain = nameprep(domain)
    if prepared_domain is None:
        return None
    prepared_local = "" if local is None else nodeprep(local)
    prepared_resource = "" if resource is None else resourceprep(resource)
    if prepared_local is None or prepared_resource is None:
        return None
    return JID(prepared_local, prepared_domain, prepared_resource)


def _what_is_wrong(text: str) -> str:
    local, domain, resource = _split(text)
    if local is not None and nodeprep(local) is None:
        return _part_problem("localpart", local, "nodeprep")
    if nameprep(domain) is None:
        domain = domain.removesuffix(".")
        if not domain or len(domain.encode()) > MAX_PART_BYTES:
            return _part_problem("domain", domain, "nameprep")
        if domain.startswith("[") != domain.endswith("]"):
            return f"malformed IPv6 domain {domain!r}"
        return f"malformed domain {domain!r}"
    return _part_problem("resource", resource or "", "resourceprep")


def _part_problem(kind: str, part: str, profile: str) -> str:
    if not part:
        return f"empty {kind}"
    if len(part.encode()) > MAX_PART_BYTES:
        return f"{kind} longer than {MAX_PART_BYTES} bytes"
    if kind == "localpart" and (bad := "".join(sorted(_NODE_FORBIDDEN.intersection(part)))):
        return f"localpart may not contain {bad}"
    if any(unicodedata.category(c) == "Cc" for c in part):
        return f"{kind} may not contain control characters"
    if kind == "localpart" and any(unicodedata.category(c) == "Zs" for c in part):
        return "localpart may not contain space"
    return f"{kind} refused by {profile} (a prohibited or mixed-direction character)"


def bare_of(full: str) -> str:
    """The bare part of an already prepared JID (no validation: internal use)."""
    slash = full.find("/")
    return full if slash < 0 else full[:slash]
