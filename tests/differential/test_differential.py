"""The differential check on a few seeded sessions, recorded on each of Prosody and the reference.

`--differential-sessions N` runs N sessions instead of the CI's few; any
divergence fails the test with the clusters and the seeds that show them
(`python -m tests.differential.check --seed S --sessions 1 --keep DIR` writes
a seed's script for a closer look).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from harness.parser import parse_text
from harness.results import Status
from harness.runner import run_on_target
from harness.targets import parse_target
from tests.differential.check import FORWARD, REPLAY, Summary, run, signature
from tests.differential.sessions import generate

FIRST_SEED = 1


def test_a_seed_always_gives_the_same_session() -> None:
    assert generate(7) == generate(7)
    assert generate(7).actions != generate(8).actions
    for seed in range(1, 40):
        session = generate(seed)
        assert 2 <= len(session.users) <= 4
        sends = [a for a in session.actions if a.kind == "send"]
        assert 11 <= len(sends) <= 42  # the opening join (and configuration), then 10-40 actions


def test_generated_sessions_cover_the_families() -> None:
    sent = "".join(a.xml for seed in range(1, 30) for a in generate(seed).actions)
    for needle in (
        "<history ",
        "<password>",
        'type="chat"',
        "<subject>",
        "muc#owner",
        'affiliation="outcast"',
        'role="visitor"',
        "<destroy>",
        "<invite ",
        "disco#info",
        "jabber:iq:register",
        "vcard-temp",
        "urn:xmpp:mam:2",
        'type="subscribe"',
        'type="result"',
        "muc#request",
    ):
        assert needle in sent, f"no session sends {needle}"
    assert 'name="muc#roomconfig_historylength"><value>-' not in sent


@pytest.fixture(scope="module")
def summary(prosody: tuple[str, int], differential_sessions: int) -> Summary:
    seeds = range(FIRST_SEED, FIRST_SEED + differential_sessions)
    return asyncio.run(run(seeds, prosody))


@pytest.mark.prosody
def test_random_sessions_replay_on_the_other_server(summary: Summary) -> None:
    report = "\n".join(summary.lines())
    assert any(o.stable for o in summary.outcomes), "no session replayed where recorded\n" + report
    assert not summary.clusters(), "the reference and Prosody differ\n" + report


@pytest.mark.prosody
def test_a_divergence_is_caught_and_named_by_its_stanza(summary: Summary) -> None:
    recorded_on_prosody = summary.outcomes[0].directions[0]
    assert recorded_on_prosody.name == FORWARD and recorded_on_prosody.stable
    # Expect another body in the first message a client received, as if
    # Prosody had sent that: the reference must be caught not sending it.
    blocks = recorded_on_prosody.script.split("\n\n")
    received = [i for i, b in enumerate(blocks) if " receives:" in b and "<body>" in b]
    assert received, "no client received a message with a body"
    first = received[0]
    blocks[first] = re.sub(r"<body>[^<]*</body>", "<body>changed</body>", blocks[first], count=1)
    script = parse_text("\n\n".join(blocks), Path("changed.scs"))
    result = asyncio.run(run_on_target(script, parse_target("reference"), REPLAY))
    assert result.status == Status.FAILED
    assert signature(result).startswith("message")
