"""Bytes on the wire: stanza serialisation, readdressing, errors, stream framing.

A stanza going to many recipients that differ only in `to` (a MUC broadcast, a
presence broadcast) is serialised once; `Readdressable` splices each recipient's
JID into the cached bytes, so fan-out costs one `tostring` plus a concatenation
per recipient.
"""

from __future__ import annotations

import re
import secrets
from copy import deepcopy

from lxml import etree

from protocol import namespaces as ns

_MARKER = "scansion-to-" + secrets.token_hex(8)
_MARKER_ATTR = f' to="{_MARKER}"'.encode()
_NEEDS_ESCAPE = re.compile(r'[&<>"]')

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
CLIENT_TAG = {name: f"{{{ns.CLIENT}}}{name}" for name in ("message", "presence", "iq")}


def attr_bytes(value: str) -> bytes:
    """`value` escaped for a double-quoted XML attribute."""
    if _NEEDS_ESCAPE.search(value) is not None:
        value = (
            value.replace("&", "&amp;")
            .replace("<", "&lt;")
            .replace(">", "&gt;")
            .replace('"', "&quot;")
        )
    return value.encode()


def to_attribute(jid: str) -> bytes:
    """The ` to="jid"` fragment `Readdressable.with_to` splices in."""
    return b' to="' + attr_bytes(jid) + b'"'


def serialise(stanza: etree._Element) -> bytes:
    return etree.tostring(stanza)


class Readdressable:
    """One serialisation of a stanza, renderable with any `to` (or none).

    It keeps the stanza for recipients that need an element rather than bytes
    (offline, a component): the stanza must not change while this is in use."""

    __slots__ = ("_head", "_tail", "stanza")

    def __init__(self, stanza: etree._Element) -> None:
        original = stanza.get("to")
        stanza.set("to", _MARKER)
        data = etree.tostring(stanza)
        if original is None:
            del stanza.attrib["to"]
        else:
            stanza.set("to", original)
        head, _, tail = data.partition(_MARKER_ATTR)
        self._head = head
        self._tail = tail
        self.stanza = stanza

    def to(self, jid: str | None) -> bytes:
        if jid is None:
            return self._head + self._tail
        return b"".join((self._head, to_attribute(jid), self._tail))

    def with_to(self, fragment: bytes) -> bytes:
        """The stanza with a precomputed `to_attribute` (a session keeps its own)."""
        return b"".join((self._head, fragment, self._tail))

    def addressed(self, jid: str) -> etree._Element:
        """A copy of the stanza as an element, sent to `jid`."""
        copy = deepcopy(self.stanza)
        copy.set("to", jid)
        return copy


def make(kind: str, attrs: dict[str, str]) -> etree._Element:
    """A new stanza in jabber:client (serialises with a default namespace, no prefix)."""
    return etree.Element(CLIENT_TAG[kind], attrs, nsmap={None: ns.CLIENT})


def error_reply(
    stanza: etree._Element, error_type: str, condition: str, text: str | None = None
) -> etree._Element:
    """The RFC 6120 error answer to `stanza`: addresses swapped, same id and kind."""
    attrs = {"type": "error"}
    if (sender := stanza.get("to")) is not None:
        attrs["from"] = sender
    if (recipient := stanza.get("from")) is not None:
        attrs["to"] = recipient
    if (stanza_id := stanza.get("id")) is not None:
        attrs["id"] = stanza_id
    reply = etree.Element(stanza.tag, attrs, nsmap={None: ns.CLIENT})
    error = etree.SubElement(reply, f"{{{ns.CLIENT}}}error", type=error_type)
    etree.SubElement(error, f"{{{ns.STANZAS}}}{condition}", nsmap={None: ns.STANZAS})
    if text:
        node = etree.SubElement(error, f"{{{ns.STANZAS}}}text", nsmap={None: ns.STANZAS})
        node.text = text
    return reply


def result_reply(iq: etree._Element) -> etree._Element:
    attrs = {"type": "result"}
    if (sender := iq.get("to")) is not None:
        attrs["from"] = sender
    if (recipient := iq.get("from")) is not None:
        attrs["to"] = recipient
    if (iq_id := iq.get("id")) is not None:
        attrs["id"] = iq_id
    return make("iq", attrs)


def stream_header(domain: str, stream_id: str) -> bytes:
    return (
        f"<?xml version='1.0'?><stream:stream xmlns='{ns.CLIENT}' "
        f"xmlns:stream='{ns.STREAM}' id='{stream_id}' from='{domain}' "
        "version='1.0' xml:lang='en'>"
    ).encode()


def stream_error(condition: str, text: str = "") -> bytes:
    text_element = (
        f"<text xmlns='{ns.STREAMS_ERRORS}'>{attr_bytes(text).decode()}</text>" if text else ""
    )
    return (
        f"<stream:error><{condition} xmlns='{ns.STREAMS_ERRORS}'/>{text_element}"
        "</stream:error></stream:stream>"
    ).encode()
