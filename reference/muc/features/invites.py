"""Mediated invitations and declines (XEP-0045 7.8.2), relayed by the room.

The room rewrites them as coming from itself; features add what the invitee
needs (the password, membership of a members-only room), and a plain body is
added for clients that do not understand invitations.
"""

from __future__ import annotations

from lxml import etree

from protocol.jid import split_jid
from reference.muc import xml
from reference.muc.hooks import Event, Hooks
from reference.muc.room import bare

CONFERENCE = "jabber:x:conference"


def register(hooks: Hooks) -> None:
    hooks.on("muc-mediated-invite", _invite)
    hooks.on("muc-mediated-decline", _decline)
    hooks.on("muc-invite", _legacy_conference_invite)
    hooks.on("muc-invite", _invite_body)
    hooks.on("muc-decline", _decline_body)


def _relayed(event: Event) -> tuple[str | None, str]:
    """The normalised addressee and the reason text of an invite or decline."""
    to = split_jid(event.payload.get("to", ""))
    reason = xml.find_text(event.payload, "reason", xml.MUC_USER)
    return (to.full if to is not None else None), reason or ""


def _build(event: Event, name: str, to: str, reason: str) -> etree._Element:
    """The relayed copy: from the room, the original's muc#user content replaced."""
    room = event.room
    message = xml.without_namespaces(xml.clone(event.stanza), (xml.MUC, xml.MUC_USER))
    message.set("from", room.jid)
    message.set("to", to)
    x = xml.child(message, "x", xml.MUC_USER)
    inner = xml.child(x, name, attrs={"from": event.stanza.get("from")})
    xml.child(inner, "reason", text=reason or None)
    return message


def _invite(event: Event) -> bool:
    room, stanza = event.room, event.stanza
    invitee, reason = _relayed(event)
    if invitee is None:
        room.route(xml.error_reply(stanza, "cancel", "jid-malformed"))
        return True
    if room.hooks.fire("muc-pre-invite", Event(room=room, stanza=stanza)):
        return True
    invite = _build(event, "invite", invitee, reason)
    if not room.hooks.fire("muc-invite", Event(room=room, stanza=invite, incoming=stanza)):
        room.route(invite)
    return True


def _decline(event: Event) -> bool:
    room, stanza = event.room, event.stanza
    declinee, reason = _relayed(event)
    if declinee is None:
        room.route(xml.error_reply(stanza, "cancel", "jid-malformed"))
        return True
    if room.hooks.fire("muc-pre-decline", Event(room=room, stanza=stanza)):
        return True
    decline = _build(event, "decline", declinee, reason)
    if room.hooks.fire("muc-decline", Event(room=room, stanza=decline, incoming=stanza)):
        return True
    to = decline.get("to", "")
    occupant = room.occupants.get(to) if bare(to) == room.jid else None
    if occupant is not None:
        room.route_to_occupant(occupant, decline)
    else:
        room.route(decline)
    return True


def _reason(stanza: etree._Element, name: str) -> str:
    return (
        stanza.findtext(f"{{{xml.MUC_USER}}}x/{{{xml.MUC_USER}}}{name}/{{{xml.MUC_USER}}}reason")
        or ""
    )


def _inviter(stanza: etree._Element, name: str) -> str:
    element = stanza.find(f"{{{xml.MUC_USER}}}x/{{{xml.MUC_USER}}}{name}")
    return element.get("from", "") if element is not None else ""


def _legacy_conference_invite(event: Event) -> None:
    """Older clients expect XEP-0249's element too."""
    xml.child(
        event.stanza,
        "x",
        CONFERENCE,
        {"jid": event.room.jid},
        text=_reason(event.stanza, "invite"),
    )


def _invite_body(event: Event) -> None:
    stanza = event.stanza
    if xml.client_child(stanza, "body") is not None:
        return
    reason = _reason(stanza, "invite")
    text = f"{_inviter(stanza, 'invite')} invited you to the room {event.room.jid}"
    xml.child(stanza, "body", text=text + (f" ({reason})" if reason else ""))


def _decline_body(event: Event) -> None:
    stanza = event.stanza
    if xml.client_child(stanza, "body") is not None:
        return
    reason = _reason(stanza, "decline")
    text = f"{_inviter(stanza, 'decline')} declined your invite to the room {event.room.jid}"
    xml.child(stanza, "body", text=text + (f" ({reason})" if reason else ""))
