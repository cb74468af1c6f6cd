"""A long-lived stream must not make its parser hold more the longer it runs.

The stream root of a never-ending document is where lxml keeps whatever arrives
between stanzas: stanzas are detached as they complete, and whitespace
keepalives must not pile up in the root's text either. The root is the one the
parser hands out in `StreamOpened`, so what it holds is observable here.
"""

from __future__ import annotations

from lxml import etree

from protocol.xmlstream import StreamOpened, XMLStreamParser

HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
)


def _stanza(index: int) -> bytes:
    return (
        f"<message to='room{index % 7}@conference.localhost' type='groupchat' id='m{index}'>"
        f"<body>message {index}</body></message>"
    ).encode()


def _open(parser: XMLStreamParser) -> etree._Element:
    events = parser.feed(HEADER)
    assert isinstance(events[0], StreamOpened)
    return events[0].root


def _held_by_root(root: etree._Element) -> int:
    """Bytes the stream root keeps: its text and anything still attached to it."""
    return len(root.text or "") + sum(len(etree.tostring(child)) for child in root)


def test_keepalives_between_stanzas_do_not_accumulate() -> None:
    parser = XMLStreamParser()
    root = _open(parser)
    stanzas = 0
    for index in range(2_000):
        for event in parser.feed(_stanza(index) + b"\n"):
            stanzas += isinstance(event, etree._Element)
        parser.feed(b" ")  # a whitespace keepalive on its own
    assert stanzas == 2_000
    assert _held_by_root(root) <= 2


def test_whitespace_only_traffic_does_not_accumulate() -> None:
    parser = XMLStreamParser()
    root = _open(parser)
    for _ in range(5_000):
        assert parser.feed(b"\n") == []
    parser.feed(b"<presence/>")
    assert _held_by_root(root) <= 1


def test_root_holds_the_same_after_n_and_10n_stanzas() -> None:
    """Stanzas split across chunks, batched, and separated by keepalives."""
    parser = XMLStreamParser()
    root = _open(parser)

    def run(count: int, start: int) -> int:
        for index in range(start, start + count):
            data = _stanza(index) + b" \n"
            cut = index % len(data)
            parser.feed(data[:cut])
            parser.feed(data[cut:])
        return _held_by_root(root)

    after_n = run(500, 0)
    after_10n = run(5_000, 500)
    assert after_10n == after_n


def test_keepalive_inside_a_stanza_is_kept() -> None:
    """Only whitespace between stanzas is dropped, never a stanza's own text."""
    parser = XMLStreamParser()
    _open(parser)
    parser.feed(b"<message><body>")
    parser.feed(b"  ")
    (message,) = parser.feed(b"</body></message> ")
    assert message.findtext("{jabber:client}body") == "  "
