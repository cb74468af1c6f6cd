"""Schema checks: bad values and misplaced elements are flagged with their path, while the
seed scripts, the corpus and everything a real Prosody sent validate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree

from harness import stanza_text
from harness.model import Action
from harness.parser import parse_file
from harness.schema import (
    SchemaViolation,
    schema_namespaces,
    validate_script_stanza,
    validate_stanza,
)
from protocol import namespaces as ns
from tests.conftest import CORPUS, ROOT, TRACES

SEED_SCRIPTS = sorted((ROOT / "specs" / "prosody").glob("*.scs"))
MUC_USER = f"xmlns='{ns.MUC_USER}'"


def stanza(text: str) -> etree._Element:
    return stanza_text.parse_block(text)[0]


def paths(violations: list[SchemaViolation]) -> list[str]:
    return [v.path for v in violations]


def only(violations: list[SchemaViolation]) -> SchemaViolation:
    assert len(violations) == 1, violations
    return violations[0]


def script_stanzas(script_path: Path) -> list[tuple[int, Action, etree._Element]]:
    """Every stanza of a script, variables replaced by JIDs, with its step's line and action."""
    script = parse_file(script_path)
    found = []
    for step in script.steps:
        if step.xml is None:
            continue
        text = stanza_text.substitute(
            step.xml, lambda actor, full: f"{actor.lower()}@localhost" + ("/r" if full else "")
        )
        found.extend((step.line, step.action, element) for element in stanza_text.parse_block(text))
    return found


# --- values -----------------------------------------------------------------------------


def test_status_code_that_is_not_a_number_is_flagged() -> None:
    violation = only(
        validate_stanza(stanza(f"<presence><x {MUC_USER}><status code='abc'/></x></presence>"))
    )
    assert violation.path == "/presence/x[muc#user]/status/@code"
    assert "'abc'" in violation.message
    assert violation.namespace == ns.MUC_USER


@pytest.mark.parametrize("code", ["99", "1000", "-110"])
def test_status_code_outside_100_999_is_flagged(code: str) -> None:
    element = stanza(f"<presence><x {MUC_USER}><status code='{code}'/></x></presence>")
    assert paths(validate_stanza(element)) == ["/presence/x[muc#user]/status/@code"]


def test_iq_type_outside_the_enumeration_is_flagged() -> None:
    violation = only(validate_stanza(stanza("<iq type='fetch' id='1'><ping xmlns='urn:x'/></iq>")))
    assert violation.path == "/iq/@type"
    assert "'fetch'" in violation.message and "get" in violation.message


@pytest.mark.parametrize(
    ("xml", "path"),
    [
        ("<message type='chatty'/>", "/message/@type"),
        ("<presence type='available'/>", "/presence/@type"),
        ("<presence><show>busy</show></presence>", "/presence/show"),
        ("<presence><priority>300</priority></presence>", "/presence/priority"),
        (
            f"<presence><x {MUC_USER}><item role='king'/></x></presence>",
            "/presence/x[muc#user]/item/@role",
        ),
        (
            f"<presence><x {MUC_USER}><item affiliation='friend'/></x></presence>",
            "/presence/x[muc#user]/item/@affiliation",
        ),
        (
            "<message type='error'><error type='fatal'><conflict xmlns='"
            + ns.STANZAS
            + "'/></error></message>",
            "/message/error/@type",
        ),
        (
            "<message><delay xmlns='urn:xmpp:delay' stamp='yesterday'/></message>",
            "/message/delay[urn:xmpp:delay]/@stamp",
        ),
        (
            "<iq type='set' id='1'><query xmlns='http://jabber.org/protocol/muc#owner'>"
            "<x xmlns='jabber:x:data' type='sent'/></query></iq>",
            "/iq/query[muc#owner]/x[jabber:x:data]/@type",
        ),
    ],
)
def test_values_outside_their_type_are_flagged(xml: str, path: str) -> None:
    assert paths(validate_stanza(stanza(xml))) == [path]


# --- placement ----------------------------------------------------------------------------


