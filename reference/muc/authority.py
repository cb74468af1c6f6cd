"""Changing who someone is in a room: affiliations, roles, and the room's end.

Each change follows XEP-0045's permission rules as Prosody applies them, then
announces itself: occupants concerned get a new presence (with 301/307/321 when
they are removed), and an affiliation change for someone absent is told to the
room by a message.
"""

from __future__ import annotations

from typing import Any

from reference.muc import xml
from reference.muc.hooks import Event
from reference.muc.occupant import Occupant
from reference.muc.presence import muc_user_x, publicise, send_occupant_list
from reference.muc.ranks import AFFILIATIONS, ROLES, affiliation_rank, role_rank
from reference.muc.room import Room, bare

Result = tuple[bool, str | None, str | None]  # ok, error type, error condition
OK: Result = (True, None, None)
NOT_ALLOWED: Result = (False, "cancel", "not-allowed")


def set_affiliation(
    room: Room,
    actor: str | None,
    jid: str,
    affiliation: str | None,
    reason: str | None = None,
    data: dict[str, Any] | bool | None = None,
) -> Result:
    """Change `jid`'s affiliation as `actor` (None: the service itself) may.

    `data=False` clears the affiliation's data (a reserved nickname), a dict
    replaces it, None keeps it."""
    jid = bare(jid)
    if not jid:
        return False, "modify", "not-acceptable"
    if affiliation is not None and affiliation not in AFFILIATIONS:
        return False, "modify", "not-acceptable"
    if affiliation != "owner" and jid in room.service.admins:
        return False, "modify", "not-acceptable"
    affiliation = None if affiliation in (None, "none") else affiliation
    previous = room.affiliations.get(jid)
    is_downgrade = affiliation_rank(previous) > affiliation_rank(affiliation)
    if actor is not None:
        refused = _refuse_affiliation(room, actor, jid, affiliation, previous, is_downgrade)
        if refused:
            return refused
    event = Event(
        room=room,
        actor=actor,
        jid=jid,
        affiliation=affiliation or "none",
        previous_affiliation=previous or "none",
        reason=reason,
    )
    room.hooks.fire("muc-pre-set-affiliation", event)
    if event.allowed is False:
        return NOT_ALLOWED
    if affiliation is None:
        room.affiliations.pop(jid, None)
    else:
        room.affiliations[jid] = affiliation
    if affiliation is None or data is False or data == {}:
        room.affiliation_data.pop(jid, None)
    elif isinstance(data, dict):
        room.affiliation_data[jid] = data
    room.cache.pop("reserved_nicks", None)
    _announce_affiliation(room, jid, affiliation, is_downgrade, actor, reason)
    room.save(True)
    room.hooks.fire("muc-set-affiliation", event)
    return OK


def _refuse_affiliation(
    room: Room,
    actor: str,
    jid: str,
    affiliation: str | None,
    previous: str | None,
    is_downgrade: bool,
) -> Result | None:
    actor_affiliation = room.get_affiliation(actor)
    if actor_affiliation == "owner":
        last_owner = not any(j != jid for j, _ in room.each_affiliation("owner"))
        if bare(actor) == jid and is_downgrade and last_owner:
            return False, "cancel", "conflict"  # a room keeps at least one owner
        return None
    if affiliation in ("owner", "admin") or actor_affiliation != "admin":
        return NOT_ALLOWED
    if previous in ("owner", "admin"):
        return NOT_ALLOWED
    return None


