"""Password-protected rooms: joining needs `<password/>` in the join presence."""

from __future__ import annotations

from reference.muc import xml
from reference.muc.forms import Field
from reference.muc.hooks import Event, Hooks
from reference.muc.room import Room

FIELD = "muc#roomconfig_roomsecret"


def register(hooks: Hooks) -> None:
    hooks.on("muc-disco#info", _disco)
    hooks.on("muc-config-form", _form, 90 - 2)
    hooks.on(f"muc-config-submitted/{FIELD}", _submitted)
    hooks.on("muc-occupant-pre-join", _check, -20)
    hooks.on("muc-invite", _add_to_invite)
    hooks.on("muc-room-pre-create", _from_creator)


def get(room: Room) -> str | None:
    return room.data.get("password")


def set_password(room: Room, password: str | None) -> bool:
    password = password or None
    if get(room) == password:
        return False
    if password is None:
        room.data.pop("password", None)
    else:
        room.data["password"] = password
    return True


def _disco(event: Event) -> None:
    var = "muc_passwordprotected" if get(event.room) else "muc_unsecured"
    xml.child(event.reply, "feature", attrs={"var": var})


def _form(event: Event) -> None:
    event.form.add(Field(FIELD, "text-private", "Password", value=get(event.room) or ""))


def _submitted(event: Event) -> None:
    if set_password(event.room, event.value):
        event.status_codes.add("104")


def _check(event: Event) -> bool | None:
    room = event.room
    expected = get(room)
    muc_x = xml.find(event.stanza, "x", xml.MUC)
    if expected is None or muc_x is None:
        return None
    given = xml.find_text(muc_x, "password", xml.MUC) or None
    if given == expected:
        return None
    room.route(xml.error_reply(event.stanza, "auth", "not-authorized", by=room.jid))
    return True


def _add_to_invite(event: Event) -> None:
    password = get(event.room)
    if password is not None:
        x = xml.find(event.stanza, "x", xml.MUC_USER)
        if x is not None:
            xml.child(x, "password", text=password)


def _from_creator(event: Event) -> None:
    muc_x = xml.find(event.stanza, "x", xml.MUC)
    if muc_x is not None:
        set_password(event.room, xml.find_text(muc_x, "password", xml.MUC))