def test_muc_user_item_directly_under_presence_is_flagged() -> None:
    violation = only(
        validate_stanza(stanza(f"<presence><item {MUC_USER} role='none'/></presence>"))
    )
    assert violation.path == "/presence/item[muc#user]"
    assert "not allowed here" in violation.message
    assert violation.namespace == ns.MUC_USER


def test_body_inside_iq_is_flagged() -> None:
    violation = only(validate_stanza(stanza("<iq type='result' id='1'><body>hi</body></iq>")))
    assert violation.path == "/iq/body"
    assert violation.namespace == ns.CLIENT


def test_error_condition_outside_error_is_flagged() -> None:
    xml = f"<presence><conflict xmlns='{ns.STANZAS}'/></presence>"
    assert paths(validate_stanza(stanza(xml))) == [f"/presence/conflict[{ns.STANZAS}]"]


def test_child_repeated_beyond_its_maximum_is_flagged_with_its_position() -> None:
    xml = (
        f"<presence><x {MUC_USER}><item><reason>a</reason><reason>b</reason></item></x></presence>"
    )
    assert paths(validate_stanza(stanza(xml))) == ["/presence/x[muc#user]/item/reason[2]"]


def test_a_misplaced_element_does_not_hide_problems_in_its_siblings() -> None:
    xml = (
        f"<presence><bogus/><x {MUC_USER}><status code='abc'/><status code='110'/></x>"
        "<show>never</show></presence>"
    )
    assert sorted(paths(validate_stanza(stanza(xml)))) == [
        "/presence/bogus",
        "/presence/show",
        "/presence/x[muc#user]/status[1]/@code",
    ]


def test_unknown_attribute_is_flagged() -> None:
    violation = only(
        validate_stanza(stanza(f"<presence><x {MUC_USER}><item rank='1'/></x></presence>"))
    )
    assert violation.path == "/presence/x[muc#user]/item/@rank"


def test_rfc_6120_type_and_payload_rules() -> None:
    error_without_error = only(validate_stanza(stanza("<iq type='error' id='1'/>")))
    assert error_without_error.path == "/iq"
    assert "error" in error_without_error.message
    get_without_payload = only(validate_stanza(stanza("<iq type='get' id='1'/>")))
    assert "exactly one payload" in get_without_payload.message
    assert paths(validate_stanza(stanza("<iq type='result'/>"))) == ["/iq/@id"]


# --- what must pass ----------------------------------------------------------------------


def test_foreign_extensions_are_allowed_anywhere_a_stanza_allows_extensions() -> None:
    xml = (
        "<message type='groupchat' id='a/b+c='>"
        "<occupant-id xmlns='urn:xmpp:occupant-id:0' id='x'/>"
        "<body>hi</body>"
        "<stanza-id xmlns='urn:xmpp:sid:0' id='y' by='room@conference.localhost'/>"
        "<delay xmlns='urn:xmpp:delay' stamp='2024-01-01T00:00:00Z'/>"
        "</message>"
    )
    assert validate_stanza(stanza(xml)) == []


def test_elements_of_unknown_namespaces_are_skipped() -> None:
    assert validate_stanza(stanza("<anything xmlns='urn:unknown'><iq/></anything>")) == []
    command = (
        "<iq type='set' id='1'><command xmlns='http://jabber.org/protocol/commands' "
        "status='whatever'><x xmlns='jabber:x:data' type='sent'/></command></iq>"
    )
    # The unknown <command> is skipped, the known form inside it is still checked.
    assert paths(validate_stanza(stanza(command))) == [
        "/iq/command[commands]/x[jabber:x:data]/@type"
    ]


def test_schemas_cover_the_namespaces_of_the_specs() -> None:
    assert {
        ns.CLIENT,
        ns.STANZAS,
        ns.MUC,
        ns.MUC_USER,
        ns.MUC_ADMIN,
        ns.MUC_OWNER,
        ns.DATA_FORMS,
        ns.DISCO_INFO,
        ns.DISCO_ITEMS,
        ns.DELAY,
        ns.VCARD_UPDATE,
    } <= schema_namespaces()


# --- script stanzas ---------------------------------------------------------------------


