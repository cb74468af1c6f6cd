"""Rules M1-M7 of the semantics document, one test (or a few) per rule."""

from __future__ import annotations

import pytest
from lxml import etree

from harness.matcher import correspondence, expected_from_text, match
from harness.stanza_text import BlockSyntaxError

JIDS = {"Romeo": "romeo@localhost", "Juliet": "juliet@localhost"}


def resolve(actor: str, full: bool) -> str:
    return JIDS[actor] + ("/balcony" if full else "")


def expected(text: str) -> etree._Element:
    return expected_from_text(text, resolve)[0]


def received(text: str) -> etree._Element:
    """A stanza as the stream delivers it: in jabber:client."""
    return etree.fromstring(f"<stream xmlns='jabber:client'>{text}</stream>")[0]


def matches(want: str, got: str, bindings: dict[str, str] | None = None) -> bool:
    return match(expected(want), received(got), bindings or {}).ok


# M1


def test_m1_same_name_and_namespace_match() -> None:
    assert matches("<message/>", "<message to='a@b'/>")


def test_m1_different_name_fails() -> None:
    assert not matches("<message/>", "<presence/>")


def test_m1_different_namespace_fails() -> None:
    assert not matches(
        "<iq><query xmlns='jabber:iq:roster'/></iq>",
        "<iq><query xmlns='jabber:iq:version'/></iq>",
    )


# M2


def test_m2_expected_attribute_must_be_equal() -> None:
    assert matches("<iq id='a1'/>", "<iq id='a1'/>")
    assert not matches("<iq id='a1'/>", "<iq id='a2'/>")


def test_m2_missing_expected_attribute_fails() -> None:
    assert not matches("<iq id='a1'/>", "<iq/>")


def test_m2_extra_received_attributes_ignored() -> None:
    assert matches("<iq id='a1'/>", "<iq id='a1' to='x@y' xml:lang='en' from='y'/>")


def test_m2_missing_type_matches_any_type() -> None:
    assert matches("<presence/>", "<presence type='unavailable'/>")
    assert not matches("<presence type='error'/>", "<presence type='unavailable'/>")


def test_m2_variables_are_substituted() -> None:
    assert matches(
        '<message from="${Romeo\'s full JID}" to="${Juliet\'s JID}"/>',
        "<message from='romeo@localhost/balcony' to='juliet@localhost'/>",
    )


def test_m2_namespaced_attributes_compared_by_namespace() -> None:
    assert matches("<message xml:lang='en'/>", "<message xml:lang='en'/>")
    assert not matches("<message xml:lang='en'/>", "<message lang='en'/>")


def test_m2_scansion_attributes_are_not_compared() -> None:
    assert matches("<iq scansion:strict='false' id='1'/>", "<iq id='1'/>")


def test_m2_scansion_any_matches_any_value_but_needs_the_attribute() -> None:
    assert matches("<iq id='{scansion:any}'/>", "<iq id='anything'/>")
    assert not matches("<iq id='{scansion:any}'/>", "<iq/>")


def test_m2_capture_first_use_stores_value() -> None:
    result = match(expected("<iq id='{scansion:capture:q}'/>"), received("<iq id='42'/>"), {})
    assert result.ok
    assert result.captures == {"q": "42"}


def test_m2_capture_later_use_same_value_passes_different_fails() -> None:
    template = expected("<iq id='{scansion:capture:q}'/>")
    assert match(template, received("<iq id='42'/>"), {"q": "42"}).ok
    result = match(template, received("<iq id='43'/>"), {"q": "42"})
    assert not result.ok
    assert "'42'" in result.explanation and "'43'" in result.explanation


def test_m2_capture_must_agree_within_one_stanza() -> None:
    template = "<message id='{scansion:capture:m}'><thread>{scansion:capture:m}</thread></message>"
    assert matches(template, "<message id='t1'><thread>t1</thread></message>")
    assert not matches(template, "<message id='t1'><thread>t2</thread></message>")


