"""Discovery of the service itself: its identity, features, contact addresses and room list.

As Prosody's: the server's XEP-0157 contact form is part of the service's
disco#info too, and the ad-hoc command nodes describe themselves.
"""

from __future__ import annotations

import secrets
import string

from reference.contact_info import contact_form
from reference.muc import xml
from reference.muc.features.adhoc import COMMANDS, command_items, node_info
from reference.muc.hooks import Event, Hooks

UNIQUE = "http://jabber.org/protocol/muc#unique"
FEATURES = (
    UNIQUE,
    COMMANDS,
    "urn:xmpp:mam:2",
    xml.DISCO_INFO,
    xml.DISCO_ITEMS,
    "urn:xmpp:occupant-id:0",
    xml.MUC,
)
_UNIQUE_ALPHABET = string.ascii_lowercase + string.digits + "-_"


def register(hooks: Hooks) -> None:
    hooks.on(f"iq-get/host/{xml.DISCO_INFO}:query", _info)
    hooks.on(f"iq-get/host/{xml.DISCO_ITEMS}:query", _items)
    hooks.on(f"iq-get/host/{UNIQUE}:unique", _unique)


def _info(event: Event) -> bool:
    service, stanza = event.service, event.stanza
    request = xml.first_child(stanza)
    node = request.get("node") if request is not None else None
    if node:
        node_info(service, stanza, node)
        return True
    answer = xml.reply(stanza)
    query = xml.child(answer, "query", xml.DISCO_INFO)
    xml.child(
        query,
        "identity",
        attrs={"category": "conference", "type": "text", "name": "Prosody Chatrooms"},
    )
    for var in FEATURES:
        xml.child(query, "feature", attrs={"var": var})
    query.append(contact_form(service.contact_info))
    service.route(answer)
    return True


def _items(event: Event) -> bool:
    service, stanza = event.service, event.stanza
    request = xml.first_child(stanza)
    node = request.get("node") if request is not None else None
    answer = xml.reply(stanza)
    query = xml.child(answer, "query", xml.DISCO_ITEMS, {"node": node})
    if node == COMMANDS:
        command_items(service, stanza, query)
    elif node:
        service.route(xml.error_reply(stanza, "cancel", "item-not-found"))
        return True
    else:
        for jid, name in sorted(service.public_rooms.items()):
            xml.child(query, "item", attrs={"jid": jid, "name": name or None})
    service.route(answer)
    return True


def _unique(event: Event) -> bool:
    answer = xml.reply(event.stanza)
    name = "".join(secrets.choice(_UNIQUE_ALPHABET) for _ in range(24))
    xml.child(answer, "unique", UNIQUE, text=name)
    event.service.route(answer)
    return True
