"""How services plug into the reference server: a host name plus a handler.

The MUC service registers `conference.localhost` this way. The server's router
hands a component every stanza addressed to its host or to a JID at its host,
with `from` already set to the sender's verified full JID, and gives the
component a `Router` to send stanzas out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

from lxml import etree

if TYPE_CHECKING:
    from reference.wire import Readdressable


class Router(Protocol):
    """What a component may ask of the server."""

    def route(self, stanza: etree._Element) -> None:
        """Deliver a stanza that has `from` and `to` set: to a local session, a
        component, or back to the sender as an error when nobody is there."""

    def route_copies(self, stanza: etree._Element, recipients: Iterable[str]) -> None:
        """Deliver one stanza to many JIDs, each copy differing only in `to`.

        The server serialises the stanza once and writes the bytes per recipient,
        so a MUC broadcast costs one serialisation, not one per occupant."""

    def route_rendered(self, rendered: Sequence[Readdressable], recipient: str) -> None:
        """Deliver stanzas serialised beforehand to one JID, in order, in one write
        where possible (a MUC's occupant list sent to a joining user)."""


class Component(Protocol):
    """A service living at its own host name."""

    host: str

    def attach(self, router: Router) -> None:
        """Called once when the server starts, before any stanza is handled."""

    def handle(self, stanza: etree._Element) -> None:
        """A stanza for `host` or `something@host[/resource]`; `from` is verified."""

    def close(self) -> None:
        """Called once when the server stops (flush persistent state)."""
