"""Presence sent to a room: creating it, joining, updating, changing nickname, leaving.

Each step first asks the features (`muc-occupant-pre-join`, `-pre-change`,
`-pre-leave`), any of which may refuse with an error; then the room tells
everyone, and `muc-occupant-session-new` lets history and subject follow.
"""

from __future__ import annotations

from lxml import etree

from reference.muc import xml
from reference.muc.hooks import Event
from reference.muc.occupant import Occupant
from reference.muc.presence import add_item, add_items, muc_user_x, publicise, send_occupant_list
from reference.muc.room import Room, bare, resource


def handle_first_presence(room: Room, stanza: etree._Element) -> None:
    """The presence that creates `room`: its sender becomes owner and first occupant."""
    real_jid = stanza.get("from", "")
    if room.hooks.fire("muc-room-pre-create", Event(room=room, stanza=stanza)):
        return
    occupant = room.new_occupant(bare(real_jid), stanza.get("to", ""))
    requested = occupant.nick
    event = Event(
        room=room, stanza=stanza, is_first_session=True, is_new_room=True, occupant=occupant
    )
    if room.hooks.fire("muc-occupant-pre-join", event):
        return
    occupant.set_session(real_jid, stanza)
    x = muc_user_x()
    xml.child(x, "status", attrs={"code": "201"})
    if room.whois() == "anyone":
        xml.child(x, "status", attrs={"code": "100"})
    if requested != occupant.nick:
        xml.child(x, "status", attrs={"code": "210"})
    room.save_occupant(occupant)
    publicise(room, occupant, x)
    joined = Event(room=room, occupant=occupant, stanza=stanza, jid=real_jid)
    room.hooks.fire("muc-occupant-joined", joined)
    room.hooks.fire("muc-occupant-session-new", joined)
    room.hooks.fire("muc-room-created", Event(room=room, creator=occupant, stanza=stanza))


def handle_presence_to_occupant(room: Room, stanza: etree._Element) -> None:
    presence_type = stanza.get("type")
    if presence_type == "error":
        kick_for_error(room, stanza)
    elif presence_type in (None, "unavailable", "probe"):
        _handle_normal_presence(room, stanza)
    elif presence_type not in ("result", "visible", "invisible"):
        room.route(xml.error_reply(stanza, "modify", "bad-request", by=room.jid))


def handle_presence_to_room(room: Room, stanza: etree._Element) -> bool:
    """Some clients address updates to the room itself: treat them as sent to their nick.

    False when the sender is not an occupant: the room has nothing to say to it."""
    current = room.jid_nick.get(stanza.get("from", ""))
    if current is None:
        return False
    original = stanza.get("to")
    stanza.set("to", current)
    handle_presence_to_occupant(room, stanza)
    stanza.set("to", original or room.jid)
    return True


def _not_connected(room: Room, stanza: etree._Element, condition: str) -> None:
    room.route(
        xml.error_reply(
            stanza, "cancel", condition, "You are not currently connected to this chat", room.jid
        )
    )


def _handle_normal_presence(room: Room, stanza: etree._Element) -> None:
    presence_type = stanza.get("type")
    real_jid = stanza.get("from", "")
    to = stanza.get("to", "")
    bare_jid = bare(real_jid)
    orig = room.occupant_by_real_jid(real_jid)
    muc_x = xml.find(stanza, "x", xml.MUC)
    if orig is None and muc_x is None and presence_type is None:
        _not_connected(room, stanza, "item-not-found")  # a join without <x/>: likely desynced
        return
    dest: Occupant | None
    is_first_dest: bool | None = None
    if presence_type == "unavailable":
        if orig is None:
            return
        dest = None
    elif presence_type == "probe":
        _respond_to_probe(room, stanza, orig)
        return
    elif orig is not None and orig.nick == to:
        dest = orig  # a presence update
    else:
        dest = room.occupants.get(to)
        is_first_dest = dest is None
        if dest is None:
            dest = room.new_occupant(bare_jid, to)
            if orig is not None:
                dest.role = orig.role
    is_last_orig = orig is not None and len(orig.sessions) < 2
    requested = dest.nick if dest is not None else None

    event = Event(
        room=room, stanza=stanza, is_first_session=is_first_dest, is_last_session=is_last_orig
    )
    if orig is None:
        name, event.occupant = "muc-occupant-pre-join", dest
    elif dest is None:
        name, event.occupant = "muc-occupant-pre-leave", orig
    else:
        name, event.orig_occupant, event.dest_occupant = "muc-occupant-pre-change", orig, dest
    if room.hooks.fire(name, event):
        return
    if dest is not None and is_first_dest is not True and bare_jid != dest.bare_jid:
        room.route(xml.error_reply(stanza, "cancel", "conflict", by=room.jid))
        return

    if orig is not None and orig is not dest:
        _leave_original(room, stanza, orig, dest, is_first_dest, is_last_orig)
    if dest is None:
        return
    dest.set_session(real_jid, stanza)
    room.save_occupant(dest)
    if orig is None or muc_x is not None:

        def not_self(other: Occupant | None, _: str) -> bool:
            return other is None or other.presence(real_jid) is None

        send_occupant_list(room, real_jid, not_self)
    self_x = muc_user_x()
    if orig is None and room.whois() == "anyone":
        xml.child(self_x, "status", attrs={"code": "100"})
    if requested != dest.nick:
        xml.child(self_x, "status", attrs={"code": "210"})
    publicise(
        room, dest, muc_user_x(), self_x=self_x, prev_role=orig.role if orig is not None else None
    )
    if orig is not None and orig is not dest and not is_last_orig:
        # This session split off a multi-session nick: show it the old nick still there.
        rejoin = orig.presence()
        if rejoin is not None:
            rejoin = xml.clone(rejoin)
            rejoin.set("to", real_jid)
            rejoin.append(add_items(room, orig, muc_user_x(), False))
            room.route(rejoin)
    if orig is None or muc_x is not None:
        joined = Event(room=room, occupant=dest, stanza=stanza, jid=real_jid)
        if is_first_dest:
            room.hooks.fire("muc-occupant-joined", joined)
        room.hooks.fire("muc-occupant-session-new", joined)


