"""Ad-hoc commands (XEP-0050) for service admins: destroy rooms, set an affiliation."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from lxml import etree

from reference.muc import xml
from reference.muc.authority import destroy, set_affiliation
from reference.muc.forms import Field, Form, Option
from reference.muc.hooks import Event, Hooks

if TYPE_CHECKING:
    from reference.muc.service import MUCService

COMMANDS = xml.COMMANDS
DESTROY = "http://prosody.im/protocol/muc#destroy"
SET_AFFILIATION = "http://prosody.im/protocol/muc#set-affiliation"
DENIED = "You don't have permission to execute this command"

Outcome = tuple[str, str, str]  # status, note type, note text


def register(hooks: Hooks) -> None:
    hooks.on(f"iq-set/host/{COMMANDS}:command", _execute)


def command_items(service: MUCService, stanza: etree._Element, query: etree._Element) -> None:
    if not service.is_admin(stanza.get("from", "")):
        return
    for node, (name, _, _) in _COMMANDS.items():
        xml.child(query, "item", attrs={"jid": service.host, "name": name, "node": node})


def node_info(service: MUCService, stanza: etree._Element, node: str) -> None:
    """disco#info on the command list or on one command (which only admins may see)."""
    answer = xml.reply(stanza)
    query = xml.child(answer, "query", xml.DISCO_INFO, {"node": node})
    if node == COMMANDS:
        _identity(query, "command-list", "Ad-Hoc Commands")
    elif node not in _COMMANDS:
        answer = xml.error_reply(stanza, "cancel", "item-not-found")
    elif not service.is_admin(stanza.get("from", "")):
        answer = xml.error_reply(stanza, "auth", "forbidden", "This item is not available to you")
    else:
        _identity(query, "command-node", _COMMANDS[node][0])
        xml.child(query, "feature", attrs={"var": COMMANDS})
        xml.child(query, "feature", attrs={"var": xml.DATA_FORMS})
    service.route(answer)


def _identity(query: etree._Element, kind: str, name: str) -> None:
    xml.child(query, "identity", attrs={"category": "automation", "type": kind, "name": name})


def _destroy_layout(service: MUCService) -> Form:
    form = Form(title="Destroy rooms", instructions="Select the rooms to destroy")
    form.add(Field("FORM_TYPE", "hidden", value=DESTROY))
    form.add(
        Field(
            "rooms",
            "list-multi",
            "Rooms to destroy:",
            required=True,
            options=[Option(room.jid, room.jid) for room in service.all_rooms()],
        )
    )
    return form


def _destroy_rooms(service: MUCService, values: dict[str, object], actor: str) -> Outcome:
    rooms = values.get("rooms")
    if not isinstance(rooms, list) or not rooms:
        return "completed", "error", "rooms: Required value missing"
    destroyed = []
    for jid in rooms:
        room = service.get_room(jid)
        if room is not None and destroy(room):
            destroyed.append(room.jid)
    return "completed", "info", "The following rooms were destroyed:\n" + "\n".join(destroyed)


def _affiliation_layout(service: MUCService) -> Form:
    form = Form(title="Set affiliation")
    form.add(Field("FORM_TYPE", "hidden", value=SET_AFFILIATION))
    form.add(Field("room", "jid-single", "Room", required=True))
    form.add(Field("jid", "jid-single", "JID", required=True))
    form.add(
        Field(
            "affiliation",
            "list-single",
            "Affiliation",
            required=True,
            options=[Option(a, a) for a in ("owner", "admin", "member", "none", "outcast")],
        )
    )
    form.add(Field("reason", "text-single"))
    return form


def _set_affiliation(service: MUCService, values: dict[str, object], actor: str) -> Outcome:
    missing = [name for name in ("room", "jid", "affiliation") if not values.get(name)]
    if missing:
        return "completed", "error", "\n".join(f"{n}: Required value missing" for n in missing)
    room = service.get_room(str(values["room"]))
    if room is None:
        return "canceled", "error", "No such room"
    reason = values.get("reason")
    ok, error_type, condition = set_affiliation(
        room,
        None,
        str(values["jid"]),
        str(values["affiliation"]),
        reason if isinstance(reason, str) else None,
    )
    if not ok:
        return "canceled", "error", f"Affiliation change failed: {error_type}:{condition}"
    return "completed", "info", "Affiliation updated"


Layout = Callable[["MUCService"], Form]
Handler = Callable[["MUCService", dict[str, object], str], Outcome]
_COMMANDS: dict[str, tuple[str, Layout, Handler]] = {
    DESTROY: ("Destroy Rooms", _destroy_layout, _destroy_rooms),
    SET_AFFILIATION: ("Set affiliation in room", _affiliation_layout, _set_affiliation),
}


def _execute(event: Event) -> bool:
    service, stanza = event.service, event.stanza
    request = xml.first_child(stanza)
    assert request is not None
    node = request.get("node", "")
    if node not in _COMMANDS:
        service.route(xml.error_reply(stanza, "cancel", "service-unavailable"))
        return True
    if not service.is_admin(stanza.get("from", "")):
        error = xml.error_reply(stanza, "auth", "forbidden", DENIED)
        command = xml.child(error, "command", COMMANDS, {"status": "canceled", "node": node})
        xml.child(command, "note", attrs={"type": "error"}, text=DENIED)
        service.route(error)
        return True
    _, layout, handler = _COMMANDS[node]
    answer = xml.reply(stanza)
    session = request.get("sessionid") or str(uuid.uuid4())
    command = xml.child(answer, "command", COMMANDS, {"node": node, "sessionid": session})
    submitted = xml.find(request, "x", xml.DATA_FORMS)
    if request.get("action") == "cancel":
        command.set("status", "canceled")
    elif submitted is None:
        command.set("status", "executing")
        actions = xml.child(command, "actions", attrs={"execute": "complete"})
        xml.child(actions, "next")
        xml.child(actions, "complete")
        command.append(layout(service).render())
    else:
        values, _ = layout(service).read(submitted)
        status, note_type, text = handler(service, values, stanza.get("from", ""))
        command.set("status", status)
        xml.child(command, "note", attrs={"type": note_type}, text=text)
    service.route(answer)
    return True
