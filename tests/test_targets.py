"""Target strings: every accepted form, and errors that say what to write instead."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from harness.targets import Endpoint, Target, TargetError, parse_target


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("localhost:5222", Target("localhost:5222", "localhost", 5222)),
        ("127.0.0.1:15222", Target("127.0.0.1:15222", "127.0.0.1", 15222)),
        ("[::1]:5222", Target("[::1]:5222", "::1", 5222)),
        ("tls://xmpp.example:5223", Target("tls://xmpp.example:5223", "xmpp.example", 5223, True)),
        ("reference", Target("reference", embedded=True)),
        ("prosody=127.0.0.1:15222", Target("prosody", "127.0.0.1", 15222)),
        ("secure=tls://h:5223", Target("secure", "h", 5223, True)),
        ("ours=reference", Target("ours", embedded=True)),
        ("  localhost:5222 ", Target("localhost:5222", "localhost", 5222)),
    ],
)
def test_accepted_forms(text: str, expected: Target) -> None:
    assert parse_target(text) == expected


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("", "empty target"),
        ("localhost", "has no port"),
        ("localhost:", "bad port ''"),
        ("localhost:xmpp", "bad port 'xmpp'"),
        ("localhost:0", "expected 1-65535"),
        ("localhost:70000", "expected 1-65535"),
        (":5222", "has no host"),
        ("::1:5222", "[ADDRESS]:PORT"),
        ("[::1]5222", "[ADDRESS]:PORT"),
        ("xmpp://localhost:5222", "unknown scheme 'xmpp'"),
        ("bad name=localhost:5222", "bad target name 'bad name'"),
        ("a=b=localhost:1", "only one '='"),
        ("p=", "empty target"),
    ],
)
def test_bad_targets_explain(text: str, hint: str) -> None:
    with pytest.raises(TargetError) as caught:
        parse_target(text)
    assert hint in str(caught.value)


def test_label_is_the_name_or_the_text() -> None:
    assert str(parse_target("prosody=127.0.0.1:15222")) == "prosody"
    assert str(parse_target("tls://h:5223")) == "tls://h:5223"


def test_only_the_embedded_server_makes_scripts_independent() -> None:
    assert parse_target("reference").independent
    assert not parse_target("localhost:5222").independent


def test_network_endpoint_is_the_address() -> None:
    async def endpoint() -> Endpoint:
        async with parse_target("tls://h:5223").endpoint() as where:
            return where

    assert asyncio.run(endpoint()) == ("h", 5223, True)


def test_reference_endpoint_is_a_fresh_listening_server() -> None:
    pytest.importorskip("reference.server", reason="the reference server is not built yet")

    async def ports() -> list[int]:
        seen = []
        for _ in range(2):
            async with parse_target("reference").endpoint() as (host, port, direct_tls):
                _, writer = await asyncio.open_connection(host, port)
                writer.close()
                assert not direct_tls
                seen.append(port)
        return seen

    first, second = asyncio.run(ports())
    assert first > 0 and second > 0


def test_scripts_run_against_the_embedded_reference_server() -> None:
    pytest.importorskip("reference.server", reason="the reference server is not built yet")
    from harness.parser import parse_text
    from harness.results import Status
    from harness.runner import RunOptions, run_scripts

    text = (
        "# Presence echo\n\n[Client] Romeo\n\tjid: romeo@localhost/orchard\n\tpassword: pw\n\n"
        "---\n\nRomeo connects\n\nRomeo sends:\n\t<presence/>\n\n"
        'Romeo receives:\n\t<presence from="${Romeo\'s full JID}"/>\n\nRomeo disconnects\n'
    )
    scripts = [parse_text(text, Path(f"echo{i}.scs")) for i in range(2)]
    result = asyncio.run(run_scripts(scripts, parse_target("reference"), RunOptions(timeout=2)))
    assert [s.status for s in result.scripts] == [Status.PASSED, Status.PASSED], [
        s.failure for s in result.scripts
    ]
    assert result.target == "reference"