def _announce_affiliation(
    room: Room,
    jid: str,
    affiliation: str | None,
    is_downgrade: bool,
    actor: str | None,
    reason: str | None,
) -> None:
    role = room.default_role(affiliation)
    whole_host = "@" not in jid and affiliation == "outcast"
    updated: list[tuple[Occupant, str | None]] = []
    for occupant in list(room.occupants.values()):
        if occupant.bare_jid != jid and not (whole_host and occupant.bare_jid.endswith("@" + jid)):
            continue
        updated.append((occupant, occupant.role))
        if occupant.role != role and (is_downgrade or role_rank(occupant.role) < role_rank(role)):
            occupant.role = role
            room.save_occupant(occupant)
    x = muc_user_x()
    if role is None:
        xml.child(x, "status", attrs={"code": "301" if affiliation == "outcast" else "321"})
    semi_anonymous = room.whois() == "moderators"
    for occupant, old_role in updated:
        publicise(room, occupant, x, actor=actor, reason=reason, prev_role=old_role)
        if occupant.role is None:
            room.hooks.fire("muc-occupant-left", Event(room=room, occupant=occupant))
        elif semi_anonymous and (old_role == "moderator") != (occupant.role == "moderator"):
            # Gaining or losing moderator changes whose real JIDs this occupant sees.
            def others(other: Occupant | None, _: str, me: str = occupant.bare_jid) -> bool:
                return other is None or other.bare_jid != me

            for real_jid in list(occupant.sessions):
                send_occupant_list(room, real_jid, others)
    if updated:
        return
    message = xml.stanza("message", {"from": room.jid})
    announced = xml.child(message, "x", xml.MUC_USER)
    for status in x:
        announced.append(xml.clone(status))
    item = xml.child(announced, "item", attrs={"affiliation": affiliation or "none", "jid": jid})
    if reason is not None:
        xml.child(item, "reason", text=reason)
    minimum = ROLES["moderator"] if semi_anonymous else ROLES["none"]
    room.broadcast(message, lambda o: role_rank(o.role) >= minimum)


def set_role(
    room: Room, actor: str | None, nick: str, role: str | None, reason: str | None = None
) -> Result:
    """Change the role of the occupant at in-room JID `nick`; role None kicks (307)."""
    occupant = room.occupants.get(nick)
    if occupant is None:
        return False, "modify", "item-not-found"
    if role is not None and role not in ROLES:
        return False, "modify", "not-acceptable"
    role = None if role in (None, "none") else role
    if actor is not None:
        refused = _refuse_role(room, actor, occupant, role)
        if refused:
            return refused
    x = muc_user_x()
    if role is None:
        xml.child(x, "status", attrs={"code": "307"})
    previous = occupant.role
    occupant.role = role
    room.save_occupant(occupant)
    publicise(room, occupant, x, actor=actor, reason=reason, prev_role=previous)
    if role is None:
        room.hooks.fire("muc-occupant-left", Event(room=room, occupant=occupant))
    return OK


def _refuse_role(room: Room, actor: str, occupant: Occupant, role: str | None) -> Result | None:
    event = Event(room=room, actor=actor, occupant=occupant, role=role)
    decided = room.hooks.fire("muc-pre-set-role", event)
    if decided is not None:
        return decided
    actor_affiliation = room.get_affiliation(actor)
    if affiliation_rank(actor_affiliation) < affiliation_rank(
        room.get_affiliation(occupant.bare_jid)
    ):
        return NOT_ALLOWED
    if "moderator" in (occupant.role, role) and actor_affiliation not in ("owner", "admin"):
        return NOT_ALLOWED
    acting = room.occupant_by_real_jid(actor)
    if acting is None or acting.role != "moderator":
        return NOT_ALLOWED
    return None


def destroy(
    room: Room,
    new_jid: str | None = None,
    reason: str | None = None,
    password: str | None = None,
) -> bool:
    """Remove everyone (telling them where to go, if anywhere), then the room itself."""
    event = Event(room=room, newjid=new_jid, reason=reason, password=password, allowed=True)
    room.hooks.fire("muc-pre-room-destroy", event)
    if not event.allowed:
        return False
    x = muc_user_x()
    destroyed = xml.child(x, "destroy", attrs={"jid": event.newjid})
    if event.reason is not None:
        xml.child(destroyed, "reason", text=event.reason)
    if event.password is not None:
        xml.child(destroyed, "password", text=event.password)
    room.destroying = event.reason or True
    clear(room, x)
    room.hooks.fire(
        "muc-room-destroyed",
        Event(room=room, reason=event.reason, newjid=event.newjid, password=event.password),
    )
    return True


def clear(room: Room, x: Any = None) -> None:
    """Make every occupant leave, each told with `x` (a muc#user element)."""
    x = x if x is not None else muc_user_x()
    leaving: list[tuple[Occupant, str | None]] = []
    for occupant in list(room.occupants.values()):
        leaving.append((occupant, occupant.role))
        occupant.role = None
        room.save_occupant(occupant)
    for occupant, previous in leaving:
        publicise(room, occupant, x, prev_role=previous)
        room.hooks.fire("muc-occupant-left", Event(room=room, occupant=occupant))
