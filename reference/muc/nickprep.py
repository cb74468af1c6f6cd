"""Resourceprep (RFC 3920 appendix B), which Prosody applies to room nicknames.

Strict mode also refuses unassigned code points, as Prosody does when checking a
nickname someone joins with or registers.
"""

from __future__ import annotations

import stringprep
import unicodedata

_PROHIBITED = (
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


def resourceprep(text: str, strict: bool = False) -> str | None:
    """The prepared form of `text`, or None when the profile refuses it."""
    mapped = "".join(c for c in text if not stringprep.in_table_b1(c))
    prepared = unicodedata.normalize("NFKC", mapped)
    for c in prepared:
        if any(check(c) for check in _PROHIBITED):
            return None
        if strict and stringprep.in_table_a1(c):
            return None
    if any(stringprep.in_table_d1(c) for c in prepared):
        if any(stringprep.in_table_d2(c) for c in prepared):
            return None
        if not (stringprep.in_table_d1(prepared[0]) and stringprep.in_table_d1(prepared[-1])):
            return None
    if len(prepared.encode()) > 1023:
        return None
    return prepared
