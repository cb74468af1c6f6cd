"""Who sees occupants' real JIDs: moderators only (semi-anonymous) or anyone.

Changing it is announced with 172 (now non-anonymous) or 173 (semi-anonymous).
"""

from __future__ import annotations

from reference.muc import xml
from reference.muc.forms import Field, Option
from reference.muc.hooks import Event, Hooks

FIELD = "muc#roomconfig_whois"


def register(hooks: Hooks) -> None:
    hooks.on("muc-disco#info", _disco)
    hooks.on("muc-config-form", _form, 80 - 4)
    hooks.on(f"muc-config-submitted/{FIELD}", _submitted)
    hooks.on("muc-invite", _hide_inviter, 50)


def _disco(event: Event) -> None:
    anonymous = event.room.whois() != "anyone"
    var = "muc_semianonymous" if anonymous else "muc_nonanonymous"
    xml.child(event.reply, "feature", attrs={"var": var})


def _form(event: Event) -> None:
    whois = event.room.whois()
    event.form.add(
        Field(
            FIELD,
            "list-single",
            "Addresses (JIDs) of room occupants may be viewed by:",
            options=[
                Option("moderators", "Moderators only", whois == "moderators"),
                Option("anyone", "Anyone", whois == "anyone"),
            ],
        )
    )


def _submitted(event: Event) -> None:
    room = event.room
    if event.value not in ("moderators", "anyone") or event.value == room.whois():
        return
    room.data["whois"] = event.value
    event.status_codes.add("173" if event.value == "moderators" else "172")


def _hide_inviter(event: Event) -> None:
    """In a semi-anonymous room a non-moderator invitee sees the inviter's nick only."""
    room = event.room
    if room.whois() != "moderators":
        return
    if room.default_role(room.get_affiliation(event.stanza.get("to", ""))) == "moderator":
        return
    invite = event.stanza.find(f"{{{xml.MUC_USER}}}x/{{{xml.MUC_USER}}}invite")
    if invite is None:
        return
    nick = room.jid_nick.get(invite.get("from", ""))
    if nick is not None:
        invite.set("from", nick)
