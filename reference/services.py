"""What the server itself answers: iqs to the server host and to accounts' bare JIDs.

Server host: service discovery (XEP-0030) listing the components, ping
(XEP-0199), software version (XEP-0092, without the OS, like Prosody's
`hide_os_type`) and the legacy session establishment. Account bare JIDs (RFC 6121
section 10.5.3, the server answers on the account's behalf): the roster, ping,
disco#info with the `account/registered` identity and an empty vcard-temp
vCard, as Prosody does; personal eventing (pubsub, vCard4) is not kept, and
other users are refused as Prosody refuses those without a presence
subscription. Everything else gets `service-unavailable`.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import version
from typing import TYPE_CHECKING

from lxml import etree

from protocol import namespaces as ns
from protocol.jid import bare_of
from reference import roster, wire
from reference.contact_info import contact_form

if TYPE_CHECKING:
    from reference.router import Hub

VERSION = "jabber:iq:version"
SOFTWARE_NAME = "scansion-py reference server"
OFFLINE = "msgoffline"
_INFO_QUERY = f"{{{ns.DISCO_INFO}}}query"
_ITEMS_QUERY = f"{{{ns.DISCO_ITEMS}}}query"
_PING = f"{{{ns.PING}}}ping"
_SESSION = f"{{{ns.SESSION}}}session"
_ROSTER_QUERY = f"{{{ns.ROSTER}}}query"
_VERSION_QUERY = f"{{{VERSION}}}query"
VCARD_TEMP = "vcard-temp"
_VCARD = f"{{{VCARD_TEMP}}}vCard"
_PEP_PAYLOADS = frozenset(
    {"{http://jabber.org/protocol/pubsub}pubsub", "{urn:ietf:params:xml:ns:vcard-4.0}vcard"}
)

SERVER_FEATURES = (
    ns.DISCO_INFO,
    ns.DISCO_ITEMS,
    ns.PING,
    VERSION,
    ns.ROSTER,
    OFFLINE,
    "urn:xmpp:features:rosterver",
    "urn:xmpp:features:pre-approval",
)


class ServerServices:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def server_iq(self, iq: etree._Element) -> None:
        kind = iq.get("type")
        if kind not in ("get", "set"):
            return
        payload = iq[0]
        tag = payload.tag
        if (tag, kind) in ((_PING, "get"), (_SESSION, "set")):
            self._reply(iq)
        elif tag == _VERSION_QUERY and kind == "get":
            self._reply(iq, _software_version())
        elif tag == _INFO_QUERY and kind == "get" and payload.get("node") is None:
            self._reply(iq, self._server_info())
        elif tag == _ITEMS_QUERY and kind == "get" and payload.get("node") is None:
            self._reply(iq, self._server_items())
        elif tag in (_INFO_QUERY, _ITEMS_QUERY) and kind == "get":
            self.hub.bounce(iq, "cancel", "item-not-found")
        else:
            self.hub.bounce(iq, "cancel", "service-unavailable")

    def account_iq(self, iq: etree._Element, bare: str) -> None:
        kind = iq.get("type")
        if kind not in ("get", "set"):
            return
        local = bare.partition("@")[0]
        payload = iq[0]
        if payload.tag == _ROSTER_QUERY:
            roster.handle_iq(self.hub, iq, bare)
        elif (payload.tag, kind) in ((_SESSION, "set"), (_PING, "get")):
            self._reply(iq)
        elif (
            payload.tag == _INFO_QUERY
            and kind == "get"
            and payload.get("node") is None
            and self.hub.accounts.exists(local)
        ):
            self._reply(iq, self._account_info())
        elif payload.tag == _VCARD and kind == "get":
            # No vCard is ever stored here: everyone's is empty (Prosody's vcard_legacy).
            self._reply(iq, etree.Element(_VCARD, nsmap={None: VCARD_TEMP}))
        elif payload.tag in _PEP_PAYLOADS and bare_of(iq.get("from", "")) != bare:
            self.hub.bounce(iq, "auth", "forbidden")
        else:
            self.hub.bounce(iq, "cancel", "service-unavailable")

    def _reply(self, iq: etree._Element, payload: etree._Element | None = None) -> None:
        reply = wire.result_reply(iq)
        if payload is not None:
            reply.append(payload)
        self.hub.route(reply)

    def _server_info(self) -> etree._Element:
        query = etree.Element(_INFO_QUERY, nsmap={None: ns.DISCO_INFO})
        etree.SubElement(
            query,
            f"{{{ns.DISCO_INFO}}}identity",
            category="server",
            type="im",
            name=SOFTWARE_NAME,
        )
        for feature in SERVER_FEATURES:
            etree.SubElement(query, f"{{{ns.DISCO_INFO}}}feature", var=feature)
        query.append(contact_form(self.hub.config.contact_info))
        return query

    def _server_items(self) -> etree._Element:
        query = etree.Element(_ITEMS_QUERY, nsmap={None: ns.DISCO_ITEMS})
        for host in sorted(self.hub.components):
            etree.SubElement(query, f"{{{ns.DISCO_ITEMS}}}item", jid=host)
        return query

    def _account_info(self) -> etree._Element:
        query = etree.Element(_INFO_QUERY, nsmap={None: ns.DISCO_INFO})
        etree.SubElement(
            query, f"{{{ns.DISCO_INFO}}}identity", category="account", type="registered"
        )
        etree.SubElement(query, f"{{{ns.DISCO_INFO}}}feature", var=ns.DISCO_INFO)
        return query


def _software_version() -> etree._Element:
    query = etree.Element(_VERSION_QUERY, nsmap={None: VERSION})
    etree.SubElement(query, f"{{{VERSION}}}name").text = SOFTWARE_NAME
    etree.SubElement(query, f"{{{VERSION}}}version").text = _distribution_version()
    return query


@cache
def _distribution_version() -> str:
    """The installed scansion-py's version: the reference server ships with the harness."""
    return version("scansion-py")
