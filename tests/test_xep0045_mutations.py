"""A requirement the XEP-0045 suite passes on the reference server must fail when broken.

For a sample of requirements, one expectation of the step that checks it is
changed the way a non-conforming server would differ (another error
condition, status code, role, affiliation or address). The unchanged script
gives the requirement a pass on the reference server; the changed one must
give it a fail. A check that cannot flip would prove nothing.
"""

from __future__ import annotations

import asyncio
import functools
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.parser import parse_text
from harness.results import MatrixResult
from harness.runner import RunOptions, run_scripts
from harness.targets import parse_target
from harness.verdicts import Verdict, run_verdicts
from tests.conftest import ROOT

SUITE = ROOT / "specs" / "xep0045"
# A changed expectation fails by timing out: the embedded server routes at once.
OPTIONS = RunOptions(timeout=0.5, quiet_period=0.2)

# (requirement, script, the checking step's line starts after this text, old, new)
MUTATIONS = [
    (
        "xep0045-6.2-1",
        "disco.scs",
        'id="service-info"',
        'category="conference"',
        'category="directory"',
    ),
    ("xep0045-7.2.2-3", "enter.scs", "Juliet receives in order:", 'code="110"', 'code="111"'),
    ("xep0045-7.2.3-2", "enter.scs", "Juliet receives in order:", 'code="100"', 'code="172"'),
    ("xep0045-10.1.1-5", "enter.scs", "Romeo receives:", 'code="201"', 'code="210"'),
    (
        "xep0045-7.2.10-1",
        "enter_locked_room.scs",
        "Juliet receives:",
        "item-not-found",
        "forbidden",
    ),
    ("xep0045-7.2.5-1", "enter_errors.scs", "Juliet receives:", "not-authorized", "forbidden"),
    (
        "xep0045-7.2.6-1",
        "enter_errors.scs",
        'Mercutio receives:\n\t<presence from="${room}@${muc}/Mercutio"',
        "registration-required",
        "forbidden",
    ),
    ("xep0045-7.2.8-1", "enter_errors.scs", "Mercutio receives:", "conflict", "not-acceptable"),
    (
        "xep0045-7.4-2",
        "messages.scs",
        "Juliet receives:\n\t<message",
        "${room}@${muc}/Romeo",
        "${room}@${muc}/Juliet",
    ),
    ("xep0045-7.5-5", "private_messages.scs", 'id="loud-whisper"', "bad-request", "not-acceptable"),
    ("xep0045-7.5-6", "private_messages.scs", 'id="nobody"', "item-not-found", "bad-request"),
    ("xep0045-7.6-1", "occupant.scs", "Romeo receives:", 'code="303"', 'code="307"'),
    (
        "xep0045-7.14-3",
        "occupant.scs",
        "# Leaving",
        'affiliation="none" role="none"',
        'affiliation="none" role="visitor"',
    ),
    (
        "xep0045-7.2.13-3",
        "history.scs",
        "Juliet receives in order:",
        'delay xmlns="urn:xmpp:delay" from="${room}@${muc}" stamp',
        'delay xmlns="urn:xmpp:delay" from="${room}@${muc}/Romeo" stamp',
    ),
    ("xep0045-8.1-7", "subject.scs", 'id="usurp"', "forbidden", "not-allowed"),
    ("xep0045-8.2-1", "moderation.scs", "# Kicking", 'code="307"', 'code="301"'),
    (
        "xep0045-8.3-3",
        "moderation.scs",
        "# Granting voice",
        'affiliation="none" role="participant"',
        'affiliation="none" role="moderator"',
    ),
    ("xep0045-9.1-5", "ban.scs", 'id="ban"', 'code="301"', 'code="307"'),
    (
        "xep0045-9.2-1",
        "ban.scs",
        'id="ban-list"',
        'jid="${Juliet\'s JID}"/>\n\t\t</query>',
        'jid="${Romeo\'s JID}"/>\n\t\t</query>',
    ),
    (
        "xep0045-9.3-3",
        "membership.scs",
        'id="grant"',
        'affiliation="member" role="participant"',
        'affiliation="admin" role="participant"',
    ),
    ("xep0045-9.4-4", "membership.scs", 'id="expel"', 'code="321"', 'code="322"'),
    ("xep0045-10.2-1", "configuration.scs", 'id="peek"', "forbidden", "not-allowed"),
    ("xep0045-10.2.1-1", "configuration.scs", 'id="expose"', 'code="172"', 'code="174"'),
    (
        "xep0045-10.6-6",
        "affiliations.scs",
        'id="make-admin"',
        'affiliation="admin" role="moderator"',
        'affiliation="admin" role="participant"',
    ),
    (
        "xep0045-10.9-8",
        "destroy.scs",
        'id="destroy"',
        '<destroy jid="${unique:mantua}@${muc}">\n\t\t\t\t<reason>',
        '<destroy jid="${unique:verona}@${muc}">\n\t\t\t\t<reason>',
    ),
    ("xep0045-7.12-9", "register.scs", "Benvolio receives:", "conflict", "not-acceptable"),
]


def _verdicts(text: str, path: Path) -> dict[str, Verdict]:
    """Requirement id -> its verdict on the reference server after running the text."""
    script = parse_text(text, path)
    run = asyncio.run(run_scripts([script], parse_target("reference"), OPTIONS))
    rows = run_verdicts([script], MatrixResult([run], datetime.now(UTC)))
    return {row.requirement.id: row.verdicts["reference"].status for row in rows}


@functools.cache
def _unchanged(name: str) -> dict[str, Verdict]:
    path = SUITE / name
    return _verdicts(path.read_text(encoding="utf-8"), path)


def _mutate(text: str, anchor: str, old: str, new: str) -> str:
    start = text.index(anchor)
    where = text.index(old, start)
    return text[:where] + new + text[where + len(old) :]


def test_the_sample_is_large_and_distinct() -> None:
    assert len({requirement for requirement, *_ in MUTATIONS}) >= 20


@pytest.mark.parametrize(
    ("requirement", "name", "anchor", "old", "new"), MUTATIONS, ids=[m[0] for m in MUTATIONS]
)
def test_breaking_the_requirement_flips_its_verdict(
    requirement: str, name: str, anchor: str, old: str, new: str
) -> None:
    path = SUITE / name
    assert _unchanged(name)[requirement] is Verdict.PASS
    changed = _mutate(path.read_text(encoding="utf-8"), anchor, old, new)
    assert _verdicts(changed, path)[requirement] is Verdict.FAIL
