"""The MUC service's building blocks: event priorities, data forms, nickname preparation."""

from __future__ import annotations

from lxml import etree

from protocol.jid import resourceprep
from reference.muc.forms import Field, Form, Option
from reference.muc.hooks import Event, Hooks


def test_handlers_run_by_priority_and_the_first_answer_stops_the_event() -> None:
    hooks = Hooks()
    calls: list[str] = []
    hooks.on("e", lambda ev: calls.append("low"), -5)
    hooks.on("e", lambda ev: calls.append("high") or None, 10)
    hooks.on("e", lambda ev: "veto" if ev.stop else None, 0)
    assert hooks.fire("e", Event(stop=False)) is None
    assert calls == ["high", "low"]
    calls.clear()
    assert hooks.fire("e", Event(stop=True)) == "veto"
    assert calls == ["high"]


def test_a_false_answer_also_stops_the_event() -> None:
    hooks = Hooks()
    hooks.on("role", lambda ev: False, 2)
    hooks.on("role", lambda ev: "participant", -1)
    assert hooks.fire("role", Event()) is False


def test_forms_render_in_prosody_element_order_and_read_back_typed_values() -> None:
    form = Form(title="T")
    form.add(Field("FORM_TYPE", "hidden", value="urn:x"))
    form.add(Field("n", "text-single", "N", "describe", value=20, datatype="xs:integer"))
    form.add(Field("b", "boolean", "B", value=None))
    form.add(
        Field("w", "list-single", "W", options=[Option("a", "A"), Option("b", "B", default=True)])
    )
    rendered = form.render()
    text = etree.tostring(rendered).decode()
    assert text.index("<desc>") < text.index("<validate") < text.index("<value>20")
    b = rendered.find("{jabber:x:data}field[@var='b']")
    assert len(b) == 0  # no value at all for an unset boolean, as Prosody renders it
    w = rendered.find("{jabber:x:data}field[@var='w']")
    assert [c.tag.split("}")[1] for c in w] == ["option", "option", "value"]
    assert w[-1].text == "b"

    submitted = etree.fromstring(
        "<x xmlns='jabber:x:data' type='submit'>"
        "<field var='n'><value>7</value></field><field var='b'><value>true</value></field>"
        "<field var='w'><value>a</value></field><field var='other'><value>1</value></field></x>"
    )
    values, present = form.read(submitted)
    assert values == {"n": 7, "b": True, "w": "a"}
    assert present == {"n", "b", "w"}


def test_invalid_submitted_values_read_as_none_but_count_as_present() -> None:
    form = Form()
    form.add(Field("n", "text-single", datatype="xs:integer"))
    form.add(Field("b", "boolean"))
    submitted = etree.fromstring(
        "<x xmlns='jabber:x:data'><field var='n'><value>many</value></field>"
        "<field var='b'><value>yes</value></field></x>"
    )
    assert form.read(submitted) == ({"n": None, "b": None}, {"n", "b"})


def test_resourceprep_strict_refuses_unassigned_and_prohibited_code_points() -> None:
    assert resourceprep("Juliet") == "Juliet"
    assert resourceprep("Ju\u00adliet") == "Juliet"  # soft hyphen maps to nothing
    assert resourceprep("\u2163") == "IV"  # NFKC
    assert resourceprep("Juli\u0221t") == "Juli\u0221t"
    assert resourceprep("Juli\u0221t", strict=True) is None
    assert resourceprep("a\ue000b") is None  # private use
    assert resourceprep("\u05d0a\u05d0") is None  # mixed bidirectional text
