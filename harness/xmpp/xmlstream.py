"""Incremental, hardened parsing of an XMPP XML stream (RFC 6120 section 11).

Both ends use it: the harness's client and the reference server. Bytes go in as
they arrive; out come the stream header, each complete top-level stanza (an lxml
element detached from the stream root, so memory stays flat) and the stream end.

Safety: entities are never resolved, no DTD is loaded, the network is never
touched, and anything XMPP forbids (DTDs, comments, processing instructions) is
refused with `restricted-xml` before lxml sees it. A stanza larger than
`max_stanza_bytes` is refused with `policy-violation` while it is still arriving.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from harness.xmpp import namespaces as ns

DEFAULT_MAX_STANZA_BYTES = 256 * 1024

_RESTRICTED = re.compile(rb"<[!?]|&")
_PREDEFINED_ENTITY = re.compile(rb"&(?:amp|lt|gt|quot|apos|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")
_LONGEST_ENTITY = 12
_CDATA = b"<![CDATA["
_XML_DECL = b"<?xml"


class StreamError(Exception):
    """A stream-level failure, named by its RFC 6120 condition."""

    def __init__(self, condition: str, text: str = "") -> None:
        super().__init__(f"{condition}: {text}" if text else condition)
        self.condition = condition
        self.text = text


@dataclass(slots=True)
class StreamOpened:
    """The stream header arrived; `root` carries its attributes (to, from, id, version)."""

    root: etree._Element


@dataclass(slots=True)
class StreamClosed:
    """The peer sent `</stream:stream>`."""


Event = StreamOpened | StreamClosed | etree._Element


def _new_parser() -> etree.XMLPullParser:
    return etree.XMLPullParser(
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_blank_text=False,
    )


class XMLStreamParser:
    """Feed bytes, get stream events. Call `reset()` when the stream restarts."""

    def __init__(self, max_stanza_bytes: int = DEFAULT_MAX_STANZA_BYTES) -> None:
        self.max_stanza_bytes = max_stanza_bytes
        self.reset()

    def reset(self) -> None:
        self._parser = _new_parser()
        self._depth = 0
        self._root: etree._Element | None = None
        self._pending = 0  # bytes fed since the last complete stanza
        self._carry = b""  # an undecided `<!`/`<?` at the end of the previous chunk
        self._at_start = True  # nothing but whitespace seen yet
        self.closed = False

    def feed(self, data: bytes) -> list[Event]:
        """Parse a chunk; raise StreamError on anything that must end the stream."""
        if self.closed:
            return []
        self._check_restricted(data)
        self._pending += len(data)
        if self._pending > self.max_stanza_bytes:
            raise StreamError("policy-violation", "stanza too large")
        try:
            self._parser.feed(data)
            events = self._collect()
        except etree.XMLSyntaxError as exc:
            raise StreamError("not-well-formed", str(exc.msg or exc)) from None
        return events

    def _collect(self) -> list[Event]:
        out: list[Event] = []
        for kind, elem in self._parser.read_events():
            if kind == "start":
                if self._depth == 0:
                    if elem.tag != f"{{{ns.STREAM}}}stream":
                        raise StreamError("invalid-namespace", f"unexpected root {elem.tag}")
                    self._root = elem
                    out.append(StreamOpened(elem))
                self._depth += 1
            else:
                self._depth -= 1
                if self._depth == 1:
                    # A copy keeps `jabber:client` as the default namespace when
                    # serialised; removing the original keeps the root empty.
                    out.append(elem.__deepcopy__(None))
                    self._root.remove(elem)  # type: ignore[union-attr]
                    self._pending = 0
                elif self._depth == 0:
                    self.closed = True
                    out.append(StreamClosed())
        return out

    def _check_restricted(self, data: bytes) -> None:
        buf = self._carry + data if self._carry else data
        self._carry = b""
        if self._at_start:
            stripped = buf.lstrip()
            if stripped:
                self._at_start = False
                if stripped.startswith(_XML_DECL):
                    buf = stripped[len(_XML_DECL) :]
                elif len(stripped) < len(_XML_DECL) and _XML_DECL.startswith(stripped):
                    self._carry, self._at_start = stripped, True
                    return
        for match in _RESTRICTED.finditer(buf):
            rest = buf[match.start() :]
            if rest[:1] == b"&":
                if _PREDEFINED_ENTITY.match(rest):
                    continue
                if len(rest) < _LONGEST_ENTITY and b";" not in rest:
                    self._carry = rest
                    return
                raise StreamError("restricted-xml", "only the predefined entities are allowed")
            if rest.startswith(_CDATA):
                continue
            if len(rest) < len(_CDATA) and _CDATA.startswith(rest):
                self._carry = rest
                return
            raise StreamError(
                "restricted-xml", "DTDs, comments and processing instructions are not allowed"
            )
        if buf.endswith(b"<"):
            self._carry = b"<"
