"""Schema checks for stanzas: does a stanza follow the RFC and XEP definitions?

The XSDs in `schemas/` are written from RFC 6120/6121 and XEP-0004, -0030, -0045,
-0153 and -0203 (XSD 1.1, so extension elements can interleave with core children
the way servers send them). Elements in namespaces without a schema are skipped.

Script stanzas are checked as *partial*: a `receives` block only lists what it
cares about (rule M2/M4 of the matching semantics), so required attributes and
children, and the type/payload rules of RFC 6120, are not required; what is
present must still be allowed where it is and have a valid value. Values made of
`{scansion:any}`/`{scansion:capture:X}` markers or `${...}` variables are not
type-checked, and `scansion:*` attributes are ignored.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

import xmlschema
from lxml import etree
from xmlschema.validators.exceptions import (
    XMLSchemaChildrenValidationError,
    XMLSchemaValidationError,
)

from protocol import namespaces as ns

SCHEMA_DIR = Path(__file__).with_name("schemas")

_XS = "http://www.w3.org/2001/XMLSchema"
_XML = "http://www.w3.org/XML/1998/namespace"
_PARTICLES = {
    f"{{{_XS}}}{name}" for name in ("element", "any", "group", "choice", "sequence", "all")
}
_MARKER = re.compile(r"\{scansion:(any|capture:[^}]*)\}|\$\{[^}]*\}")
_ATTRIBUTE_VALUE = re.compile(r"^attribute (?P<name>[^=\s]+)=")
_ATTRIBUTE_NOT_ALLOWED = re.compile(r"^'(?P<name>[^']+)' attribute not allowed")
_ATTRIBUTE_MISSING = re.compile(r"^missing required attribute '(?P<name>[^']+)'")
# Each pass removes one misplaced child per element, then validates again, so that one
# misplaced element does not hide the checks of its siblings.
_MAX_PASSES = 20


@dataclass(frozen=True)
class SchemaViolation:
    """One place where a stanza departs from its schema.

    `path` reads like `/presence/x[muc#user]/item/@role`: a namespace in brackets
    where it changes, a position (`status[2]`) where a name repeats.
    """

    path: str
    message: str
    namespace: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def validate_stanza(element: etree._Element) -> list[SchemaViolation]:
    """Check a complete stanza, as a server or client sends it on the wire."""
    return _Validation(element, script=False, partial=False).run()


def validate_script_stanza(
    element: etree._Element, *, partial: bool = True
) -> list[SchemaViolation]:
    """Check a stanza written in a script (see the module docstring for what partial means).

    `partial=False` also requires required attributes and children: use it for `sends`
    blocks when they should be complete stanzas.
    """
    return _Validation(element, script=True, partial=partial).run()


def schema_namespaces() -> frozenset[str]:
    """The namespaces that have a schema; elements in other namespaces are skipped."""
    return frozenset(_schema_documents())


@cache
def _schema_documents() -> dict[str, etree._ElementTree]:
    documents = {}
    for path in sorted(SCHEMA_DIR.glob("*.xsd")):
        document = etree.parse(str(path))
        for import_ in document.getroot().iter(f"{{{_XS}}}import"):
            # Every namespace is loaded from this directory: no location is ever fetched.
            import_.attrib.pop("schemaLocation", None)
        documents[document.getroot().get("targetNamespace", "")] = document
    return documents


@cache
def _schema(*, partial: bool) -> xmlschema.XMLSchema11:
    sources = []
    for document in _schema_documents().values():
        root = copy.deepcopy(document.getroot())
        if partial:
            _make_partial(root)
        sources.append(etree.tostring(root, encoding="unicode"))
    return xmlschema.XMLSchema11(cast(Any, sources), allow="none", base_url=str(SCHEMA_DIR))


def _make_partial(schema_root: etree._Element) -> None:
    """Turn a schema into its partial form: nothing required, no assertions."""
    for node in list(schema_root.iter(f"{{{_XS}}}*")):
        parent = node.getparent()
        if node.tag in _PARTICLES and parent is not None and _is_local_particle(node, parent):
            node.set("minOccurs", "0")
        elif node.tag == f"{{{_XS}}}attribute" and node.get("use") == "required":
            node.set("use", "optional")
        elif node.tag == f"{{{_XS}}}assert" and parent is not None:
            parent.remove(node)


def _is_local_particle(node: etree._Element, parent: etree._Element) -> bool:
    """Whether minOccurs may be set: not on global declarations, group definitions' models
    or open-content wildcards."""
    if parent.tag == f"{{{_XS}}}schema":
        return False
    if parent.tag == f"{{{_XS}}}openContent":
        return False
    return not (parent.tag == f"{{{_XS}}}group" and parent.get("name") is not None)


class _Validation:
    """One stanza being checked: a cleaned copy, the paths of its elements, the findings."""

    def __init__(self, element: etree._Element, *, script: bool, partial: bool) -> None:
        self.schema = _schema(partial=partial)
        self.partial = partial
        self.root = _clean_copy(element, script=script)
        self.paths = _element_paths(self.root)
        self.unchecked_attributes: set[tuple[etree._Element, str]] = set()
        self.unchecked_text: set[etree._Element] = set()
        if script:
            self._find_unchecked_values()

    def run(self) -> list[SchemaViolation]:
        if etree.QName(self.root).namespace not in _schema_documents():
            return []
        found: dict[tuple[str, str], SchemaViolation] = {}
        for _ in range(_MAX_PASSES):
            # xmlschema validates lxml trees, though its annotations name ElementTree's types.
            errors = list(self.schema.iter_errors(cast(Any, self.root)))
            misplaced = _first_unexpected_child_per_parent(errors)
            if not misplaced:
                break
            for unexpected in misplaced:
                parent = _element_of(unexpected)
                child = parent[unexpected.index]
                self._add(found, self._unexpected_child(unexpected, child))
                parent.remove(child)
        for element in self._stray_elements():
            name = etree.QName(element).localname
            namespace = _namespace_of(element)
            label = _namespace_label(namespace)
            message = f"<{name}> is not allowed here: {label} has no top-level <{name}>"
            self._add(found, SchemaViolation(self.paths[element], message, namespace))
        for error in errors:
            if isinstance(error, XMLSchemaChildrenValidationError) and _is_unexpected_child(error):
                child = _element_of(error)[error.index]
                self._add(found, self._unexpected_child(error, child))
            else:
                self._add(found, self._violation(error))
        return list(found.values())

    def _stray_elements(self) -> list[etree._Element]:
        """Elements of a known namespace placed as extensions although they only exist inside
        another element of their namespace (e.g. a muc#user <item> right under <presence>).

        Extension wildcards are lax, so the schema itself accepts anything undeclared there.
        """
        known = _schema_documents()
        declared = self.schema.maps.elements
        return [
            element
            for element in self.root.iter()
            if (parent := element.getparent()) is not None
            and (namespace := etree.QName(element).namespace) in known
            and namespace != etree.QName(parent).namespace
            and element.tag not in declared
        ]

    @staticmethod
    def _add(found: dict[tuple[str, str], SchemaViolation], v: SchemaViolation | None) -> None:
        if v is not None:
            found.setdefault((v.path, v.message), v)

    def _find_unchecked_values(self) -> None:
        for element in self.root.iter():
            for name, value in element.attrib.items():
                if _MARKER.search(value):
                    self.unchecked_attributes.add((element, _attribute_label(name)))
            if element.text and _MARKER.search(element.text):
                self.unchecked_text.add(element)

    def _unexpected_child(
        self, error: XMLSchemaChildrenValidationError, child: etree._Element
    ) -> SchemaViolation:
        message = f"<{etree.QName(child).localname}> is not allowed here"
        if error.expected:
            message += f" (expected {_expected_tags(error)})"
        return SchemaViolation(self.paths[child], message, _namespace_of(child))

    def _violation(self, error: XMLSchemaValidationError) -> SchemaViolation | None:
        element = _element_of(error) if error.elem is not None else self.root
        path = self.paths.get(element, "/")
        namespace = _namespace_of(element)
        reason = error.reason or str(error)
        if isinstance(error, XMLSchemaChildrenValidationError):
            return SchemaViolation(path, f"missing {_expected_tags(error)}", namespace)
        if match := _ATTRIBUTE_VALUE.match(reason):
            name = match["name"]
            if (element, name) in self.unchecked_attributes:
                return None
            value = _attribute_value(element, name)
            detail = reason.removeprefix(f"attribute {name}={value!r}: ")
            return SchemaViolation(
                f"{path}/@{name}", _value_message(error, value, detail), namespace
            )
        if match := _ATTRIBUTE_NOT_ALLOWED.match(reason):
            name = _short_tag(match["name"])
            return SchemaViolation(f"{path}/@{name}", "attribute not allowed here", namespace)
        if match := _ATTRIBUTE_MISSING.match(reason):
            return SchemaViolation(
                f"{path}/@{match['name']}", "required attribute missing", namespace
            )
        if reason.startswith("character data between child elements"):
            return SchemaViolation(path, "text is not allowed here", namespace)
        if reason.startswith("assertion test is false"):
            annotation = getattr(error.validator, "annotation", None)
            return SchemaViolation(path, str(annotation) if annotation else reason, namespace)
        if "is not an element of the schema" in reason:
            name = etree.QName(element).localname
            return SchemaViolation(path, f"<{name}> is not defined in {namespace}", namespace)
        if element in self.unchecked_text or (self.partial and not (element.text or "").strip()):
            # A marker, or a script element written without text: any text is expected (M3).
            return None
        return SchemaViolation(path, _value_message(error, element.text or "", reason), namespace)


def _element_of(error: XMLSchemaValidationError) -> etree._Element:
    """The lxml element an error is about (xmlschema's annotations say ElementTree's)."""
    return cast(etree._Element, error.elem)


def _namespace_of(element: etree._Element) -> str:
    return etree.QName(element).namespace or ""


def _is_unexpected_child(error: XMLSchemaValidationError) -> bool:
    return isinstance(error, XMLSchemaChildrenValidationError) and error.invalid_tag is not None


def _first_unexpected_child_per_parent(
    errors: list[XMLSchemaValidationError],
) -> list[XMLSchemaChildrenValidationError]:
    """Only the first per parent is sure: xmlschema reports every later sibling as well."""
    first: dict[etree._Element, XMLSchemaChildrenValidationError] = {}
    for error in errors:
        if isinstance(error, XMLSchemaChildrenValidationError) and _is_unexpected_child(error):
            parent = _element_of(error)
            known = first.get(parent)
            if known is None or error.index < known.index:
                first[parent] = error
    return list(first.values())


def _clean_copy(element: etree._Element, *, script: bool) -> etree._Element:
    """A copy without comments, whitespace-only text, or (in scripts) scansion:* attributes."""
    root = copy.deepcopy(element)
    root.tail = None
    for node in list(root.iter(etree.Comment, etree.ProcessingInstruction)):
        parent = node.getparent()
        if parent is not None:
            if node.tail:
                previous = node.getprevious()
                if previous is not None:
                    previous.tail = (previous.tail or "") + node.tail
                else:
                    parent.text = (parent.text or "") + node.tail
            parent.remove(node)
    for node in root.iter():
        if node.text is not None and not node.text.strip():
            node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None
        if script:
            for name in [n for n in node.attrib if n.startswith(f"{{{ns.SCANSION}}}")]:
                del node.attrib[name]
    return root


def _element_paths(root: etree._Element) -> dict[etree._Element, str]:
    paths = {root: "/" + _step(root, None)}
    for element in root.iter():
        for child in element:
            paths[child] = f"{paths[element]}/{_step(child, element)}"
    return paths


def _step(element: etree._Element, parent: etree._Element | None) -> str:
    qname = etree.QName(element)
    step = qname.localname
    parent_namespace = etree.QName(parent).namespace if parent is not None else ns.CLIENT
    if qname.namespace != parent_namespace:
        step += f"[{_namespace_label(qname.namespace or '')}]"
    if parent is not None:
        same = [sibling for sibling in parent if sibling.tag == element.tag]
        if len(same) > 1:
            step += f"[{same.index(element) + 1}]"
    return step


def _namespace_label(namespace: str) -> str:
    """`http://jabber.org/protocol/muc#user` reads as `muc#user`; URNs stay whole."""
    if namespace.startswith(("http://", "https://")):
        return namespace.rstrip("/").rsplit("/", 1)[-1]
    return namespace


def _expected_tags(error: XMLSchemaChildrenValidationError) -> str:
    """`<a> or <b>`, or the first few of a long list (22 stanza error conditions)."""
    names = [getattr(e, "name", None) for e in error.expected or []]
    tags = [f"<{_short_tag(name)}>" for name in names if name]
    if not tags:
        return "a child element"
    if len(tags) > 4:
        return f"one of {', '.join(tags[:3])}, ... ({len(tags)} possible)"
    return " or ".join(tags)


def _short_tag(tag: str) -> str:
    return etree.QName(tag).localname if tag.startswith("{") else tag


def _attribute_label(name: str) -> str:
    """The attribute name as xmlschema writes it in its messages."""
    qname = etree.QName(name)
    if qname.namespace == _XML:
        return f"xml:{qname.localname}"
    return qname.localname if qname.namespace is None else name


def _attribute_value(element: etree._Element, label: str) -> str:
    for name, value in element.attrib.items():
        if _attribute_label(name) == label:
            return value
    return ""


def _value_message(error: XMLSchemaValidationError, value: str, detail: str) -> str:
    """A short message for a bad value: the allowed values, or the expected type."""
    enumeration = getattr(error.validator, "enumeration", None)
    if enumeration:
        return f"{value!r} is not one of: {', '.join(map(str, enumeration))}"
    if detail.startswith("Invalid ") or "invalid literal" in detail:
        type_name = getattr(error.validator, "local_name", None) or "value"
        return f"{value!r} is not a valid {type_name}"
    return f"{value!r}: {detail}"
