"""XEP-0157 contact addresses: the `serverinfo` form the server and its services add to disco#info.

Prosody's mod_server_contact_info lists one `list-multi` field per kind of
address, in a fixed order, with whatever `contact_info` configures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lxml import etree

DATA_FORMS = "jabber:x:data"
SERVERINFO = "http://jabber.org/network/serverinfo"
KINDS = ("abuse", "admin", "feedback", "sales", "security", "status", "support")

ContactInfo = Mapping[str, Sequence[str]]


def contact_form(contact_info: ContactInfo) -> etree._Element:
    """The result form: FORM_TYPE, then `<kind>-addresses` for each configured kind."""
    form = etree.Element(f"{{{DATA_FORMS}}}x", nsmap={None: DATA_FORMS}, type="result")
    _field(form, "FORM_TYPE", "hidden", [SERVERINFO])
    for kind in KINDS:
        addresses = contact_info.get(kind)
        if addresses:
            _field(form, f"{kind}-addresses", "list-multi", addresses)
    return form


def _field(form: etree._Element, var: str, kind: str, values: Sequence[str]) -> None:
    field = etree.SubElement(form, f"{{{DATA_FORMS}}}field", var=var, type=kind)
    for value in values:
        etree.SubElement(field, f"{{{DATA_FORMS}}}value").text = value
