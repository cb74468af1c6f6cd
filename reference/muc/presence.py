"""How an occupant's presence reaches the room: one announcement, three audiences.

Occupants allowed to see real JIDs get items with `jid`, the occupant's own
sessions get theirs plus status 110, everyone else an anonymous item. Each
variant is serialised once and fanned out with `route_copies`. A joiner's list
of occupants reuses each occupant's rendering (`listed_presence`) and goes out
in one batch, so a join costs the room O(1) rendering work per occupant.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from reference.muc import xml
from reference.muc.hooks import Event
from reference.muc.occupant import Occupant
from reference.muc.room import Room, bare, resource
from reference.wire import Readdressable

# Decides which occupants (or, with None, which affiliated absent JIDs) a list shows.
ListFilter = Callable[[Occupant | None, str], bool]


def muc_user_x() -> etree._Element:
    return etree.Element(xml.tag("x", xml.MUC_USER), nsmap={None: xml.MUC_USER})


def add_item(
    x: etree._Element,
    affiliation: str | None,
    role: str | None,
    jid: str | None = None,
    nick: str | None = None,
    actor_nick: str | None = None,
    actor_jid: str | None = None,
    reason: str | None = None,
) -> etree._Element:
    item = xml.child(
        x,
        "item",
        attrs={"affiliation": affiliation or "none", "role": role, "jid": jid, "nick": nick},
    )
    if actor_nick or actor_jid:
        xml.child(item, "actor", attrs={"nick": actor_nick, "jid": actor_jid})
    if reason is not None:
        xml.child(item, "reason", text=reason)
    return item


def add_items(
    room: Room,
    occupant: Occupant,
    x: etree._Element,
    anonymous: bool,
    nick: str | None = None,
    actor_nick: str | None = None,
    actor_jid: str | None = None,
    reason: str | None = None,
) -> etree._Element:
    """One item per session (with its real JID), or a single anonymous one."""
    affiliation = room.get_affiliation(occupant.bare_jid)
    role = occupant.role or "none"
    if anonymous:
        add_item(x, affiliation, role, None, nick, actor_nick, actor_jid, reason)
    else:
        for real_jid in occupant.sessions:
            add_item(x, affiliation, role, real_jid, nick, actor_nick, actor_jid, reason)
    return x


def broadcast_roles(room: Room) -> frozenset[str]:
    return room.data.get("presence_broadcast", DEFAULT_BROADCAST)


DEFAULT_BROADCAST = frozenset({"visitor", "participant", "moderator"})


def publicise(
    room: Room,
    occupant: Occupant,
    x: etree._Element,
    *,
    self_x: etree._Element | None = None,
    nick: str | None = None,
    actor: str | None = None,
    reason: str | None = None,
    prev_role: str | None = None,
    force_unavailable: bool = False,
    recipient: Occupant | None = None,
) -> None:
    """Tell the room (or only `recipient`) about `occupant`'s current state.

    `x` is the muc#user element template (status codes) everyone gets, `self_x`
    the one the occupant's own sessions get when it differs; `nick` is the new
    nickname during a nick change; `actor` the real JID of whoever caused it."""
    primary = occupant.presence()
    if (
        primary is not None
        and (occupant.role is not None or primary.get("type") == "unavailable")
        and not force_unavailable
    ):
        base = xml.clone(primary)
    else:  # leaving without having said so: make the unavailable presence for them
        base = xml.stanza("presence", {"from": occupant.nick, "type": "unavailable"})
    event = Event(
        room=room, stanza=base, x=x, occupant=occupant, nick=nick, actor=actor, reason=reason
    )
    room.hooks.fire("muc-build-occupant-presence", event)
    if recipient is None:
        room.hooks.fire("muc-broadcast-presence", event)
    actor_nick = None
    if actor is not None and (actor_room_jid := room.jid_nick.get(actor)) is not None:
        actor_nick = resource(actor_room_jid)

    variants: dict[str, etree._Element] = {}

    def variant(name: str) -> etree._Element:
        if name not in variants:
            vx = xml.clone(x)
            if name == "full":
                add_items(room, occupant, vx, False, nick, actor_nick, actor, reason)
            else:
                add_items(room, occupant, vx, True, nick, actor_nick, None, reason)
            presence = xml.clone(base)
            presence.append(vx)
            variants[name] = presence
        return variants[name]

    own_x = add_items(
        room,
        occupant,
        xml.clone(self_x if self_x is not None else x),
        False,
        nick,
        actor_nick,
        None,
        reason,
    )
    own = xml.clone(base)
    own.append(own_x)

    seeing: dict[str | None, bool] = {}  # role -> sees real JIDs (the room's whois is fixed here)

    def audience(viewer: Occupant) -> etree._Element:
        sees = seeing.get(viewer.role)
        if sees is None:
            sees = seeing[viewer.role] = room.can_see_real_jids(viewer)
        if sees:
            return variant("full")
        if viewer.bare_jid == occupant.bare_jid:
            return own
        return variant("anon")

    if recipient is not None:
        room.route_to_occupant(recipient, audience(recipient))
        return

    roles = broadcast_roles(room)
    shown = (occupant.role or "none") in roles or force_unavailable
    hidden_now = not shown and prev_role is not None and prev_role in roles
    recipients: dict[int, tuple[etree._Element, list[str]]] = {}
    if shown or hidden_now:  # otherwise the others neither see it nor saw it
        for other in list(room.occupants.values()):
            if other.nick == occupant.nick:
                continue
            presence = audience(other)
            if hidden_now:  # it lost a role the room shows: to the others, it leaves
                presence.set("type", "unavailable")
            recipients.setdefault(id(presence), (presence, []))[1].extend(other.sessions)
    for presence, jids in recipients.values():
        room.route_copies(presence, jids)

    own_x = xml.clone(own_x)
    xml.child(own_x, "status", attrs={"code": "110"})
    if occupant.role is None:
        own = xml.clone(base)
        own.append(own_x)
        room.route_to_occupant(occupant, own)
        return
    for real_jid, session_presence in list(occupant.sessions.items()):
        presence = xml.clone(session_presence)
        room.hooks.fire(
            "muc-build-occupant-presence",
            Event(room=room, occupant=occupant, stanza=presence),
        )
        presence.set("to", real_jid)
        presence.append(xml.clone(own_x))
        room.route(presence)


def listed_presence(room: Room, occupant: Occupant, anonymous: bool) -> Readdressable | None:
    """`occupant`'s presence as an occupant list shows it (None: it has none).

    Rendered once per state and kept on the occupant: the state is its primary
    presence (a new element whenever a session speaks), its affiliation, role
    and, when real JIDs show, its sessions, so any change renders it anew.
    `muc-build-occupant-presence` handlers see it once per rendering, without
    the recipient's address."""
    primary = occupant.presence()
    if primary is None:
        return None
    state = (
        primary,
        room.get_affiliation(occupant.bare_jid),
        occupant.role,
        () if anonymous else tuple(occupant.sessions),
    )
    cached = occupant.listed.get(anonymous)
    if cached is not None and cached[0] == state:
        return cached[1]
    presence = xml.clone(primary)
    presence.append(add_items(room, occupant, muc_user_x(), anonymous))
    room.hooks.fire(
        "muc-build-occupant-presence", Event(room=room, occupant=occupant, stanza=presence)
    )
    rendered = Readdressable(presence)
    occupant.listed[anonymous] = (state, rendered)
    return rendered