def _leave_original(
    room: Room,
    stanza: etree._Element,
    orig: Occupant,
    dest: Occupant | None,
    is_first_dest: bool | None,
    is_last_orig: bool,
) -> None:
    """The session leaves its current nick: for good, or for `dest` (a nick change)."""
    real_jid = stanza.get("from", "")
    orig_x = muc_user_x()
    orig_role = orig.role
    new_nick = None
    if dest is None:
        if is_last_orig:
            orig.role = None
        orig.set_session(real_jid, stanza)
    else:
        generated = xml.stanza(
            "presence", {"from": orig.nick, "to": real_jid, "type": "unavailable"}
        )
        orig.set_session(real_jid, generated)
        new_nick = resource(dest.nick)
        affiliation = room.get_affiliation(bare(real_jid))
        if not is_first_dest:
            # Joining a nick this user already holds from another session.
            x = muc_user_x()
            add_item(x, affiliation, "none")
            leaving = xml.stanza(
                "presence", {"from": dest.nick, "to": real_jid, "type": "unavailable"}
            )
            xml.child(leaving, "status", text=f"you are joining pre-existing session {new_nick}")
            leaving.append(x)
            room.route(leaving)
        if is_first_dest and is_last_orig:
            xml.child(orig_x, "status", attrs={"code": "303"})
        else:
            # Others keep seeing the old nick; only this session sees itself move.
            orig.remove_session(real_jid)
            x = muc_user_x()
            add_item(x, affiliation, orig.role, real_jid, new_nick)
            xml.child(x, "status", attrs={"code": "303"})
            xml.child(x, "status", attrs={"code": "110"})
            generated = xml.clone(generated)
            generated.append(x)
            room.route(generated)
            new_nick = None
    room.save_occupant(orig)
    publicise(room, orig, orig_x, nick=new_nick, prev_role=orig_role)
    if is_last_orig:
        room.hooks.fire("muc-occupant-left", Event(room=room, occupant=orig, stanza=stanza))


def _respond_to_probe(room: Room, stanza: etree._Element, prober: Occupant | None) -> None:
    if prober is None:
        _not_connected(room, stanza, "not-acceptable")
        return
    to = stanza.get("to", "")
    probed = room.occupants.get(to)
    if probed is not None:
        publicise(room, probed, muc_user_x(), recipient=prober)
        return
    absent = unavailable_presence(room, to, stanza.get("from", ""))
    if absent is not None:
        room.route(absent)


def unavailable_presence(room: Room, room_jid: str, to: str) -> etree._Element | None:
    """What a registered but absent nickname looks like to `to` (None: not registered)."""
    nick = resource(room_jid) or ""
    holder = room.registered_jid(nick)
    if holder is None:
        return None
    presence = xml.stanza("presence", {"to": to, "from": room_jid, "type": "unavailable"})
    x = xml.child(presence, "x", xml.MUC_USER)
    jid = None if room.is_anonymous_for(to) else holder
    add_item(x, room.get_affiliation(holder), "none", jid, nick)
    return presence


def kick_for_error(room: Room, stanza: etree._Element) -> bool:
    """A session bounced a stanza with an error: it is no longer there, so remove it."""
    real_jid = stanza.get("from", "")
    occupant = room.occupant_by_real_jid(real_jid)
    if occupant is None:
        return False
    condition, text = xml.error_condition(stanza)
    message = "Kicked: " + (condition.replace("-", " ") if condition else "presence error")
    if text and room.whois() == "anyone":
        message += ": " + text
    gone = xml.stanza("presence", {"type": "unavailable"})
    xml.child(gone, "status", text=message)
    occupant.set_session(real_jid, gone)
    previous = occupant.role
    is_last = occupant.primary == real_jid
    if is_last:
        occupant.role = None
    remaining = room.save_occupant(occupant)
    x = muc_user_x()
    if is_last:
        xml.child(x, "status", attrs={"code": "333"})
    publicise(room, remaining or occupant, x, prev_role=previous)
    if is_last:
        room.hooks.fire("muc-occupant-left", Event(room=room, occupant=occupant))
    return True