def test_script_expectations_may_omit_required_attributes_and_children() -> None:
    partial = stanza("<iq type='error'><error><conflict xmlns='" + ns.STANZAS + "'/></error></iq>")
    assert validate_script_stanza(partial) == []
    assert sorted(paths(validate_stanza(partial))) == ["/iq/@id", "/iq/error/@type"]
    assert validate_script_stanza(stanza(f"<presence><x {MUC_USER}><status/></x></presence>")) == []


def test_script_expectations_still_check_what_is_present() -> None:
    xml = f"<presence type='gone'><x {MUC_USER}><status code='abc'/></x><body/></presence>"
    assert sorted(paths(validate_script_stanza(stanza(xml)))) == [
        "/presence/@type",
        "/presence/body",
        "/presence/x[muc#user]/status/@code",
    ]


def test_script_markers_variables_and_scansion_attributes_are_not_type_checked() -> None:
    xml = (
        f"<presence><x {MUC_USER} scansion:strict='true'>"
        "<status code='{scansion:capture:code}'/>"
        "<item role='{scansion:any}' jid=\"${Romeo's full JID}\"/></x>"
        "<delay xmlns='urn:xmpp:delay' stamp='{scansion:any}'/>"
        "<priority>{scansion:any}</priority></presence>"
    )
    assert validate_script_stanza(stanza(xml)) == []
    assert validate_script_stanza(stanza(xml), partial=False) == []


def test_markers_do_not_excuse_unknown_attributes() -> None:
    xml = f"<presence><x {MUC_USER}><item rank='{{scansion:any}}'/></x></presence>"
    assert paths(validate_script_stanza(stanza(xml))) == ["/presence/x[muc#user]/item/@rank"]


@pytest.mark.parametrize("script", SEED_SCRIPTS, ids=lambda p: p.stem)
def test_every_seed_stanza_passes(script: Path) -> None:
    found = [
        (line, str(v))
        for line, _, element in script_stanzas(script)
        for v in validate_script_stanza(element)
    ]
    assert found == []


def test_seed_sends_as_complete_stanzas_only_miss_the_form_type() -> None:
    """Prosody's own scripts submit an ad-hoc command form without the type XEP-0004 requires."""
    found = [
        (script.stem, line, v.path)
        for script in SEED_SCRIPTS
        for line, action, element in script_stanzas(script)
        if action is Action.SENDS
        for v in validate_script_stanza(element, partial=False)
    ]
    assert found == [("muc_create_destroy", 285, "/iq/command[commands]/x[jabber:x:data]/@type")]


def test_every_corpus_stanza_passes(shared_dir: Path) -> None:
    scripts = sorted(CORPUS.glob("*.scs"))
    if not scripts:
        pytest.skip(f"no scripts in {CORPUS}")
    found = [
        (script.name, line, str(v))
        for script in scripts
        for line, _, element in script_stanzas(script)
        for v in validate_script_stanza(element)
    ]
    assert found == []


# --- real server output -------------------------------------------------------------------


def received_stanzas(trace: Path) -> list[str]:
    clients = json.loads(trace.read_text())["clients"]
    return [item["xml"] for client in clients.values() for item in client["received"]]


def test_stanzas_prosody_sent_in_muc_scripts_validate(shared_dir: Path) -> None:
    traces = sorted((TRACES / "run0").glob("muc_*.json"))
    if not traces:
        pytest.skip(f"no MUC traces in {TRACES / 'run0'}")
    found = [
        (trace.name, str(v), xml)
        for trace in traces
        for xml in received_stanzas(trace)
        for v in validate_stanza(etree.fromstring(xml))
    ]
    assert sum(len(received_stanzas(t)) for t in traces) > 100
    assert found == []


def test_every_stanza_prosody_sent_in_all_runs_validates(shared_dir: Path) -> None:
    traces = sorted(TRACES.glob("run*/*.json"))
    if not traces:
        pytest.skip(f"no traces in {TRACES}")
    found = [
        (str(trace.relative_to(TRACES)), str(v), xml)
        for trace in traces
        for xml in received_stanzas(trace)
        for v in validate_stanza(etree.fromstring(xml))
    ]
    assert found == []
