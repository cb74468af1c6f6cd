"""Affiliations and roles, ordered: comparisons decide who may do what to whom."""

from __future__ import annotations

AFFILIATIONS = {"outcast": -1, "none": 0, "member": 1, "admin": 2, "owner": 3}
ROLES = {"none": 0, "visitor": 1, "participant": 2, "moderator": 3}


def affiliation_rank(affiliation: str | None) -> int:
    return AFFILIATIONS[affiliation or "none"]


def role_rank(role: str | None) -> int:
    return ROLES[role or "none"]