def test_m2_capture_in_text_content() -> None:
    result = match(
        expected("<message><body>{scansion:capture:text}</body></message>"),
        received("<message><body> hello </body></message>"),
        {},
    )
    assert result.captures == {"text": "hello"}


def test_m2_captures_not_returned_when_the_stanza_fails() -> None:
    result = match(
        expected("<iq id='{scansion:capture:q}' type='result'/>"),
        received("<iq id='42' type='error'/>"),
        {},
    )
    assert not result.ok
    assert result.captures == {}


def test_m2_capture_across_foreign_children_needs_consistent_pairing() -> None:
    template = (
        "<message><x xmlns='urn:a' v='{scansion:capture:c}'/><x xmlns='urn:a' v='one'/>"
        "<y xmlns='urn:b' v='{scansion:capture:c}'/></message>"
    )
    # The capture x can only take 'two' (the other x is 'one'), and y agrees.
    assert matches(
        template,
        "<message><x xmlns='urn:a' v='one'/><x xmlns='urn:a' v='two'/>"
        "<y xmlns='urn:b' v='two'/></message>",
    )
    assert not matches(
        template,
        "<message><x xmlns='urn:a' v='one'/><x xmlns='urn:a' v='two'/>"
        "<y xmlns='urn:b' v='three'/></message>",
    )


# M3


def test_m3_no_expected_text_ignores_received_text() -> None:
    assert matches(
        "<iq><query xmlns='jabber:iq:version'><version/></query></iq>",
        "<iq><query xmlns='jabber:iq:version'><version>0.12.3</version></query></iq>",
    )


def test_m3_text_compared_after_trimming() -> None:
    assert matches(
        "<message><body>\n  Hi there\n</body></message>", "<message><body>Hi there</body></message>"
    )


def test_m3_different_text_fails() -> None:
    assert not matches("<message><body>Hi</body></message>", "<message><body>Ho</body></message>")


def test_m3_text_markers_match_any_text() -> None:
    assert matches(
        "<message><body>{scansion:any}</body></message>", "<message><body>x</body></message>"
    )


# M4


def test_m4_expected_without_children_accepts_any_children() -> None:
    assert matches(
        "<iq type='error' id='sub1'/>",
        "<iq type='error' id='sub1'><error type='cancel'><item-not-found "
        "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
    )


def test_m4_each_expected_child_needs_a_distinct_partner() -> None:
    want = "<message><x xmlns='urn:a'/><x xmlns='urn:a'/></message>"
    assert not matches(want, "<message><x xmlns='urn:a'/></message>")
    assert matches(want, "<message><x xmlns='urn:a'/><x xmlns='urn:a'/></message>")


def test_m4_same_namespace_extra_child_fails() -> None:
    assert not matches(
        "<message><body>hi</body></message>", "<message><body>hi</body><subject/></message>"
    )


def test_m4_same_namespace_children_in_expected_order() -> None:
    want = "<message><subject/><body/></message>"
    assert matches(want, "<message><subject/><body/></message>")
    assert not matches(want, "<message><body/><subject/></message>")


def test_m4_foreign_namespace_children_any_order() -> None:
    want = (
        "<message><body>hi</body><x xmlns='jabber:x:conference' jid='room@muc'/>"
        "<delay xmlns='urn:xmpp:delay'/></message>"
    )
    assert matches(
        want,
        "<message><delay xmlns='urn:xmpp:delay'/><x xmlns='jabber:x:conference' "
        "jid='room@muc'/><body>hi</body></message>",
    )


def test_m4_foreign_namespace_extra_children_allowed() -> None:
    assert matches(
        "<presence><x xmlns='http://jabber.org/protocol/muc#user'/></presence>",
        "<presence><x xmlns='vcard-temp:x:update'><photo/></x>"
        "<occupant-id xmlns='urn:xmpp:occupant-id:0' id='a'/>"
        "<x xmlns='http://jabber.org/protocol/muc#user'><item role='none'/></x></presence>",
    )


