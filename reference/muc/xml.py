"""Building and reading the stanzas the MUC service exchanges.

Every stanza the service creates lives in `jabber:client`, so it serialises with
a default namespace and children copied from clients keep their own.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator

from lxml import etree

CLIENT = "jabber:client"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
MUC = "http://jabber.org/protocol/muc"
MUC_USER = "http://jabber.org/protocol/muc#user"
MUC_ADMIN = "http://jabber.org/protocol/muc#admin"
MUC_OWNER = "http://jabber.org/protocol/muc#owner"
DISCO_INFO = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
DATA_FORMS = "jabber:x:data"
DELAY = "urn:xmpp:delay"
REGISTER = "jabber:iq:register"
COMMANDS = "http://jabber.org/protocol/commands"


def tag(name: str, ns: str = CLIENT) -> str:
    return f"{{{ns}}}{name}"


def stanza(kind: str, attrs: dict[str, str | None] | None = None) -> etree._Element:
    """A new top-level stanza; attributes whose value is None are left out."""
    element = etree.Element(tag(kind), nsmap={None: CLIENT})
    for name, value in (attrs or {}).items():
        if value is not None:
            element.set(name, value)
    return element


def child(
    parent: etree._Element,
    name: str,
    ns: str | None = None,
    attrs: dict[str, str | None] | None = None,
    text: str | None = None,
) -> etree._Element:
    """Append a child element; `ns` defaults to the parent's namespace."""
    parent_ns = _ns(parent)
    namespace = parent_ns if ns is None else ns
    qualified = f"{{{namespace}}}{name}" if namespace else name
    if namespace and namespace != parent_ns:
        element = etree.SubElement(parent, qualified, nsmap={None: namespace})
    else:
        element = etree.SubElement(parent, qualified)
    if attrs:
        for key, value in attrs.items():
            if value is not None:
                element.set(key, value)
    if text is not None:
        element.text = text
    return element


def _ns(element: etree._Element) -> str | None:
    tag = str(element.tag)
    return tag[1 : tag.index("}")] if tag[0] == "{" else None


def kind(element: etree._Element) -> str:
    """`message`, `presence` or `iq` (whatever namespace the stream used)."""
    return etree.QName(element).localname


def find(element: etree._Element, name: str, ns: str) -> etree._Element | None:
    return element.find(f"{{{ns}}}{name}")


def find_text(element: etree._Element, name: str, ns: str) -> str | None:
    """The text of the first `name` child, "" when empty, None when absent."""
    found = element.find(f"{{{ns}}}{name}")
    if found is None:
        return None
    return found.text or ""


def client_child(element: etree._Element, name: str) -> etree._Element | None:
    """A child in the stanza's own namespace (body, subject, thread, status...)."""
    return element.find(f"{{{_ns(element)}}}{name}" if _ns(element) else name)


def children(element: etree._Element) -> Iterator[etree._Element]:
    return (c for c in element if isinstance(c.tag, str))


def first_child(element: etree._Element) -> etree._Element | None:
    return next(children(element), None)


def clone(element: etree._Element) -> etree._Element:
    return copy.deepcopy(element)


def without_namespaces(element: etree._Element, namespaces: Iterable[str]) -> etree._Element:
    """Remove direct children in any of `namespaces` (in place) and return the element."""
    drop = set(namespaces)
    for c in list(children(element)):
        if _ns(c) in drop:
            _remove_keeping_tail(c)
    return element


def remove_children(element: etree._Element, name: str, ns: str) -> None:
    for c in element.findall(f"{{{ns}}}{name}"):
        _remove_keeping_tail(c)


def _remove_keeping_tail(element: etree._Element) -> None:
    parent = element.getparent()
    if parent is None:
        return
    if element.tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


def reply(request: etree._Element) -> etree._Element:
    """The empty `result` answer to an iq."""
    return stanza(
        "iq",
        {
            "type": "result",
            "id": request.get("id"),
            "from": request.get("to"),
            "to": request.get("from"),
        },
    )


def error_reply(
    request: etree._Element,
    error_type: str,
    condition: str,
    text: str | None = None,
    by: str | None = None,
) -> etree._Element:
    """An RFC 6120 error answering `request`: addresses swapped, no original payload.

    `by` is left out when it is the error's sender anyway, as Prosody does."""
    answer = stanza(
        kind(request),
        {
            "type": "error",
            "id": request.get("id"),
            "from": request.get("to"),
            "to": request.get("from"),
        },
    )
    if by == request.get("to"):
        by = None
    error = child(answer, "error", attrs={"type": error_type, "by": by})
    child(error, condition, STANZAS)
    if text:
        child(error, "text", STANZAS, text=text)
    return answer


def error_condition(element: etree._Element) -> tuple[str | None, str | None]:
    """(condition, text) of an error stanza, None for what is missing."""
    error = client_child(element, "error")
    if error is None:
        return None, None
    condition = None
    text = None
    for c in children(error):
        if _ns(c) == STANZAS:
            name = etree.QName(c).localname
            if name == "text":
                text = c.text or ""
            elif condition is None:
                condition = name
    return condition, text
