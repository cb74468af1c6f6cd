"""A serialized stanza laid out line by line, with the matcher's differences marked.

A failure keeps the expected and closest stanzas as text and, from the matcher,
the position of every element or attribute that differs (`Mark`). Reports
re-parse the text and mark exactly those nodes: a `to` whose resource the
server chose, or an `id` the script does not name, is not a difference under the
matching rules, so it is never marked. The HTML report and the console diff both
read `marked_lines`.
"""

from __future__ import annotations

from collections.abc import Iterable

from lxml import etree

from harness.results import Mark
from harness.stanza_text import BlockSyntaxError, parse_block
from protocol import namespaces as ns

Segment = tuple[str, bool]  # text, and whether it differs
Line = list[Segment]

_TEXT = "text()"
_PREFIXES = {ns.SCANSION: "scansion", "http://www.w3.org/XML/1998/namespace": "xml"}


def marked_lines(text: str, marks: Iterable[Mark] = (), side: str = "received") -> list[Line]:
    """The stanza's lines, split where `side`'s marks start and end.

    Text that does not parse (a server may send anything a report still shows) comes
    back line by line, unmarked.
    """
    wanted = {(mark.node, mark.attribute) for mark in marks if mark.side == side}
    try:
        elements = parse_block(text)
    except BlockSyntaxError:
        return [[(line, False)] for line in text.splitlines()]
    lines: list[Line] = []
    for element in elements:
        _element_lines(element, (), 0, ns.CLIENT, wanted, False, lines)
    return lines


def _element_lines(
    element: etree._Element,
    position: tuple[int, ...],
    depth: int,
    parent_namespace: str | None,
    wanted: set[tuple[tuple[int, ...], str | None]],
    inside_mark: bool,
    lines: list[Line],
) -> None:
    whole = inside_mark or (position, None) in wanted
    qname = etree.QName(element)
    start: Line = [("  " * depth, False), ("<" + qname.localname, whole)]
    if qname.namespace != parent_namespace:
        start += [(" ", whole), (f'xmlns="{_escape(qname.namespace or "")}"', whole)]
    for name, value in element.attrib.items():
        differs = whole or (position, _attribute_name(name)) in wanted
        start += [(" ", whole), (f'{_attribute_name(name)}="{_escape(value)}"', differs)]
    children = [child for child in element if isinstance(child.tag, str)]
    text = (element.text or "").strip()
    text_differs = whole or (position, _TEXT) in wanted
    end = ("</" + qname.localname + ">", whole)
    if not children:
        if text:
            lines.append([*start, (">", whole), (_escape(text), text_differs), end])
        else:
            lines.append([*start, ("/>", whole)])
        return
    lines.append([*start, (">", whole)])
    if text:
        lines.append([("  " * (depth + 1), False), (_escape(text), text_differs)])
    for index, child in enumerate(children):
        _element_lines(child, (*position, index), depth + 1, qname.namespace, wanted, whole, lines)
    lines.append([("  " * depth, False), end])


def _attribute_name(name: str) -> str:
    qname = etree.QName(name)
    if qname.namespace is None:
        return name
    prefix = _PREFIXES.get(qname.namespace)
    return f"{prefix}:{qname.localname}" if prefix else name


def _escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")


def plain(line: Line) -> str:
    return "".join(text for text, _ in line)