def test_m4_nested_same_namespace_rules_apply_per_parent() -> None:
    want = (
        "<presence><x xmlns='http://jabber.org/protocol/muc#user'>"
        "<status code='201'/><status code='110'/></x></presence>"
    )
    got_in_order = (
        "<presence><x xmlns='http://jabber.org/protocol/muc#user'>"
        "<status code='201'/><status code='110'/></x></presence>"
    )
    got_swapped = got_in_order.replace("201", "tmp").replace("110", "201").replace("tmp", "110")
    assert matches(want, got_in_order)
    assert not matches(want, got_swapped)


def test_m4_foreign_assignment_reconsiders_earlier_choices() -> None:
    # The generic expected child must not keep the only partner of the specific one.
    assert matches(
        "<message><x xmlns='urn:a'/><x xmlns='urn:a' kind='b'/></message>",
        "<message><x xmlns='urn:a' kind='b'/><x xmlns='urn:a' kind='c'/></message>",
    )


@pytest.mark.timeout(60)  # trying every combination would never finish
def test_m4_impossible_assignment_is_decided() -> None:
    # 31 expected children, 30 possible partners among 35: no assignment, and trying
    # every combination would never finish.
    want = "<message>" + "<x xmlns='urn:a' k='1'/>" * 31 + "</message>"
    got = "<message>" + "<x xmlns='urn:a' k='1'/>" * 30 + "<x xmlns='urn:a' k='2'/>" * 5
    result = match(expected(want), received(got + "</message>"), {})
    assert not result.ok
    assert result.explanation == "/message/x[urn:a][31]/@k: expected '1', received '2'"


# M5


def test_m5_loose_children_any_order_and_namespace() -> None:
    assert matches(
        "<message scansion:strict='false'><subject/><body/></message>",
        "<message><body/><thread/><subject/></message>",
    )


def test_m5_loose_is_inherited_by_descendants() -> None:
    want = (
        "<iq><query xmlns='http://jabber.org/protocol/disco#info' scansion:strict='false'>"
        "<x xmlns='jabber:x:data'><field var='b'><value>2</value></field></x></query></iq>"
    )
    got = (
        "<iq><query xmlns='http://jabber.org/protocol/disco#info'><identity/><feature/>"
        "<x xmlns='jabber:x:data'><field var='a'/><field var='b'><value>1</value>"
        "<value>2</value></field></x></query></iq>"
    )
    assert matches(want, got)


def test_m5_loose_still_needs_every_expected_child() -> None:
    assert not matches(
        "<message scansion:strict='false'><subject/><body/></message>",
        "<message><body/></message>",
    )


# M6


def test_m6_strict_rejects_extra_foreign_children() -> None:
    want = "<message scansion:strict='true'><body>hi</body></message>"
    assert matches(want, "<message><body>hi</body></message>")
    assert not matches(want, "<message><body>hi</body><delay xmlns='urn:xmpp:delay'/></message>")


def test_m6_strict_rejects_children_where_none_are_expected() -> None:
    assert not matches(
        "<iq type='result' scansion:strict='true'/>",
        "<iq type='result'><query xmlns='jabber:iq:version'/></iq>",
    )


def test_m6_strict_text_must_be_equal_even_when_expected_is_empty() -> None:
    want = "<iq><query xmlns='jabber:iq:version' scansion:strict='true'><version/></query></iq>"
    assert not matches(
        want, "<iq><query xmlns='jabber:iq:version'><version>0.12.3</version></query></iq>"
    )


