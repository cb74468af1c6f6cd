"""Members-only rooms: only affiliated users get in (and may invite, if allowed).

Turning the setting on removes occupants without an affiliation (status 322);
inviting someone into such a room makes them a member.
"""

from __future__ import annotations

from reference.muc import xml
from reference.muc.authority import set_affiliation
from reference.muc.forms import Field
from reference.muc.hooks import Event, Hooks
from reference.muc.presence import muc_user_x, publicise
from reference.muc.ranks import affiliation_rank
from reference.muc.room import Room

FIELD = "muc#roomconfig_membersonly"
MEMBER_INVITES = "{http://prosody.im/protocol/muc}roomconfig_allowmemberinvites"


def register(hooks: Hooks) -> None:
    hooks.on("muc-disco#info", _disco)
    hooks.on("muc-config-form", _form, 90 - 3)
    hooks.on(f"muc-config-submitted/{FIELD}", _submitted)
    hooks.on(f"muc-config-submitted/{MEMBER_INVITES}", _submitted_invites)
    hooks.on("muc-get-default-role", _no_role_without_affiliation, 2)
    hooks.on("muc-occupant-pre-join", _require_affiliation, -5)
    hooks.on("muc-pre-invite", _may_invite)
    hooks.on("muc-invite", _invitee_becomes_member)


def get(room: Room) -> bool:
    return bool(room.data.get("members_only"))


def member_invites(room: Room) -> bool:
    return bool(room.data.get("allow_member_invites"))


def set_members_only(room: Room, members_only: bool | None) -> bool:
    if get(room) == bool(members_only):
        return False
    if not members_only:
        room.data.pop("members_only", None)
        return True
    room.data["members_only"] = True
    removed = []
    for occupant in list(room.occupants.values()):
        if affiliation_rank(room.get_affiliation(occupant.bare_jid)) <= 0:
            occupant.role = None
            room.save_occupant(occupant)
            removed.append(occupant)
    x = muc_user_x()
    xml.child(x, "status", attrs={"code": "322"})
    for occupant in removed:
        publicise(room, occupant, x)
        room.hooks.fire("muc-occupant-left", Event(room=room, occupant=occupant))
    return True


def _disco(event: Event) -> None:
    room = event.room
    xml.child(event.reply, "feature", attrs={"var": "muc_membersonly" if get(room) else "muc_open"})
    event.form.add(
        Field(
            MEMBER_INVITES,
            "boolean",
            "Allow members to invite new members",
            value=member_invites(room),
        )
    )
    event.form.add(
        Field(
            "muc#roomconfig_allowinvites",
            "boolean",
            "Allow users to invite other users",
            value=not get(room) or member_invites(room),
        )
    )


def _form(event: Event) -> None:
    room = event.room
    event.form.add(
        Field(
            FIELD,
            "boolean",
            "Only allow members to join",
            "Enable this to only allow access for room owners, admins and members",
            value=room.data.get("members_only"),
        )
    )
    event.form.add(
        Field(
            MEMBER_INVITES,
            "boolean",
            "Allow members to invite new members",
            value=room.data.get("allow_member_invites"),
        )
    )


def _submitted(event: Event) -> None:
    if set_members_only(event.room, event.value):
        event.status_codes.add("104")


def _submitted_invites(event: Event) -> None:
    room = event.room
    if member_invites(room) != bool(event.value):
        if event.value:
            room.data["allow_member_invites"] = True
        else:
            room.data.pop("allow_member_invites", None)
        event.status_codes.add("104")


def _no_role_without_affiliation(event: Event) -> bool | None:
    if event.affiliation is None and get(event.room):
        return False
    return None


def _require_affiliation(event: Event) -> bool | None:
    room = event.room
    if not get(room) or affiliation_rank(room.get_affiliation(event.stanza.get("from"))) > 0:
        return None
    room.route(xml.error_reply(event.stanza, "auth", "registration-required", by=room.jid))
    return True


def _may_invite(event: Event) -> bool | None:
    room = event.room
    if not get(room):
        return None
    required = "member" if member_invites(room) else "admin"
    if affiliation_rank(room.get_affiliation(event.stanza.get("from"))) >= affiliation_rank(
        required
    ):
        return None
    room.route(xml.error_reply(event.stanza, "auth", "forbidden", by=room.jid))
    return True


def _invitee_becomes_member(event: Event) -> None:
    room = event.room
    invitee = event.stanza.get("to", "")
    if not get(room) or affiliation_rank(room.get_affiliation(invitee)) > 0:
        return
    invite = event.stanza.find(f"{{{xml.MUC_USER}}}x/{{{xml.MUC_USER}}}invite")
    inviter = invite.get("from", "") if invite is not None else ""
    set_affiliation(room, None, invitee, "member", "Invited by " + inviter)
    room.save()
