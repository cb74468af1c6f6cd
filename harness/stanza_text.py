"""Stanza text as scripts write it: `${...}` variables and XML blocks.

Variables are `${Romeo's JID}` / `${Romeo's full JID}` (an actor's address) and
the run's own values: `${domain}`, `${muc}`, `${room}` and `${unique:NAME}`
(see harness.variables).

Script blocks never declare the `scansion:` prefix and rely on `jabber:client`
as the default namespace (the stream's). Parsing wraps them in an element that
declares both, with the same hardened parser settings as the XML stream.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from protocol import namespaces as ns

VARIABLE = re.compile(r"\$\{(?P<name>[^{}\n]*)\}")
ACTOR_VARIABLE = re.compile(r"(?P<actor>[^}]+?)'s (?P<kind>full JID|JID)")

_WRAPPER_OPEN = f"<scansion-block xmlns='{ns.CLIENT}' xmlns:scansion='{ns.SCANSION}'>\n"
_WRAPPER_CLOSE = "\n</scansion-block>"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


@dataclass(frozen=True)
class VariableRef:
    """One `${...}` in a text; `name` is what the braces hold, `offset` the index of `$`.

    `actor` is set for `${X's JID}` and `${X's full JID}` (then `full` tells which).
    """

    name: str
    offset: int
    actor: str | None = None
    full: bool = False


class BlockSyntaxError(ValueError):
    """An XML block that is not well-formed; line/column are relative to the block (1-based)."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


def variable_refs(text: str) -> list[VariableRef]:
    refs = []
    for match in VARIABLE.finditer(text):
        actor = ACTOR_VARIABLE.fullmatch(match["name"])
        if actor is None:
            refs.append(VariableRef(match["name"], match.start()))
        else:
            full = actor["kind"] == "full JID"
            refs.append(VariableRef(match["name"], match.start(), actor["actor"], full))
    return refs


def substitute(
    text: str,
    resolve: Callable[[str, bool], str],
    lookup: Callable[[str], str | None] = lambda name: None,
    *,
    escape: bool = True,
) -> str:
    """Replace actor variables by `resolve(actor, full)` and others by `lookup(name)`.

    Values are XML-escaped for attributes and text (`escape=False` for actor
    properties, which are not XML); a name `lookup` does not know stays as written.
    """

    def repl(match: re.Match[str]) -> str:
        actor = ACTOR_VARIABLE.fullmatch(match["name"])
        if actor is not None:
            value = resolve(actor["actor"], actor["kind"] == "full JID")
        else:
            found = lookup(match["name"])
            value = match.group() if found is None else found
        if not escape:
            return value
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
        data = (_WRAPPER_OPEN + text + _WRAPPER_CLOSE).encode()
    except UnicodeEncodeError as exc:
        offset = exc.start - len(_WRAPPER_OPEN)
        line, column = _line_column(text, offset)
        message = f"invalid character U+{ord(text[offset]):04X}"
        raise BlockSyntaxError(message, line, column) from None
    try:
        wrapper = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise _block_error(exc, text) from None
    elements = [child for child in wrapper if isinstance(child.tag, str)]
    if not elements:
        raise BlockSyntaxError("expected an XML element", 1, 1)
    for element in elements:
        element.tail = None
    return elements


_WRAPPER_TAG = "scansion-block"
_MISMATCH = re.compile(r"Opening and ending tag mismatch: (\S+) line (\d+) and (\S+)")
_AT_END = {
    "error parsing attribute name": "the block ends inside a tag ('>' is missing)",
    "Unescaped '<' not allowed in attributes values": (
        "the block ends inside an attribute value (a closing quote is missing)"
    ),
    "Comment not terminated": "a comment is not terminated ('-->' is missing)",
    "CData section not finished": "a CDATA section is not finished (']]>' is missing)",
}


def _block_error(exc: etree.XMLSyntaxError, text: str) -> BlockSyntaxError:
    """Say what libxml2 found in the block's own terms: its lines, its tags, no wrapper."""
    lines = text.split("\n")
    line, column = exc.position
    line -= 1  # the wrapper's start tag has a line of its own
    message = re.sub(r", line \d+, column \d+$", "", exc.msg or str(exc)).strip()
    message = message.split("\n")[0]
    mismatch = _MISMATCH.match(message)
    if mismatch:
        opened, opened_line, closing = mismatch[1], int(mismatch[2]) - 1, mismatch[3]
        if closing == _WRAPPER_TAG:
            start = lines[opened_line - 1].find(f"<{opened}")
            return BlockSyntaxError(f"<{opened}> is never closed", opened_line, start + 1)
        line = min(max(line, 1), len(lines))
        start = lines[line - 1].rfind(f"</{closing}", 0, max(column - 1, 0)) + 1 or column
        if opened == _WRAPPER_TAG:
            return BlockSyntaxError(f"closing tag </{closing}> has no start tag", line, start)
        return BlockSyntaxError(f"closing tag </{closing}> does not match <{opened}>", line, start)
    if line > len(lines) or (line == len(lines) and column > len(lines[-1])):
        last = max((i for i, content in enumerate(lines) if content.strip()), default=0)
        message = _AT_END.get(message, f"the block ends too early: {message}")
        return BlockSyntaxError(message, last + 1, len(lines[last]) + 1)
    message = _AT_END.get(message, message).replace(_WRAPPER_TAG, "the end of the block")
    return BlockSyntaxError(message, max(line, 1), max(column, 1))


def _line_column(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1
