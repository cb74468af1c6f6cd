"""Rosters and subscription states (RFC 6121), with Prosody's state transitions.

The transitions mirror Prosody 0.12.3's rostermanager so the corpus scripts see
the same pushes: the version starts unset (reported as "1") and each change
bumps it; pre-approvals (RFC 6121 section 3.4) are kept on the item; incoming
subscription requests keep the whole presence stanza (XEP-0379 tokens).
"""

from __future__ import annotations

import copy
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lxml import etree

from protocol import namespaces as ns
from protocol.jid import split_jid
from reference import wire

if TYPE_CHECKING:
    from reference.router import Hub

_QUERY = f"{{{ns.ROSTER}}}query"
_ITEM = f"{{{ns.ROSTER}}}item"
_GROUP = f"{{{ns.ROSTER}}}group"


@dataclass
class RosterItem:
    subscription: str = "none"
    ask: str | None = None
    name: str | None = None
    groups: list[str] = field(default_factory=list)
    approved: bool = False


@dataclass
class Roster:
    items: dict[str, RosterItem] = field(default_factory=dict)
    pending_in: dict[str, etree._Element] = field(default_factory=dict)
    version: int | None = None

    def changed(self) -> bool:
        self.version = (self.version or 0) + 1
        return True

    @property
    def ver(self) -> str:
        return str(self.version or 1)

    def subscription(self, jid: str) -> str:
        item = self.items.get(jid)
        return item.subscription if item else "none"

    # Prosody's rostermanager transitions; each returns True when the roster changed.

    def set_pending_out(self, jid: str) -> bool:
        item = self.items.get(jid)
        if item and (item.ask or item.subscription in ("to", "both")):
            return True
        item = self.items.setdefault(jid, RosterItem())
        item.ask = "subscribe"
        return self.changed()

    def unsubscribe(self, jid: str) -> bool:
        item = self.items.get(jid)
        if item is None:
            return False
        if item.subscription in ("from", "none") and not item.ask:
            return True
        item.ask = None
        item.subscription = {"both": "from", "to": "none"}.get(item.subscription, item.subscription)
        return self.changed()

    def subscribed(self, jid: str) -> bool:
        item = self.items.get(jid)
        if jid in self.pending_in:
            item = self.items.setdefault(jid, RosterItem())
            item.subscription = "from" if item.subscription == "none" else "both"
            del self.pending_in[jid]
            return self.changed()
        if item is None or item.subscription in ("none", "to"):
            item = self.items.setdefault(jid, RosterItem())
            item.approved = True
            return self.changed()
        return False

    def unsubscribed(self, jid: str) -> tuple[bool, bool]:
        """Returns (changed, the contact was subscribed)."""
        pending = self.pending_in.pop(jid, None) is not None
        item = self.items.get(jid)
        was_subscribed = False
        if item and item.subscription in ("from", "both"):
            item.subscription = "none" if item.subscription == "from" else "to"
            was_subscribed = True
        return (pending or was_subscribed) and self.changed(), was_subscribed

    def inbound_approval(self, jid: str) -> bool:
        item = self.items.get(jid)
        if item and item.ask:
            item.subscription = "to" if item.subscription == "none" else "both"
            item.ask = None
            return self.changed()
        return False

    def inbound_cancellation(self, jid: str) -> bool:
        item = self.items.get(jid)
        changed = False
        if item and item.ask:
            item.ask = None
            changed = True
        if item and item.subscription in ("to", "both"):
            item.subscription = "none" if item.subscription == "to" else "from"
            changed = True
        return changed and self.changed()

    def inbound_unsubscribe(self, jid: str) -> bool:
        changed = self.pending_in.pop(jid, None) is not None
        item = self.items.get(jid)
        if item and item.subscription in ("from", "both"):
            item.subscription = "none" if item.subscription == "from" else "to"
            changed = True
        return changed and self.changed()

    def set_pending_in(self, jid: str, request: etree._Element) -> bool:
        if self.subscription(jid) in ("from", "both"):
            return False
        self.pending_in[jid] = copy.deepcopy(request)
        return self.changed()


class RosterStore:
    """Every account's roster, created empty on first use."""

    def __init__(self) -> None:
        self._rosters: dict[str, Roster] = {}

    def get(self, bare: str) -> Roster:
        roster = self._rosters.get(bare)
        if roster is None:
            roster = self._rosters[bare] = Roster()
        return roster

    def peek(self, bare: str) -> Roster | None:
        return self._rosters.get(bare)


def _item_element(parent: etree._Element, jid: str, item: RosterItem | None) -> None:
    if item is None:
        etree.SubElement(parent, _ITEM, jid=jid, subscription="remove")
        return
    attrs = {"jid": jid, "subscription": item.subscription}
    if item.name is not None:
        attrs["name"] = item.name
    if item.ask:
        attrs["ask"] = item.ask
    element = etree.SubElement(parent, _ITEM, attrs)
    for group in item.groups:
        etree.SubElement(element, _GROUP).text = group


def push(hub: Hub, bare: str, jid: str) -> None:
    """Send the current state of one item to the account's resources that fetched the roster."""
    roster = hub.rosters.get(bare)
    iq = wire.make("iq", {"type": "set", "id": secrets.token_urlsafe(9)})
    query = etree.SubElement(iq, _QUERY, ver=roster.ver, nsmap={None: ns.ROSTER})
    _item_element(query, jid, roster.items.get(jid))
    data = wire.Readdressable(iq)
    for session in hub.users.get(bare, {}).values():
        if session.interested:
            session.send(data.to(session.full_jid))


def handle_iq(hub: Hub, iq: etree._Element, bare: str) -> None:
    """jabber:iq:roster get/set, only from the account itself."""
    from_jid = iq.get("from") or ""
    if split_jid(from_jid) is None or split_jid(from_jid).bare != bare:  # type: ignore[union-attr]
        hub.bounce(iq, "cancel", "service-unavailable")
        return
    roster = hub.rosters.get(bare)
    if iq.get("type") == "get":
        session = hub.sessions.get(from_jid)
        if session is not None:
            session.interested = True
        reply = wire.result_reply(iq)
        query = etree.SubElement(reply, _QUERY, ver=roster.ver, nsmap={None: ns.ROSTER})
        for jid, item in roster.items.items():
            _item_element(query, jid, item)
        hub.route(reply)
        return
    items = iq[0].findall(_ITEM)
    if len(items) != 1:
        hub.bounce(iq, "modify", "bad-request", "one item per roster set")
        return
    element = items[0]
    contact = split_jid(element.get("jid") or "")
    if contact is None or contact.resource or contact.bare == bare:
        hub.bounce(iq, "modify", "bad-request", "invalid roster item jid")
        return
    jid = contact.bare
    if element.get("subscription") == "remove":
        if jid not in roster.items:
            hub.bounce(iq, "modify", "item-not-found")
            return
        hub.presence.roster_item_removed(bare, jid, roster.items[jid])
        del roster.items[jid]
    else:
        item = roster.items.setdefault(jid, RosterItem())
        item.name = element.get("name") or None
        item.groups = list(dict.fromkeys(g.text or "" for g in element.findall(_GROUP)))
    roster.changed()
    hub.route(wire.result_reply(iq))
    push(hub, bare, jid)
