"""Incremental, hardened parsing of an XMPP XML stream (RFC 6120 section 11).

Both ends use it: the harness's client and the reference server. Bytes go in as
they arrive; out come the stream header, each complete top-level stanza (an lxml
element detached from the stream root, whose whitespace between stanzas is
dropped too, so memory stays flat however long the stream) and the stream end.

Safety: entities are never resolved, no DTD is loaded, the network is never
touched, and anything XMPP forbids (DTDs, comments, processing instructions) is
refused with `restricted-xml` before lxml sees it. A stanza larger than
`max_stanza_bytes` is refused with `policy-violation` while it is still arriving.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from protocol import namespaces as ns

DEFAULT_MAX_STANZA_BYTES = 256 * 1024

# `<!`, `<?`, `&`, a `<` that cannot start a tag, or a character XML 1.0 never allows.
_SUSPECT = re.compile(rb"<[!?]|&|<(?=[^A-Za-z_:/\x80-\xff])|[\x00-\x08\x0b\x0c\x0e-\x1f]")
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_PREDEFINED_ENTITY = re.compile(rb"&(?:amp|lt|gt|quot|apos|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")
_LONGEST_ENTITY = 12
_CDATA = b"<![CDATA["
_CDATA_END = b"]]>"
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
        self._in_cdata = False  # inside <![CDATA[ ... ]]>
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
                        raise StreamError("invalid-namespace", f"unexpected root {elem.tag!s}")
                    self._root = elem
                    out.append(StreamOpened(elem))
                self._depth += 1
            else:
                self._depth -= 1
                if self._depth == 1:
                    # A copy keeps `jabber:client` as the default namespace when
                    # serialised; removing the original keeps the root empty.
                    out.append(elem.__deepcopy__(None))  # type: ignore[union-attr]  # no stub
                    self._root.remove(elem)  # type: ignore[union-attr]
                    self._pending = 0
                elif self._depth == 0:
                    self.closed = True
                    out.append(StreamClosed())
        if self._depth == 1 and self._root.text is not None:  # type: ignore[union-attr]
            # Whitespace between stanzas (keepalives) lands in the root's text, which
            # libxml2 extends in place: dropped here, it cannot grow with the stream.
            self._root.text = None  # type: ignore[union-attr]
        return out

    def _check_restricted(self, data: bytes) -> None:
        """Refuse what XMPP forbids, and what lxml would sit on until more bytes come.

        libxml2 parses a start tag only once its `>` has arrived and text only up
        to the next `<`, so `<<<garbage` or a control character followed by
        silence would go unreported forever; both are decided here, at once.
        CDATA sections are skipped: anything but `]]>` is plain text there."""
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
        position = 0
        while position < len(buf):
            if self._in_cdata:
                end = buf.find(_CDATA_END, position)
                if end < 0:
                    _refuse_control_characters(buf, position, len(buf))
                    tail = buf[max(position, len(buf) - 2) :]
                    if tail and not tail.strip(b"]"):  # maybe the start of `]]>`
                        self._carry = tail
                    return
                _refuse_control_characters(buf, position, end)
                self._in_cdata = False
                position = end + len(_CDATA_END)
                continue
            match = _SUSPECT.search(buf, position)
            if match is None:
                if buf.endswith(b"<"):
                    self._carry = b"<"
                return
            rest = buf[match.start() :]
            position = match.end()
            first = rest[:1]
            if first == b"&":
                if _PREDEFINED_ENTITY.match(rest):
                    continue
                if len(rest) < _LONGEST_ENTITY and b";" not in rest:
                    self._carry = rest
                    return
                raise StreamError("restricted-xml", "only the predefined entities are allowed")
            if first != b"<":
                raise StreamError("not-well-formed", f"character {first!r} is not allowed in XML")
            if rest.startswith(_CDATA):
                self._in_cdata = True
                position = match.start() + len(_CDATA)
                continue
            if len(rest) < len(_CDATA) and _CDATA.startswith(rest):
                self._carry = rest
                return
            if rest[1:2] in (b"!", b"?"):
                raise StreamError(
                    "restricted-xml", "DTDs, comments and processing instructions are not allowed"
                )
            raise StreamError("not-well-formed", "'<' must start a tag")


def _refuse_control_characters(buf: bytes, start: int, end: int) -> None:
    match = _CONTROL.search(buf, start, end)
    if match is not None:
        raise StreamError("not-well-formed", f"character {match.group()!r} is not allowed in XML")
