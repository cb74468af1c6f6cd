"""Differences are marked at the element and attribute the matcher counted, nothing else.

What a server chose itself (the resource in `to`, an `id`, extension elements the
script does not name) is not a difference under the matching rules, so it is
never marked, even when it sits on the same line as one.
"""

from __future__ import annotations

from harness.matcher import match
from harness.reporting.marked_xml import marked_lines
from harness.runner import show_xml
from harness.stanza_text import parse_block

# As the script expects it once ${Romeo's full JID} is substituted.
EXPECTED = """<presence from="room@conference.localhost/Romeo">
  <x xmlns="http://jabber.org/protocol/muc#user">
    <item jid="romeo@localhost/ae1f" affiliation="owner" role="moderator"/>
    <status code="110"/>
  </x>
</presence>"""

# What ejabberd 23.01 sends: its own id, the full `to`, extensions, and one role that differs.
RECEIVED = """<presence xml:lang="en" to="romeo@localhost/ae1f" id="1f2e3d"
    from="room@conference.localhost/Romeo">
  <x xmlns="vcard-temp:x:update"><photo/></x>
  <x xmlns="http://jabber.org/protocol/muc#user">
    <item jid="romeo@localhost/ae1f" affiliation="owner" role="participant"/>
    <status code="110"/>
  </x>
</presence>"""


def marked(text: str, side: str, marks: tuple) -> list[str]:
    return [
        part.strip()
        for line in marked_lines(text, marks, side)
        for part, differs in line
        if differs and part.strip()
    ]


def test_only_the_differing_attribute_is_marked() -> None:
    expected = parse_block(EXPECTED)[0]
    received = parse_block(RECEIVED)[0]
    result = match(expected, received, {})
    assert not result.ok
    assert result.path == ("presence", "x[muc#user]", "item", "@role")
    closest = show_xml(received)
    assert marked(closest, "received", result.marks) == ['role="participant"']
    assert marked(show_xml(expected), "expected", result.marks) == []


def test_a_missing_child_is_marked_in_the_expected_stanza() -> None:
    expected = parse_block('<presence><x xmlns="vcard-temp:x:update"><photo/></x></presence>')[0]
    received = parse_block('<presence id="p1"><x xmlns="vcard-temp:x:update"/></presence>')[0]
    result = match(expected, received, {})
    assert marked(show_xml(expected), "expected", result.marks) == ["<photo", "/>"]
    assert marked(show_xml(received), "received", result.marks) == []


def test_an_unpartnered_condition_is_marked_where_it_was_expected() -> None:
    """An error condition is a foreign-namespace child: the received one is an allowed
    extra (M4), the expected one lacks a partner, so only the expected one is marked."""
    stanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"
    expected = parse_block(
        f'<iq type="error"><error><item-not-found xmlns="{stanzas}"/></error></iq>'
    )[0]
    received = parse_block(
        f'<iq type="error" id="x"><error type="cancel">'
        f'<not-allowed xmlns="{stanzas}"/></error></iq>'
    )[0]
    result = match(expected, received, {})
    assert marked(show_xml(expected), "expected", result.marks) == [
        "<item-not-found",
        f'xmlns="{stanzas}"',
        "/>",
    ]
    assert marked(show_xml(received), "received", result.marks) == []


def test_text_that_does_not_parse_is_shown_unmarked() -> None:
    assert marked_lines("<unclosed", ()) == [[("<unclosed", False)]]
