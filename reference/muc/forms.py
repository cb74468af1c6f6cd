"""XEP-0004 data forms as Prosody lays them out and reads them back.

A form is a list of `Field`s that features append to; rendering follows
Prosody's element order (desc, validate, options, values, required) because
scripts compare children in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from reference.muc import xml
from reference.muc.xml import DATA_FORMS

VALIDATE = "http://jabber.org/protocol/xdata-validate"


@dataclass
class Option:
    value: str
    label: str | None = None
    default: bool = False


@dataclass
class Field:
    var: str | None
    type: str = "text-single"
    label: str | None = None
    desc: str | None = None
    value: Any = None  # str, bool, int, list[str] or None (no <value/>)
    options: list[Option] = field(default_factory=list)
    datatype: str | None = None
    required: bool = False


@dataclass
class Form:
    fields: list[Field] = field(default_factory=list)
    title: str | None = None
    instructions: str | None = None

    def add(self, f: Field) -> None:
        self.fields.append(f)

    def render(self, form_type: str = "form") -> etree._Element:
        x = etree.Element(xml.tag("x", DATA_FORMS), nsmap={None: DATA_FORMS}, type=form_type)
        if self.title is not None:
            xml.child(x, "title", text=self.title)
        if self.instructions is not None:
            xml.child(x, "instructions", text=self.instructions)
        for f in self.fields:
            _render_field(x, f, form_type)
        return x

    def read(self, submitted: etree._Element) -> tuple[dict[str, Any], set[str]]:
        """Values of the submitted fields this form knows, and which were present.

        An invalid value reads as None, as Prosody does (the field still counts
        as present, so its handler runs)."""
        by_var: dict[str, etree._Element] = {}
        for tag in submitted.findall(xml.tag("field", DATA_FORMS)):
            by_var.setdefault(tag.get("var", ""), tag)
        values: dict[str, Any] = {}
        present: set[str] = set()
        for f in self.fields:
            if f.var is None or f.var not in by_var:
                continue
            present.add(f.var)
            values[f.var] = _read_value(by_var[f.var], f)
        return values, present


def form_type(x: etree._Element) -> str:
    for tag in x.findall(xml.tag("field", DATA_FORMS)):
        if tag.get("var") == "FORM_TYPE":
            return xml.find_text(tag, "value", DATA_FORMS) or ""
    return ""


def _render_field(x: etree._Element, f: Field, form_type: str) -> None:
    tag = xml.child(
        x,
        "field",
        attrs={"type": f.type, "var": f.var, "label": f.label if form_type != "submit" else None},
    )
    if form_type != "submit" and f.desc is not None:
        xml.child(tag, "desc", text=f.desc)
    if form_type == "form" and f.datatype:
        xml.child(tag, "validate", VALIDATE, {"datatype": f.datatype})
    value = f.value
    if form_type == "form" and f.options:
        defaults = []
        for option in f.options:
            xml.child(
                xml.child(tag, "option", attrs={"label": option.label}), "value"
            ).text = option.value
            if option.default:
                defaults.append(option.value)
        if value is None and f.type == "list-single":
            value = defaults[0] if defaults else None
        elif value is None and f.type == "list-multi":
            value = defaults
    for text in _value_texts(f, value):
        xml.child(tag, "value", text=text)
    if form_type == "form" and f.required:
        xml.child(tag, "required")


def _value_texts(f: Field, value: Any) -> list[str]:
    if value is None:
        return []
    if f.type == "boolean":
        return ["1" if value else "0"]
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


_BOOLEANS = {"1": True, "true": True, "0": False, "false": False}


def _read_value(tag: etree._Element, f: Field) -> Any:
    values = [v.text or "" for v in tag.findall(xml.tag("value", DATA_FORMS))]
    if f.type in ("list-multi", "jid-multi"):
        return values or None
    text = values[0] if values else None
    if text is None:
        return None
    if f.type == "boolean":
        return _BOOLEANS.get(text)
    if f.datatype == "xs:integer":
        try:
            return int(text)
        except ValueError:
            return None
    return text
