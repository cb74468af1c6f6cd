"""Stanza text as scripts write it: `${Romeo's full JID}` variables and XML blocks.

Script blocks never declare the `scansion:` prefix and rely on `jabber:client`
as the default namespace (the stream's). Parsing wraps them in an element that
declares both, with the same hardened parser settings as the XML stream.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from harness.xmpp import namespaces as ns

VARIABLE = re.compile(r"\$\{(?P<actor>[^}]+?)'s (?P<kind>full JID|JID)\}")

_WRAPPER_OPEN = f"<scansion-block xmlns='{ns.CLIENT}' xmlns:scansion='{ns.SCANSION}'>\n"
_WRAPPER_CLOSE = "\n</scansion-block>"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


@dataclass(frozen=True)
class VariableRef:
    """One `${X's JID}` in a block; offset is the index of `$` in the text."""

    actor: str
    full: bool
    offset: int


class BlockSyntaxError(ValueError):
    """An XML block that is not well-formed; line/column are relative to the block (1-based)."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


def variable_refs(text: str) -> list[VariableRef]:
    return [
        VariableRef(m["actor"], m["kind"] == "full JID", m.start()) for m in VARIABLE.finditer(text)
    ]


def substitute(text: str, resolve: Callable[[str, bool], str]) -> str:
    """Replace each variable by `resolve(actor, full)`, XML-escaped for attributes and text."""

    def repl(match: re.Match[str]) -> str:
        value = resolve(match["actor"], match["kind"] == "full JID")
        return (
            value.replace("&", "&amp;")
            .replace("<", "&lt;")
            .replace("'", "&apos;")
            .replace('"', "&quot;")
        )

    return VARIABLE.sub(repl, text)


def parse_block(text: str) -> list[etree._Element]:
    """Parse a block of one or more top-level elements (variables already substituted)."""
    try:
        wrapper = etree.fromstring((_WRAPPER_OPEN + text + _WRAPPER_CLOSE).encode(), _PARSER)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position
        message = re.sub(r", line \d+, column \d+$", "", exc.msg or str(exc))
        message = message.replace("scansion-block", "end of block")
        raise BlockSyntaxError(message, max(line - 1, 1), max(column, 1)) from None
    elements = [child for child in wrapper if isinstance(child.tag, str)]
    if not elements:
        raise BlockSyntaxError("expected an XML element", 1, 1)
    for element in elements:
        element.tail = None
    return elements
