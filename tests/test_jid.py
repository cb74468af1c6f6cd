"""JID parsing and normalisation (RFC 7622 basics)."""

from __future__ import annotations

import pytest

from protocol.jid import JID


@pytest.mark.parametrize(
    ("text", "local", "domain", "resource"),
    [
        ("romeo@localhost/mK0dD6Ha", "romeo", "localhost", "mK0dD6Ha"),
        ("romeo@localhost", "romeo", "localhost", ""),
        ("localhost", "", "localhost", ""),
        ("conference.localhost/service", "", "conference.localhost", "service"),
        ("Romeo@LocalHost/Balcony", "romeo", "localhost", "Balcony"),
        ("romeo@localhost./r", "romeo", "localhost", "r"),
        (
            "room@conference.localhost/Juliet's phone",
            "room",
            "conference.localhost",
            "Juliet's phone",
        ),
        ("a@b/c/d@e", "a", "b", "c/d@e"),
        ("ÉLODIE@ÉCOLE.example", "élodie", "école.example", ""),
        ("u@[::1]/r", "u", "[::1]", "r"),
    ],
)
def test_parse(text: str, local: str, domain: str, resource: str) -> None:
    jid = JID.parse(text)
    assert (jid.local, jid.domain, jid.resource) == (local, domain, resource)


def test_bare_and_full() -> None:
    jid = JID.parse("Romeo@Localhost/Orchard")
    assert jid.bare == "romeo@localhost"
    assert jid.full == "romeo@localhost/Orchard"
    assert str(jid) == jid.full
    assert JID.parse("localhost").bare == "localhost"
    assert JID.parse("romeo@localhost").full == "romeo@localhost"
    assert jid.with_resource("x").full == "romeo@localhost/x"


def test_equal_after_normalisation() -> None:
    assert JID.parse("ROMEO@LOCALHOST/r") == JID.parse("romeo@localhost/r")
    assert JID.parse("romeo@localhost/R") != JID.parse("romeo@localhost/r")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("@localhost", "empty localpart"),
        ("romeo@", "empty domain"),
        ("romeo@localhost/", "empty resource"),
        ("/resource", "empty domain"),
        ("ro meo@localhost", "localpart may not contain"),
        ("ro:meo@localhost", "localpart may not contain :"),
        ("ro<meo@localhost", "localpart may not contain <"),
        ("ro'meo@localhost", "localpart may not contain '"),
        ("a@b@localhost", "localpart may not contain @"),
        ("romeo@local host", "malformed domain"),
        ("u@[::1", "malformed IPv6"),
        ("romeo@localhost/a\x00b", "control characters"),
        ("x" * 1024 + "@localhost", "localpart longer than 1023 bytes"),
        ("romeo@" + "d" * 1024, "domain longer than 1023 bytes"),
        ("romeo@localhost/" + "é" * 512, "resource longer than 1023 bytes"),
    ],
)
def test_rejects(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        JID.parse(text)


def test_longest_parts_are_accepted() -> None:
    jid = JID.parse("x" * 1023 + "@" + "d" * 1023 + "/" + "r" * 1023)
    assert len(jid.local) == len(jid.domain) == len(jid.resource) == 1023
