"""A recording router and stanza helpers for driving the MUC service without a server."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from lxml import etree

from reference.muc import MUCService
from reference.wire import Readdressable

CLIENT = "jabber:client"
MUC = "http://jabber.org/protocol/muc"
MUC_USER = "http://jabber.org/protocol/muc#user"
HOST = "conference.localhost"


class RecordingRouter:
    """Keeps every stanza the service sends, one entry per recipient, serialised at once."""

    def __init__(self) -> None:
        self.sent: list[etree._Element] = []
        self.broadcasts = 0

    def route(self, stanza: etree._Element) -> None:
        self.sent.append(etree.fromstring(etree.tostring(stanza)))

    def route_copies(self, stanza: etree._Element, recipients: Iterable[str]) -> None:
        self.broadcasts += 1
        data = etree.tostring(stanza)
        for jid in recipients:
            copy = etree.fromstring(data)
            copy.set("to", jid)
            self.sent.append(copy)

    def route_rendered(self, rendered: Sequence[Readdressable], recipient: str) -> None:
        for each in rendered:
            self.route(each.addressed(recipient))

    def take(self) -> list[etree._Element]:
        sent, self.sent = self.sent, []
        return sent

    def to(self, jid: str) -> list[etree._Element]:
        return [s for s in self.sent if s.get("to") == jid]


def stanza(text: str) -> etree._Element:
    """Parse a stanza written without a namespace, as a client's stream would give it."""
    wrapper = etree.fromstring(f"<stream xmlns='{CLIENT}'>{text}</stream>")
    element = wrapper[0]
    wrapper.remove(element)
    return element


def service(
    admins: frozenset[str] = frozenset({"admin@localhost"}), database: Path | None = None
) -> tuple[MUCService, RecordingRouter]:
    router = RecordingRouter()
    muc = MUCService(HOST, admins, database)
    muc.attach(router)
    return muc, router


def join(muc: MUCService, real: str, room: str, nick: str, extra: str = "") -> None:
    muc.handle(
        stanza(
            f"<presence from='{real}' to='{room}@{HOST}/{nick}'>"
            f"<x xmlns='{MUC}'>{extra}</x></presence>"
        )
    )


def configure(muc: MUCService, real: str, room: str, fields: dict[str, str] | None = None) -> None:
    body = "".join(
        f"<field var='{k}'><value>{v}</value></field>" for k, v in (fields or {}).items()
    )
    if body:
        body = (
            "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>"
            + body
        )
    muc.handle(
        stanza(
            f"<iq from='{real}' to='{room}@{HOST}' type='set' id='cfg'>"
            "<query xmlns='http://jabber.org/protocol/muc#owner'>"
            f"<x xmlns='jabber:x:data' type='submit'>{body}</x></query></iq>"
        )
    )


def statuses(element: etree._Element) -> list[str]:
    return [s.get("code", "") for s in element.iter(f"{{{MUC_USER}}}status")]


def groupchat(muc: MUCService, real: str, room: str, body: str) -> None:
    to = f"{room}@{HOST}"
    muc.handle(
        stanza(f"<message from='{real}' to='{to}' type='groupchat'><body>{body}</body></message>")
    )
