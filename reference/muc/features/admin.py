"""The muc#admin protocol: affiliation and role lists, and changing them (XEP-0045 9, 8).

An item with a `nick` reserves that nickname for the JID, evicting anyone else
using it ("This nickname is reserved").
"""

from __future__ import annotations

from lxml import etree

from protocol.jid import resourceprep, split_jid
from reference.muc import xml
from reference.muc.authority import set_affiliation, set_role
from reference.muc.hooks import Event, Hooks
from reference.muc.presence import add_items
from reference.muc.ranks import AFFILIATIONS, ROLES, affiliation_rank, role_rank
from reference.muc.room import Room, resource


def register(hooks: Hooks) -> None:
    hooks.on(f"iq-get/bare/{xml.MUC_ADMIN}:query", _get)
    hooks.on(f"iq-set/bare/{xml.MUC_ADMIN}:query", _set)


def _set(event: Event) -> bool:
    room, stanza = event.room, event.stanza
    query = xml.first_child(stanza)
    item = xml.first_child(query) if query is not None else None
    if item is None:
        room.route(xml.error_reply(stanza, "cancel", "bad-request"))
        return True
    refused = _normalise_item(room, item)
    if refused is not None:
        room.route(xml.error_reply(stanza, "modify", "jid-malformed", refused or None))
        return True
    actor = stanza.get("from", "")
    jid, nick = item.get("jid"), item.get("nick")
    affiliation, role = item.get("affiliation"), item.get("role")
    reason = xml.find_text(item, "reason", xml.MUC_ADMIN)
    if affiliation is not None and jid is not None and role is None:
        data = None
        if nick is not None:
            room_nick = f"{room.jid}/{nick}"
            holder = room.occupants.get(room_nick)
            if holder is not None and holder.bare_jid != jid:
                set_role(room, None, room_nick, None, "This nickname is reserved")
            data = {"reserved_nickname": nick}
        ok, error_type, condition = set_affiliation(room, actor, jid, affiliation, reason, data)
    elif role is not None and nick is not None and affiliation is None:
        ok, error_type, condition = set_role(room, actor, f"{room.jid}/{nick}", role, reason)
    else:
        ok, error_type, condition = False, "cancel", "bad-request"
    room.save(True)
    if ok:
        room.route(xml.reply(stanza))
    else:
        room.route(xml.error_reply(stanza, error_type or "cancel", condition or "bad-request"))
    return True


def _normalise_item(room: Room, item: etree._Element) -> str | None:
    """Prepare the item's JID and nick in place; a refusal text ("" for none) if invalid."""
    if item.get("jid") is not None:
        jid = split_jid(item.get("jid", ""))
        if jid is None:
            return ""
        if jid.resource:
            return "Bare JID expected, got full JID"
        item.set("jid", jid.bare)
    if item.get("nick") is not None:
        nick = resourceprep(item.get("nick", ""))
        if nick is None:
            return "invalid nickname"
        item.set("nick", nick)
    if item.get("jid") is None and item.get("nick") is not None:
        # Some clients name the occupant by nick when changing an affiliation.
        occupant = room.occupants.get(f"{room.jid}/{item.get('nick')}")
        if occupant is not None:
            item.set("jid", occupant.bare_jid)
    elif item.get("role") is not None and item.get("nick") is None and item.get("jid"):
        current = room.jid_nick.get(item.get("jid", ""))
        if current is not None:
            item.set("nick", resource(current) or "")
    return None


def _get(event: Event) -> bool:
    room, stanza = event.room, event.stanza
    actor = stanza.get("from", "")
    own = room.get_affiliation(actor)
    query = xml.first_child(stanza)
    item = xml.first_child(query) if query is not None else None
    wanted_affiliation = item.get("affiliation") if item is not None else None
    wanted_role = item.get("role") if item is not None else None
    if wanted_affiliation in AFFILIATIONS and wanted_role is None:
        rank = affiliation_rank(own)
        may_list = (
            rank >= AFFILIATIONS["admin"] and rank >= affiliation_rank(wanted_affiliation)
        ) or (
            room.data.get("members_only")
            and room.whois() == "anyone"
            and rank >= AFFILIATIONS["member"]
        )
        if not may_list:
            room.route(xml.error_reply(stanza, "auth", "forbidden"))
            return True
        answer = xml.reply(stanza)
        result = xml.child(answer, "query", xml.MUC_ADMIN)
        for jid, _ in room.each_affiliation(wanted_affiliation):
            xml.child(
                result,
                "item",
                attrs={
                    "affiliation": wanted_affiliation,
                    "jid": jid,
                    "nick": room.registered_nick(jid),
                },
            )
        room.route(answer)
        return True
    if wanted_role in ROLES and wanted_affiliation is None:
        current = room.jid_nick.get(actor)
        acting = room.occupants.get(current) if current is not None else None
        role = acting.role if acting is not None else room.default_role(own)
        if role_rank(role) < ROLES["moderator"]:
            room.route(xml.error_reply(stanza, "auth", "forbidden"))
            return True
        answer = xml.reply(stanza)
        result = xml.child(answer, "query", xml.MUC_ADMIN)
        listed = None if wanted_role == "none" else wanted_role
        for occupant in list(room.occupants.values()):
            if occupant.role == listed:
                add_items(room, occupant, result, False, occupant.nickname)
        room.route(answer)
        return True
    room.route(xml.error_reply(stanza, "cancel", "bad-request"))
    return True
