"""The server's switchboard: who is connected, and where each stanza goes.

Routing follows Prosody's semantics (RFC 6121 as Prosody implements it): a
message to a bare JID goes to the highest-priority available resources (or
offline storage), an iq to a bare JID is answered by the server on the
account's behalf, presence without `to` is broadcast, and anything for a
component's host goes to that component. `Hub` also implements the component
`Router` protocol.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from lxml import etree

from protocol.jid import JID, split_jid
from reference import wire
from reference.accounts import Accounts
from reference.config import ServerConfig
from reference.limits import AuthFailures, Tally
from reference.offline import OfflineStore
from reference.presence import PresenceHandler, forget_directed
from reference.roster import RosterStore
from reference.services import ServerServices

if TYPE_CHECKING:
    from reference.c2s import ClientSession
    from reference.component import Component

log = logging.getLogger("reference.router")

_MESSAGE = wire.CLIENT_TAG["message"]
_PRESENCE = wire.CLIENT_TAG["presence"]
_IQ = wire.CLIENT_TAG["iq"]
_IQ_TYPES = frozenset({"get", "set", "result", "error"})


class Hub:
    """Sessions, components and routing for one server instance."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.domain = config.domain.lower()
        self.accounts = Accounts(config.accounts)
        self.log_stanzas = config.log_stanzas
        self.connections: set[ClientSession] = set()  # every open socket
        self.sessions: dict[str, ClientSession] = {}  # full JID -> bound session
        self.users: dict[str, dict[str, ClientSession]] = {}  # bare JID -> full JID -> session
        self.components: dict[str, Component] = {}
        self.rosters = RosterStore()
        self.offline = OfflineStore(self.domain)
        self.presence = PresenceHandler(self)
        self.services = ServerServices(self)
        self.tally = Tally(log)
        self.auth_failures = AuthFailures(
            config.auth_failures_per_address, config.auth_failure_window, self.tally
        )
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle ------------------------------------------------------------

    def add_component(self, component: Component) -> None:
        self.components[component.host.lower()] = component
        component.attach(self)

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run a background step of a session, keeping a reference until it ends."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def connection_opened(self, session: ClientSession) -> None:
        self.connections.add(session)

    def connection_closed(self, session: ClientSession, reason: str) -> None:
        """The stream ended (the socket may linger a moment): unbind the session."""
        full = session.full_jid
        if full is None or self.sessions.get(full) is not session:
            return
        self.presence.session_ended(session)
        del self.sessions[full]
        resources = self.users[session.bare_jid]  # type: ignore[index]
        del resources[full]
        if not resources:
            del self.users[session.bare_jid]  # type: ignore[arg-type]
        log.debug("%s unbound (%s)", full, reason)

    def bind(self, session: ClientSession) -> None:
        """Register a bound session; an existing session with the same full JID is replaced."""
        full = session.full_jid
        assert full is not None and session.bare_jid is not None
        old = self.sessions.get(full)
        if old is not None:
            old.fail("conflict", "Replaced by new connection")
        self.sessions[full] = session
        self.users.setdefault(session.bare_jid, {})[full] = session

    def shutdown(self) -> None:
        for session in list(self.connections):
            if session.closed:
                session.transport.abort()  # type: ignore[union-attr]
            else:
                session.fail("system-shutdown", linger=False)
        for task in list(self._tasks):
            task.cancel()
        for component in self.components.values():
            component.close()

    # -- stanzas from clients ---------------------------------------------------

    def client_stanza(self, session: ClientSession, stanza: etree._Element) -> None:
        """A stanza from a bound client: stamp `from`, then route it."""
        stanza.set("from", session.full_jid)  # type: ignore[arg-type]
        if wire.XML_LANG not in stanza.attrib:  # as Prosody does: rooms take their language from it
            stanza.set(wire.XML_LANG, session.lang)
        tag = stanza.tag
        if tag == _PRESENCE:
            self.presence.outbound(session, stanza)
            return
        if tag == _IQ and not self._valid_iq(stanza):
            return
        to = stanza.get("to")
        if to is None:
            if tag == _IQ:
                self.services.account_iq(stanza, session.bare_jid)  # type: ignore[arg-type]
            else:
                self.message_to_bare(stanza, session.bare_jid)  # type: ignore[arg-type]
            return
        jid = split_jid(to)
        if jid is None:
            self.bounce(stanza, "modify", "jid-malformed")
            return
        if jid.full != to:
            stanza.set("to", jid.full)  # prepared, as the addressee and its errors name it
        self.deliver(stanza, jid)

    def _valid_iq(self, iq: etree._Element) -> bool:
        kind = iq.get("type")
        if kind not in _IQ_TYPES or iq.get("id") is None:
            self.bounce(iq, "modify", "bad-request", "iq needs an id and a valid type")
            return False
        if kind in ("get", "set") and len(iq) != 1:
            self.bounce(iq, "modify", "bad-request", "iq get/set needs exactly one child")
            return False
        return True

    # -- the Router protocol (components) ----------------------------------------

    def route(self, stanza: etree._Element) -> None:
        to = stanza.get("to")
        jid = split_jid(to) if to is not None else None
        if jid is None:
            log.warning("dropped a stanza with a missing or invalid 'to': %r", to)
            return
        self.deliver(stanza, jid)

    def route_copies(self, stanza: etree._Element, recipients: Iterable[str]) -> None:
        rendered = wire.Readdressable(stanza)
        sessions = self.sessions
        gone = stanza.get("type") == "unavailable"
        for recipient in recipients:
            session = sessions.get(recipient)
            if session is not None:
                if gone:  # e.g. our own occupant JID: kicked, renamed, left
                    forget_directed(session, stanza)
                session.send(rendered.with_to(session.to_attribute))
            else:  # offline, not normalised, or not a client: the general path, on a copy
                self.route(rendered.addressed(recipient))

    def route_rendered(self, rendered: Sequence[wire.Readdressable], recipient: str) -> None:
        """Deliver stanzas serialised beforehand to one JID, in order.

        A bound session gets them in one write (a MUC occupant list: one write,
        not one per occupant); anyone else gets each through the general path,
        as `route_copies` does."""
        if not rendered:
            return
        session = self.sessions.get(recipient)
        if session is not None:
            fragment = session.to_attribute
            session.send(b"".join([each.with_to(fragment) for each in rendered]))
            return
        for each in rendered:
            self.route(each.addressed(recipient))

    # -- delivery -------------------------------------------------------------

    def deliver(self, stanza: etree._Element, jid: JID) -> None:
        """Deliver a stanza whose `from` is trustworthy to the entity `jid` names."""
        if jid.domain == self.domain:
            if not jid.local:
                self._to_server(stanza)
            elif not jid.resource:
                self._to_bare(stanza, jid.bare)
            else:
                self._to_full(stanza, jid)
            return
        component = self.components.get(jid.domain)
        if component is not None:
            component.handle(stanza)
        else:
            # No server-to-server links: answered as Prosody does with s2s disabled.
            self.bounce(
                stanza, "cancel", "not-allowed", "Communication with remote domains is not enabled"
            )

    def _to_server(self, stanza: etree._Element) -> None:
        tag = stanza.tag
        if tag == _IQ:
            self.services.server_iq(stanza)
        elif tag == _PRESENCE:
            self.presence.to_server(stanza)
        # A message to the server itself has no reader here: dropped, as Prosody does.

    def _to_bare(self, stanza: etree._Element, bare: str) -> None:
        tag = stanza.tag
        if tag == _MESSAGE:
            self.message_to_bare(stanza, bare)
        elif tag == _PRESENCE:
            self.presence.inbound_bare(stanza, bare)
        else:
            self.services.account_iq(stanza, bare)

    def _to_full(self, stanza: etree._Element, jid: JID) -> None:
        full = jid.full
        session = self.sessions.get(full)
        tag = stanza.tag
        if tag == _PRESENCE:
            self.presence.inbound_full(stanza, jid, session)
        elif session is not None:
            session.send(wire.serialise(stanza))
        elif tag == _MESSAGE:
            self.message_to_bare(stanza, jid.bare)
        else:
            self.bounce(stanza, "cancel", "service-unavailable")

    def message_to_bare(self, stanza: etree._Element, bare: str) -> None:
        """Prosody's rules for a message to an account (or to an offline resource)."""
        kind = stanza.get("type")
        if kind == "error":
            return
        resources = self.users.get(bare)
        local = bare.partition("@")[0]
        if kind == "groupchat":
            self.bounce(stanza, "cancel", "service-unavailable")
            return
        if kind == "headline":
            if resources and stanza.get("to") == bare:
                data = wire.serialise(stanza)
                for session in resources.values():
                    if session.presence is not None and session.priority >= 0:
                        session.send(data)
            return
        top = self.top_resources(bare) if resources else []
        if top:
            data = wire.serialise(stanza)
            for session in top:
                session.send(data)
        elif not (self.accounts.exists(local) and self.offline.store(bare, stanza)):
            self.bounce(stanza, "cancel", "service-unavailable")

    def top_resources(self, bare: str) -> list[ClientSession]:
        """Available resources with the highest non-negative priority."""
        best: list[ClientSession] = []
        best_priority = 0
        for session in self.users.get(bare, {}).values():
            if session.presence is None or session.priority < 0:
                continue
            if not best or session.priority > best_priority:
                best, best_priority = [session], session.priority
            elif session.priority == best_priority:
                best.append(session)
        return best

    def available_sessions(self, bare: str) -> list[ClientSession]:
        return [s for s in self.users.get(bare, {}).values() if s.presence is not None]

    def bounce(
        self, stanza: etree._Element, error_type: str, condition: str, text: str | None = None
    ) -> None:
        """Answer a stanza with an error, never an error or a result.

        Delivered on the next loop turn: a component that routed the stanza
        gets the error through `handle` after its own call has returned."""
        kind = stanza.get("type")
        if kind == "error" or (kind == "result" and stanza.tag == _IQ):
            return
        if stanza.get("from") is None:
            return
        reply = wire.error_reply(stanza, error_type, condition, text)
        asyncio.get_running_loop().call_soon(self.route, reply)

    def send_to_bare_owner(self, bare: str, stanza: etree._Element) -> None:
        """Deliver to every available resource of an account."""
        sessions = self.available_sessions(bare)
        if sessions:
            data = wire.serialise(stanza)
            for session in sessions:
                session.send(data)
