"""Presence: broadcast, directed presence, subscriptions (RFC 6121), as Prosody does it.

Modelled on Prosody 0.12.3's mod_presence, whose behaviour the corpus scripts
record: available presence is reflected to the sender and sent to the user's
other available resources; initial presence triggers probes, the other
resources' presence, pending subscription requests and offline messages; a
presence sent to a JID outside the roster (a MUC occupant JID) is remembered,
and when the session ends without `unavailable`, the server sends it.
Available presence gets XEP-0153 `<x xmlns='vcard-temp:x:update'><photo/></x>`
as Prosody's mod_vcard_legacy adds it.
"""

from __future__ import annotations

import copy
import datetime
import re
from typing import TYPE_CHECKING

from lxml import etree

from protocol import namespaces as ns
from protocol.jid import JID, bare_of, split_jid
from reference import roster as rosters
from reference import wire

if TYPE_CHECKING:
    from reference.c2s import ClientSession
    from reference.roster import RosterItem
    from reference.router import Hub

_X_UPDATE = f"{{{ns.VCARD_UPDATE}}}x"
_PHOTO = f"{{{ns.VCARD_UPDATE}}}photo"
_PRIORITY = f"{{{ns.CLIENT}}}priority"
_DELAY = f"{{{ns.DELAY}}}delay"
_PRIORITY_TEXT = re.compile(r"[+-]?[0-9]+")
_SUBSCRIPTION_TYPES = frozenset({"subscribe", "subscribed", "unsubscribe", "unsubscribed", "probe"})
_BROADCAST_TYPES = (None, "unavailable", "error")


def _decorate(stanza: etree._Element) -> None:
    update = stanza.find(_X_UPDATE)
    if update is None:
        update = etree.SubElement(stanza, _X_UPDATE, nsmap={None: ns.VCARD_UPDATE})
    elif update.find(_PHOTO) is not None:
        return
    etree.SubElement(update, _PHOTO)


def _priority(stanza: etree._Element) -> int:
    text = stanza.findtext(_PRIORITY)
    if text is None or not _PRIORITY_TEXT.fullmatch(text.strip()):
        return 0
    return max(-128, min(127, int(text)))


def _now_stamp() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def forget_directed(session: ClientSession, unavailable: etree._Element) -> None:
    """An entity that says it is gone needs no unavailable presence when the session ends.

    Keeps `directed` to what is still there: a MUC occupant JID the session was
    kicked from or renamed away from would otherwise stay until logout."""
    sender = unavailable.get("from")
    if sender is not None:
        session.directed.discard(sender)


