"""The syntax for scripts that run anywhere: what parses into the model, and the lint check of
every form (variables, annotations, windows, expectation forms), at its line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.model import Action, NeedKind, Script
from harness.parser import ScriptError, parse_text

HEADER = "# Forms\n[Client] Romeo\n\tjid: romeo@localhost\n---\n"  # the body starts on line 5


def parse(text: str) -> Script:
    return parse_text(text, Path("forms.scs"))


def test_new_steps_annotations_and_variables_reach_the_model() -> None:
    script = parse(
        "# T\n@checks a-1 b-2\n@needs fact registration\n"
        "[Client] Romeo\n\tjid: ${unique:romeo}@${domain}\n---\n"
        "Romeo connects\n"
        "@checks c-3\n@needs feature urn:x at ${room}@${muc}\n"
        "Romeo receives in order:\n\t<message/>\n\t<presence/>\n"
        "@needs config muc#roomconfig_roomsecret\n"
        "Romeo must not receive within 2.5s:\n\t<message/>\n"
        "Romeo must not receive:\n\t<presence/>\n"
    )
    assert [check.id for check in script.checks] == ["a-1", "b-2"]
    assert script.needs[0].kind is NeedKind.FACT
    assert script.actors[0].jid == "${unique:romeo}@${domain}"
    ordered, within, plain = script.steps[1:]
    assert ordered.action is Action.RECEIVES_IN_ORDER
    assert [c.id for c in ordered.checks] == ["c-3"]
    assert (ordered.needs[0].kind, ordered.needs[0].value, ordered.needs[0].at) == (
        NeedKind.FEATURE,
        "urn:x",
        "${room}@${muc}",
    )
    assert (ordered.checks[0].line, ordered.checks[0].column) == (8, 9)
    assert within.action is Action.MUST_NOT_RECEIVE
    assert within.within == 2.5
    assert within.needs[0].kind is NeedKind.CONFIG
    assert plain.within is None and not plain.needs
    assert script.requirement_ids() == ["a-1", "b-2", "c-3"]


BROKEN = [
    (
        "unknown variable",
        HEADER + "Romeo sends:\n\t<presence to='${romm}@${muc}'/>\n",
        "6:16: unknown variable '${romm}'",
    ),
    (
        "unknown variable in a declaration",
        "# T\n[Client] Romeo\n\tjid: ${user}@${domain}\n---\nRomeo connects\n",
        "3:7: unknown variable '${user}'",
    ),
    (
        "actor address in a declaration",
        "# T\n[Client] Romeo\n\tjid: x@${domain}/${Romeo's JID}\n---\nRomeo connects\n",
        "3:19: '${Romeo's JID}' cannot be used in a declaration",
    ),
    (
        "window without unit",
        HEADER + "Romeo must not receive within 3:\n\t<message/>\n",
        "5:31: bad window 'within 3'",
    ),
    (
        "window of zero",
        HEADER + "Romeo must not receive within 0s:\n\t<message/>\n",
        "5:31: bad window 'within 0s'",
    ),
    (
        "unknown need",
        HEADER + "@needs feture urn:x\nRomeo connects\n",
        "5:8: unknown need 'feture'",
    ),
    (
        "at on a fact",
        HEADER + "@needs fact x at y\nRomeo connects\n",
        "5:8: 'at JID' only applies to '@needs feature'",
    ),
    (
        "dangling annotation",
        HEADER + "Romeo connects\n@checks a-1\n",
        "6:1: an annotation at the end of the script applies to no step",
    ),
    (
        "one-of value with one value",
        HEADER + "Romeo receives:\n\t<iq type='{scansion:one-of:result}'/>\n",
        "6:6: malformed one-of '{scansion:one-of:result}': it needs two or more non-empty values",
    ),
    (
        "one-of value with an empty value",
        HEADER + "Romeo receives:\n\t<iq type='{scansion:one-of:a||b}'/>\n",
        "6:6: malformed one-of '{scansion:one-of:a||b}': it needs two or more non-empty values",
    ),
    (
        "unknown value form",
        HEADER + "Romeo receives:\n\t<iq type='{scansion:oneof:a|b}'/>\n",
        "6:6: unknown value form '{scansion:oneof:a|b}'",
    ),
    (
        "one-of element with one candidate",
        HEADER + "Romeo receives:\n\t<iq><error><scansion:one-of><a/></scansion:one-of>"
        "</error></iq>\n",
        "6:14: <scansion:one-of> needs two or more candidate elements",
    ),
    (
        "one-of element as a stanza",
        HEADER + "Romeo receives:\n\t<scansion:one-of><iq/><message/></scansion:one-of>\n",
        "6:3: <scansion:one-of> cannot be a whole stanza",
    ),
    (
        "one-of element across namespaces",
        HEADER + "Romeo receives:\n\t<iq><scansion:one-of><a xmlns='x'/><b xmlns='y'/>"
        "</scansion:one-of></iq>\n",
        "6:7: the candidates of a <scansion:one-of> must share one namespace",
    ),
    (
        "order other than any",
        HEADER + "Romeo receives:\n\t<iq><query xmlns='q' scansion:order='sorted'/></iq>\n",
        "6:23: scansion:order must be 'any', not 'sorted'",
    ),
    (
        "optional stanza",
        HEADER + "Romeo receives:\n\t<iq scansion:optional='true'/>\n",
        "6:6: a whole stanza cannot be optional",
    ),
    (
        "optional other than true",
        HEADER + "Romeo receives:\n\t<iq><a scansion:optional='yes'/></iq>\n",
        "6:9: scansion:optional must be 'true', not 'yes'",
    ),
    (
        "unknown scansion attribute",
        HEADER + "Romeo receives:\n\t<iq scansion:strict='true' scansion:ordered='any'/>\n",
        "6:29: unknown attribute scansion:ordered",
    ),
    (
        "form in a sends block",
        HEADER + "Romeo sends:\n\t<iq><a scansion:optional='true'/></iq>\n",
        "6:9: scansion:optional in a sends block",
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN])
def test_each_form_has_a_located_lint_error(text: str, expected: str) -> None:
    with pytest.raises(ScriptError) as caught:
        parse(text)
    error = caught.value
    assert f"{error.line}:{error.column}: {error.message}" == expected


def test_a_forbidden_window_needs_seconds() -> None:
    assert parse(HEADER + "Romeo must not receive within 3600s:\n\t<iq/>\n").steps[0].within == 3600
