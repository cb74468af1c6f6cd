"""The rules every room applies whatever its settings (Prosody's muc.lib hooks).

Default roles from affiliations, the creator becoming owner, refusing outcasts
and unusable nicknames, who may speak and invite, and the basic disco features.
"""

from __future__ import annotations

from protocol.jid import resourceprep
from reference.muc import xml
from reference.muc.authority import set_affiliation
from reference.muc.forms import Field
from reference.muc.hooks import Event, Hooks
from reference.muc.ranks import AFFILIATIONS, ROLES, role_rank
from reference.muc.room import bare, resource


def register(hooks: Hooks) -> None:
    hooks.on("muc-get-default-role", _default_role, -1)
    hooks.on("muc-room-pre-create", _creator_is_owner, -1)
    hooks.on("muc-room-pre-create", _track, -1000)
    hooks.on("muc-occupant-pre-join", _refuse_outcast, -10)
    hooks.on("muc-occupant-pre-join", _refuse_invisible_nick, 1)
    hooks.on("muc-occupant-pre-change", _refuse_invisible_nick, 1)
    hooks.on("muc-occupant-pre-join", _refuse_malformed_nick, 2)
    hooks.on("muc-occupant-pre-change", _refuse_malformed_nick, 2)
    hooks.on("muc-occupant-groupchat", _strip_own_delay)
    hooks.on("muc-occupant-groupchat", _may_speak, 50)
    hooks.on("muc-pre-invite", _may_invite)
    hooks.on("muc-disco#info", _disco_features)
    hooks.on("muc-disco#info", _disco_occupants)
    hooks.on("muc-occupant-left", _destroy_when_empty, -1)


def _default_role(event: Event) -> str | None:
    if event.rank >= AFFILIATIONS["admin"]:
        return "moderator"
    if event.rank >= AFFILIATIONS["none"]:
        return "participant"
    return None


def _creator_is_owner(event: Event) -> None:
    set_affiliation(event.room, None, bare(event.stanza.get("from")), "owner")


def _track(event: Event) -> None:
    event.room.service.track(event.room)


def _refuse_outcast(event: Event) -> bool | None:
    room = event.room
    if room.get_affiliation(event.stanza.get("from")) == "outcast":
        room.route(xml.error_reply(event.stanza, "auth", "forbidden", by=room.jid))
        return True
    return None


def _target(event: Event) -> str:
    occupant = event.occupant if event.occupant is not None else event.dest_occupant
    return resource(occupant.nick) or ""


def _refuse_invisible_nick(event: Event) -> bool | None:
    if _target(event).strip():
        return None
    error = xml.error_reply(
        event.stanza, "modify", "not-allowed", "Invisible Nicknames are forbidden", event.room.jid
    )
    event.room.route(error)
    return True


def _refuse_malformed_nick(event: Event) -> bool | None:
    if resourceprep(_target(event), strict=True) is not None:
        return None
    error = xml.error_reply(
        event.stanza,
        "modify",
        "jid-malformed",
        "Nickname must pass strict validation",
        event.room.jid,
    )
    event.room.route(error)
    return True


def _strip_own_delay(event: Event) -> None:
    """Clients may not forge the room's own delay stamps."""
    room_jid = event.room.jid
    for name, ns in (("delay", xml.DELAY), ("x", "jabber:x:delay")):
        for element in event.stanza.findall(xml.tag(name, ns)):
            if element.get("from") == room_jid:
                event.stanza.remove(element)


def _may_speak(event: Event) -> bool | None:
    rank = role_rank(event.occupant.role if event.occupant is not None else None)
    if rank <= ROLES["none"]:
        error = xml.error_reply(
            event.stanza,
            "cancel",
            "not-acceptable",
            "You are not currently connected to this chat",
        )
    elif rank <= ROLES["visitor"]:
        error = xml.error_reply(
            event.stanza,
            "auth",
            "forbidden",
            "You do not currently have permission to speak in this chat",
        )
    else:
        return None
    event.room.route(error)
    return True


def _may_invite(event: Event) -> bool | None:
    room = event.room
    sender = event.stanza.get("from", "")
    inviter = room.occupant_by_real_jid(sender)
    role = inviter.role if inviter is not None else room.default_role(room.get_affiliation(sender))
    if role_rank(role) <= ROLES["visitor"]:
        room.route(xml.error_reply(event.stanza, "auth", "forbidden"))
        return True
    return None


def _disco_features(event: Event) -> None:
    for var in (
        "http://jabber.org/protocol/muc",
        "http://jabber.org/protocol/muc#stable_id",
        "http://jabber.org/protocol/muc#self-ping-optimization",
    ):
        xml.child(event.reply, "feature", attrs={"var": var})


def _disco_occupants(event: Event) -> None:
    event.form.add(
        Field(
            "muc#roominfo_occupants",
            label="Number of occupants",
            value=str(len(event.room.occupants)),
        )
    )


def _destroy_when_empty(event: Event) -> None:
    room = event.room
    if room.destroying or room.occupants or room.data.get("persistent"):
        return
    room.hooks.fire("muc-room-destroyed", Event(room=room))