class PresenceHandler:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    # -- from a local client ------------------------------------------------------

    def outbound(self, session: ClientSession, stanza: etree._Element) -> None:
        kind = stanza.get("type")
        if kind is None:
            _decorate(stanza)
        to = stanza.get("to")
        if to is None:
            if kind is None or kind == "unavailable":
                self._broadcast(session, stanza, kind is None)
            else:
                self.hub.bounce(stanza, "modify", "bad-request", "Invalid presence type")
            return
        jid = split_jid(to)
        if jid is None:
            self.hub.bounce(stanza, "modify", "jid-malformed")
            return
        if jid.full != to:
            stanza.set("to", jid.full)  # prepared, as the addressee and its errors name it
        if kind == "probe" and jid.resource:
            # A probe of one resource (a MUC occupant) goes as addressed, not to the account.
            self.hub.deliver(stanza, jid)
            return
        if kind not in _BROADCAST_TYPES:
            self._outbound_subscription(stanza, session.bare_jid, session.full_jid, jid.bare)  # type: ignore[arg-type]
            return
        roster = self.hub.rosters.peek(session.bare_jid)  # type: ignore[arg-type]
        if roster is None or roster.subscription(jid.bare) not in ("both", "from"):
            if kind is None:
                session.directed.add(to)
            else:
                session.directed.discard(to)
        self.hub.deliver(stanza, jid)

    def _broadcast(self, session: ClientSession, stanza: etree._Element, available: bool) -> None:
        hub = self.hub
        bare = session.bare_jid
        assert bare is not None and session.full_jid is not None
        rendered = wire.Readdressable(stanza)
        session.send(rendered.to(None))
        others = [s for s in hub.users.get(bare, {}).values() if s is not session]
        for other in others:
            if other.presence is not None:
                other.send(rendered.to(other.full_jid))
        roster = hub.rosters.peek(bare)
        if roster is not None:
            for contact, item in list(roster.items.items()):
                if item.subscription in ("both", "from"):
                    self._send_to(stanza, contact)
        if available and session.presence is None:
            self._initial_presence(session, stanza, others)
        if available:
            session.priority = _priority(stanza)
            etree.SubElement(
                stanza, _DELAY, {"from": hub.domain, "stamp": _now_stamp()}, nsmap={None: ns.DELAY}
            )
            session.presence = stanza
        else:
            session.presence = None
            session.priority = 0
            for target in list(session.directed):
                self._send_to(stanza, target)
            session.directed.clear()
        stanza.attrib.pop("to", None)

    def _initial_presence(
        self, session: ClientSession, stanza: etree._Element, others: list[ClientSession]
    ) -> None:
        hub = self.hub
        bare = session.bare_jid
        full = session.full_jid
        assert bare is not None and full is not None, "only bound sessions send presence"
        roster = hub.rosters.peek(bare)
        if roster is not None:
            for contact, item in list(roster.items.items()):
                if item.subscription in ("both", "to"):
                    probe = wire.make("presence", {"type": "probe", "from": full, "to": contact})
                    self._route(probe)
        for other in others:
            if other.presence is not None:
                data = wire.Readdressable(other.presence).to(full)
                session.send(data)
        if roster is not None:
            for contact, request in list(roster.pending_in.items()):
                resend = copy.deepcopy(request)
                resend.set("type", "subscribe")
                resend.set("from", contact)
                session.send_stanza(resend)
            for contact, item in list(roster.items.items()):
                if item.ask:
                    request = wire.make(
                        "presence", {"type": "subscribe", "from": bare, "to": contact}
                    )
                    self._route(request)
        if _priority(stanza) >= 0:
            for message in hub.offline.take(bare):
                session.send_stanza(message)

    def session_ended(self, session: ClientSession) -> None:
        """The session goes away: say so to whoever saw it available."""
        if session.presence is not None:
            unavailable = wire.make("presence", {"type": "unavailable", "from": session.full_jid})  # type: ignore[dict-item]
            self._broadcast(session, unavailable, available=False)
        elif session.directed:
            unavailable = wire.make("presence", {"type": "unavailable", "from": session.full_jid})  # type: ignore[dict-item]
            for target in list(session.directed):
                self._send_to(unavailable, target)
            session.directed.clear()

    def _outbound_subscription(
        self, stanza: etree._Element, from_bare: str, from_full: str, to_bare: str
    ) -> None:
        """A subscription presence leaving an account (sent by a client, or by the
        server for the account, as Prosody's host does for pre-approvals)."""
        hub = self.hub
        kind = stanza.get("type")
        if to_bare == from_bare:
            return
        stanza.set("from", from_bare)
        stanza.set("to", to_bare)
        roster = hub.rosters.get(from_bare)
        if kind == "probe":
            stanza.set("from", from_full)
            self._route(stanza)
        elif kind == "subscribe":
            if roster.set_pending_out(to_bare):
                rosters.push(hub, from_bare, to_bare)
            self._route(stanza)
        elif kind == "unsubscribe":
            if roster.unsubscribe(to_bare):
                rosters.push(hub, from_bare, to_bare)
            self._route(stanza)
        elif kind == "subscribed":
            if roster.subscribed(to_bare):
                rosters.push(hub, from_bare, to_bare)
            if roster.subscription(to_bare) in ("from", "both"):
                self._route(stanza)
                self._available_resources_to(from_bare, to_bare)
            if roster.subscription(to_bare) in ("to", "both"):
                self._route(
                    wire.make("presence", {"type": "probe", "from": from_bare, "to": to_bare})
                )
        elif kind == "unsubscribed":
            changed, was_subscribed = roster.unsubscribed(to_bare)
            if changed:
                if was_subscribed:
                    rosters.push(hub, from_bare, to_bare)
                self._route(stanza)
                if was_subscribed:
                    self._available_resources_to(
                        from_bare, to_bare, wire.make("presence", {"type": "unavailable"})
                    )
        else:
            hub.bounce(stanza, "modify", "bad-request", "Invalid presence type")

    # -- to a local account ---------------------------------------------------------

    def inbound_bare(self, stanza: etree._Element, bare: str) -> None:
        kind = stanza.get("type")
        if kind in _SUBSCRIPTION_TYPES:
            self._inbound_subscription(stanza, bare)
        elif kind in _BROADCAST_TYPES:
            # A bounced subscription request comes back to the bare JID; Prosody
            # answers the sending session itself, available or not, so errors
            # reach every session (the sender is one of them).
            if kind == "error":
                sessions = list(self.hub.users.get(bare, {}).values())
            else:
                sessions = self.hub.available_sessions(bare)
            if sessions:
                data = wire.serialise(stanza)
                for session in sessions:
                    session.send(data)
        else:
            self.hub.bounce(stanza, "modify", "bad-request", "Invalid presence type")

    def inbound_full(self, stanza: etree._Element, jid: JID, session: ClientSession | None) -> None:
        kind = stanza.get("type")
        if kind in _SUBSCRIPTION_TYPES:
            self._inbound_subscription(stanza, jid.bare)
        elif session is not None:
            if kind == "unavailable":
                forget_directed(session, stanza)
            session.send(wire.serialise(stanza))

    def to_server(self, stanza: etree._Element) -> None:
        kind = stanza.get("type")
        sender = stanza.get("from")
        if sender is None:
            return
        attrs = {"from": self.hub.domain, "to": bare_of(sender)}
        if (stanza_id := stanza.get("id")) is not None:
            attrs["id"] = stanza_id
        if kind == "probe":
            self._route(wire.make("presence", attrs))
        elif kind == "subscribe":
            self._route(wire.make("presence", {**attrs, "type": "subscribed"}))
            self._route(wire.make("presence", attrs))

    def _inbound_subscription(self, stanza: etree._Element, to_bare: str) -> None:
        hub = self.hub
        sender = stanza.get("from") or ""
        from_bare = bare_of(sender)
        kind = stanza.get("type")
        stanza.set("from", from_bare)
        stanza.set("to", to_bare)
        local = to_bare.partition("@")[0]
        if not hub.accounts.exists(local):
            return
        roster = hub.rosters.get(to_bare)
        subscribed = roster.subscription(from_bare) in ("from", "both")
        if kind == "probe":
            if subscribed:
                if self._available_resources_to(to_bare, sender) == 0:
                    self._route(
                        wire.make(
                            "presence", {"from": to_bare, "to": sender, "type": "unavailable"}
                        )
                    )
            else:
                self._route(
                    wire.make(
                        "presence", {"from": to_bare, "to": from_bare, "type": "unsubscribed"}
                    )
                )
        elif kind == "subscribe":
            if subscribed:
                self._route(
                    wire.make("presence", {"from": to_bare, "to": from_bare, "type": "subscribed"})
                )
                if self._available_resources_to(to_bare, from_bare) == 0:
                    self._route(
                        wire.make(
                            "presence", {"from": to_bare, "to": from_bare, "type": "unavailable"}
                        )
                    )
            elif (item := roster.items.get(from_bare)) is not None and item.approved:
                if from_bare not in roster.pending_in and roster.set_pending_in(from_bare, stanza):
                    approval = wire.make("presence", {"type": "subscribed"})
                    self._outbound_subscription(approval, to_bare, to_bare, from_bare)
            else:
                self._route(
                    wire.make("presence", {"from": to_bare, "to": from_bare, "type": "unavailable"})
                )
                if from_bare not in roster.pending_in and roster.set_pending_in(from_bare, stanza):
                    hub.send_to_bare_owner(to_bare, stanza)
        elif kind == "unsubscribe":
            if roster.inbound_unsubscribe(from_bare):
                self._send_to_interested(to_bare, stanza)
                rosters.push(hub, to_bare, from_bare)
        elif kind == "subscribed":
            if roster.inbound_approval(from_bare):
                self._send_to_interested(to_bare, stanza)
                rosters.push(hub, to_bare, from_bare)
        elif kind == "unsubscribed" and roster.inbound_cancellation(from_bare):
            self._send_to_interested(to_bare, stanza)
            rosters.push(hub, to_bare, from_bare)

    def roster_item_removed(self, bare: str, contact: str, item: RosterItem) -> None:
        """Removing a contact cancels both directions of the subscription (RFC 6121 2.5.2)."""
        roster = self.hub.rosters.get(bare)
        if item.subscription in ("both", "from") or contact in roster.pending_in:
            roster.pending_in.pop(contact, None)
            self._route(
                wire.make("presence", {"type": "unsubscribed", "from": bare, "to": contact})
            )
        if item.subscription in ("both", "to") or item.ask:
            self._available_resources_to(
                bare, contact, wire.make("presence", {"type": "unavailable"})
            )
            self._route(wire.make("presence", {"type": "unsubscribe", "from": bare, "to": contact}))

    # -- helpers -------------------------------------------------------------------

    def _available_resources_to(
        self, bare: str, to: str, replacement: etree._Element | None = None
    ) -> int:
        """Send each available resource's presence (or `replacement` from it) to `to`."""
        count = 0
        for session in self.hub.available_sessions(bare):
            presence = session.presence if replacement is None else replacement
            presence.set("from", session.full_jid)  # type: ignore[union-attr, arg-type]
            self._send_to(presence, to)  # type: ignore[arg-type]
            count += 1
        return count

    def _send_to_interested(self, bare: str, stanza: etree._Element) -> None:
        data = wire.serialise(stanza)
        for session in self.hub.users.get(bare, {}).values():
            if session.interested:
                session.send(data)

    def _send_to(self, stanza: etree._Element, to: str) -> None:
        """Route a copy of `stanza` to `to` (the recipient, a component maybe, may keep it)."""
        sent = copy.deepcopy(stanza)
        sent.set("to", to)
        self._route(sent)

    def _route(self, stanza: etree._Element) -> None:
        jid = split_jid(stanza.get("to") or "")
        if jid is not None:
            self.hub.deliver(stanza, jid)