def send_occupant_list(room: Room, to: str, only: ListFilter | None = None) -> None:
    """Everyone's presence to a (re)joining session, then absent affiliated users
    when the room shows role `none` (with reserved nicks, or real JIDs if visible).

    The present occupants go out in one batch of cached renderings, so a join
    costs one write to the joiner however full the room is."""
    to_bare = bare(to)
    roles = broadcast_roles(room)
    anonymous = room.is_anonymous_for(to)
    present: set[str] = set()
    listed: list[Readdressable] = []
    for occupant in list(room.occupants.values()):
        present.add(occupant.bare_jid)
        if only is not None and not only(occupant, occupant.bare_jid):
            continue
        own = to_bare == occupant.bare_jid
        if own or (occupant.role or "none") in roles:
            rendered = listed_presence(room, occupant, anonymous and not own)
            if rendered is not None:
                listed.append(rendered)
    if listed:
        room.route_rendered(listed, to)
    if "none" not in roles:
        return
    for jid, affiliation in room.each_affiliation():
        nick = room.registered_nick(jid)
        if not (nick or not anonymous) or jid in present:
            continue
        if only is not None and not only(None, jid):
            continue
        presence = xml.stanza(
            "presence",
            {"to": to, "from": f"{room.jid}/{nick}" if nick else room.jid, "type": "unavailable"},
        )
        x = xml.child(presence, "x", xml.MUC_USER)
        add_item(x, affiliation, "none", None if anonymous else jid, nick)
        room.route(presence)