def test_m6_strict_is_inherited_until_loose() -> None:
    want = (
        "<iq id='lx2' type='result'><query xmlns='jabber:iq:version' scansion:strict='true'>"
        "<name>Prosody</name><version scansion:strict='false'/></query></iq>"
    )
    good = (
        "<iq id='lx2' type='result'><query xmlns='jabber:iq:version'>"
        "<name>Prosody</name><version>0.12.3</version></query></iq>"
    )
    with_os = good.replace("</query>", "<os>Linux</os></query>")
    assert matches(want, good)
    assert not matches(want, with_os)


def test_m6_strict_keeps_attributes_as_m2() -> None:
    assert matches("<iq scansion:strict='true' id='1'/>", "<iq id='1' to='a@b' type='get'/>")


# M7


def test_m7_attribute_order_and_prefixes_irrelevant() -> None:
    assert matches(
        "<iq type='result' id='1'><query xmlns='jabber:iq:roster'/></iq>",
        "<iq id='1' type='result'><r:query xmlns:r='jabber:iq:roster'/></iq>",
    )


# Reading expectations


def test_expected_from_text_reads_every_top_level_element() -> None:
    elements = expected_from_text("<presence/>\n<message/>", resolve)
    assert [etree.QName(e).localname for e in elements] == ["presence", "message"]


def test_expected_from_text_rejects_an_unknown_strict_value() -> None:
    with pytest.raises(BlockSyntaxError, match="scansion:strict must be 'true' or 'false'") as err:
        expected_from_text("<message>\n  <body scansion:strict='yes'/>\n</message>", resolve)
    assert err.value.line == 2


# Explanations


def test_explanation_names_path_and_both_values() -> None:
    result = match(
        expected(
            "<presence><x xmlns='http://jabber.org/protocol/muc#user'>"
            "<item role='participant'/></x></presence>"
        ),
        received(
            "<presence><x xmlns='http://jabber.org/protocol/muc#user'>"
            "<item role='moderator'/></x></presence>"
        ),
        {},
    )
    assert result.explanation == (
        "/presence/x[muc#user]/item/@role: expected 'participant', received 'moderator'"
    )
    assert result.differences == 1


def test_explanation_names_the_child_without_partner() -> None:
    result = match(
        expected("<message><x xmlns='urn:a' k='1'/><y xmlns='urn:b'/></message>"),
        received("<message><x xmlns='urn:a' k='1'/></message>"),
        {},
    )
    assert result.explanation == "/message/y[urn:b]: no partner for <y/>"


def test_explanation_names_an_unexpected_same_namespace_child() -> None:
    result = match(
        expected("<message><body/></message>"),
        received("<message><body/><subject>s</subject></message>"),
        {},
    )
    assert result.explanation == "/message: unexpected child <subject>…"


def test_explanation_of_long_values_fits_a_terminal() -> None:
    long = "x" * 500
    result = match(expected(f"<iq id='{long}'/>"), received(f"<iq id='{long}y'/>"), {})
    assert len(result.explanation) < 200


def test_differences_rank_closer_candidates_lower() -> None:
    want = expected("<presence from='r@muc/a'><x xmlns='urn:x'><item role='p'/></x></presence>")
    near = match(
        want,
        received("<presence from='r@muc/a'><x xmlns='urn:x'><item role='m'/></x></presence>"),
        {},
    )
    far = match(want, received("<presence from='r@muc/b'/>"), {})
    other = match(want, received("<message/>"), {})
    assert 0 < near.differences < far.differences < other.differences


def test_correspondence_pairs_every_expected_element() -> None:
    want = expected("<message><body/><x xmlns='urn:a'/></message>")
    got = received("<message><x xmlns='urn:b'/><body/><x xmlns='urn:a'/></message>")
    pairs = correspondence(want, got, {})
    assert pairs is not None
    assert [(etree.QName(e).text, got.index(r) if r is not got else -1) for e, r in pairs] == [
        ("{jabber:client}message", -1),
        ("{jabber:client}body", 1),
        ("{urn:a}x", 2),
    ]
