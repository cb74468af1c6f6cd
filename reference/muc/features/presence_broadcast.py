"""Which roles' presence is shown to the room (XEP-0045 `presencebroadcast`).

Including `none` also shows affiliated users who are absent, as unavailable.
"""

from __future__ import annotations

from reference.muc.forms import Field, Option
from reference.muc.hooks import Event, Hooks
from reference.muc.presence import DEFAULT_BROADCAST, broadcast_roles, muc_user_x, publicise
from reference.muc.room import Room

FIELD = "muc#roomconfig_presencebroadcast"
ROLES = ("none", "visitor", "participant", "moderator")
_SHOWN_ORDER = ("moderator", "visitor", "participant", "none")


def register(hooks: Hooks) -> None:
    hooks.on("muc-config-form", _form, 70 - 7)
    hooks.on(f"muc-config-submitted/{FIELD}", _submitted)


def set_roles(room: Room, roles: frozenset[str]) -> bool:
    old = broadcast_roles(room)
    if roles == old:
        return False
    if roles == DEFAULT_BROADCAST:
        room.data.pop("presence_broadcast", None)
    else:
        room.data["presence_broadcast"] = sorted(roles)
    for occupant in list(room.occupants.values()):
        role = occupant.role or "none"
        if role in roles and role not in old:
            publicise(room, occupant, muc_user_x())
        elif role in old and role not in roles:
            publicise(room, occupant, muc_user_x(), force_unavailable=True)
    return True


def _form(event: Event) -> None:
    shown = broadcast_roles(event.room)
    event.form.add(
        Field(
            FIELD,
            "list-multi",
            "Only show participants with roles:",
            value=[role for role in _SHOWN_ORDER if role in shown],
            options=[Option(role, role) for role in ROLES],
        )
    )


def _submitted(event: Event) -> None:
    roles = frozenset(v for v in event.value or () if v in ROLES)
    if set_roles(event.room, roles):
        event.status_codes.add("104")
