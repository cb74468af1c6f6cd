"""The expectation forms a `receives` block may use besides plain XML, and their checks.

- `scansion:order="any"` on an element: its children in its own namespace are
  all expected (none extra) but may come in any order;
- `{scansion:one-of:a|b}` as an attribute value (or text): any of the values;
- `<scansion:one-of>` around candidate elements: one received child that
  matches any candidate;
- `scansion:optional="true"` on a child: it may be absent; if present, it must
  match.

The matcher reads expected children as `Item`s (an element or a one-of group,
optional or not). `form_problems` is what lint and the runner reject, so a typo
cannot silently change what is compared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from protocol import namespaces as ns

STRICT_ATTRIBUTE = f"{{{ns.SCANSION}}}strict"
ORDER_ATTRIBUTE = f"{{{ns.SCANSION}}}order"
OPTIONAL_ATTRIBUTE = f"{{{ns.SCANSION}}}optional"
ONE_OF_TAG = f"{{{ns.SCANSION}}}one-of"
ONE_OF_VALUE = re.compile(r"\{scansion:one-of:(?P<values>[^{}]*)\}")
_SCANSION_VALUE = re.compile(r"\{scansion:[^{}]*\}")
_KNOWN_VALUE = re.compile(r"\{scansion:(any|capture:[^{}]+|one-of:[^{}]*)\}")
_ATTRIBUTES = {
    STRICT_ATTRIBUTE: ("true", "false"),
    ORDER_ATTRIBUTE: ("any",),
    OPTIONAL_ATTRIBUTE: ("true",),
}


@dataclass(frozen=True)
class Item:
    """One expected child: an element, or a `<scansion:one-of>` group of candidates."""

    candidates: tuple[etree._Element, ...]
    optional: bool = False
    group: etree._Element | None = None

    @property
    def namespace(self) -> str | None:
        return etree.QName(self.candidates[0]).namespace


def items_of(expected: etree._Element) -> list[Item]:
    """The expected element's children as items, in document order."""
    items = []
    for child in expected:
        if not isinstance(child.tag, str):
            continue
        if child.tag == ONE_OF_TAG:
            candidates = tuple(c for c in child if isinstance(c.tag, str))
            items.append(Item(candidates, child.get(OPTIONAL_ATTRIBUTE) == "true", child))
        else:
            items.append(Item((child,), child.get(OPTIONAL_ATTRIBUTE) == "true"))
    return items


def any_order(expected: etree._Element) -> bool:
    return expected.get(ORDER_ATTRIBUTE) == "any"


@dataclass(frozen=True)
class FormProblem:
    """A misused form; `line` is relative to the block (1-based), `name` what to point at."""

    line: int
    name: str
    message: str
    hint: str | None = None


def form_problems(elements: list[etree._Element], *, expected: bool = True) -> list[FormProblem]:
    """Every misused form in a block's top-level elements (sends blocks: `expected=False`)."""
    problems: list[FormProblem] = []
    for top in elements:
        for node in top.iter(etree.Element):
            problems += _node_problems(node, top, expected)
    return problems


def _line(node: etree._Element) -> int:
    return max((node.sourceline or 2) - 1, 1)  # the block's wrapper has a line of its own


def _node_problems(node: etree._Element, top: etree._Element, expected: bool) -> list[FormProblem]:
    line = _line(node)
    problems = []
    if node.tag == ONE_OF_TAG:
        if not expected:
            return [
                FormProblem(line, "scansion:one-of", "<scansion:one-of> in a sends block", ONLY)
            ]
        candidates = [c for c in node if isinstance(c.tag, str)]
        if node is top:
            problems.append(
                FormProblem(
                    line,
                    "scansion:one-of",
                    "<scansion:one-of> cannot be a whole stanza",
                    "wrap alternative children of an element, e.g. the condition of an <error>",
                )
            )
        if len(candidates) < 2:
            problems.append(
                FormProblem(
                    line,
                    "scansion:one-of",
                    "<scansion:one-of> needs two or more candidate elements",
                    "write the candidates inside it: <scansion:one-of><a/><b/></scansion:one-of>",
                )
            )
        if (node.text or "").strip() or any((c.tail or "").strip() for c in node):
            problems.append(
                FormProblem(line, "scansion:one-of", "<scansion:one-of> holds elements, not text")
            )
        if len({etree.QName(c).namespace for c in candidates}) > 1:
            problems.append(
                FormProblem(
                    line,
                    "scansion:one-of",
                    "the candidates of a <scansion:one-of> must share one namespace",
                )
            )
        extra = [name for name in node.attrib if name != OPTIONAL_ATTRIBUTE]
        if extra:
            problems.append(
                FormProblem(
                    line,
                    "scansion:one-of",
                    f"<scansion:one-of> takes no attribute {etree.QName(extra[0]).localname!r}",
                )
            )
    elif etree.QName(node).namespace == ns.SCANSION:
        problems.append(
            FormProblem(
                line,
                etree.QName(node).localname,
                f"unknown element <scansion:{etree.QName(node).localname}>",
                "the only scansion element is <scansion:one-of>",
            )
        )
    for name, value in node.attrib.items():
        problems += _attribute_problems(node, top, name, value, line, expected)
    for value in (node.text or "",):
        problems += _value_problems(value.strip(), line, etree.QName(node).localname, expected)
    return problems


ONLY = "expectation forms apply to what a step receives, not to what it sends"


def _attribute_problems(
    node: etree._Element,
    top: etree._Element,
    name: str,
    value: str,
    line: int,
    expected: bool,
) -> list[FormProblem]:
    qname = etree.QName(name)
    if qname.namespace != ns.SCANSION:
        return _value_problems(value, line, qname.localname, expected)
    shown = f"scansion:{qname.localname}"
    if name not in _ATTRIBUTES:
        return [
            FormProblem(
                line,
                shown,
                f"unknown attribute {shown}",
                "scansion attributes are scansion:strict, scansion:order and scansion:optional",
            )
        ]
    if not expected and name != STRICT_ATTRIBUTE:
        return [FormProblem(line, shown, f"{shown} in a sends block", ONLY)]
    allowed = _ATTRIBUTES[name]
    if value not in allowed:
        return [
            FormProblem(
                line,
                shown,
                f"{shown} must be {' or '.join(repr(v) for v in allowed)}, not {value!r}",
            )
        ]
    if name == OPTIONAL_ATTRIBUTE and node is top:
        return [
            FormProblem(
                line,
                shown,
                "a whole stanza cannot be optional",
                "use 'must not receive' or a separate step; scansion:optional is for children",
            )
        ]
    return []


def _value_problems(value: str, line: int, where: str, expected: bool) -> list[FormProblem]:
    found = _SCANSION_VALUE.search(value)
    if found is None or not expected:
        return []
    if _KNOWN_VALUE.fullmatch(found.group()) is None or found.group() != value:
        return [
            FormProblem(
                line,
                where,
                f"unknown value form {found.group()!r}",
                "value forms are {scansion:any}, {scansion:capture:NAME} and "
                "{scansion:one-of:A|B}, each as the whole value",
            )
        ]
    one_of = ONE_OF_VALUE.fullmatch(value)
    if one_of is not None:
        values = one_of["values"].split("|")
        if len(values) < 2 or not all(values):
            return [
                FormProblem(
                    line,
                    where,
                    f"malformed one-of {value!r}: it needs two or more non-empty values",
                    "e.g. type='{scansion:one-of:cancel|modify}'",
                )
            ]
    return []
