"""JID parsing and normalisation (RFC 7622 basics)."""

from __future__ import annotations

import pytest

from protocol.jid import JID, nodeprep, resourceprep, split_jid


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


# What Prosody 0.12.3 and 13.0.1 answer for these addresses (their errors'
# `from`), checked against both: specs/core/address_preparation.scs.
@pytest.mark.parametrize(
    ("text", "prepared"),
    [
        ("\u03a3\u0391\u03a3@localhost/x", "\u03c3\u03b1\u03c3@localhost/x"),
        ("Stra\u00dfe@LocalHost./Res", "strasse@localhost/Res"),
        ("\ufb00@localhost", "ff@localhost"),
        ("juliet@localhost/x\u200by", "juliet@localhost/xy"),
        ("LOCALHOST\ufe0f", "localhost"),
        ("\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54", "localhost"),
        ("Juliet@localhost/a b", "juliet@localhost/a b"),
        ("a\u0378@localhost", "a\u0378@localhost"),
        ("room@conference.localhost/\U0001f916\ufe0f", "room@conference.localhost/\U0001f916"),
    ],
)
def test_prepared_as_prosody_prepares(text: str, prepared: str) -> None:
    assert JID.parse(text).full == prepared
    assert split_jid(text) == JID.parse(text)


@pytest.mark.parametrize(
    ("nick", "prepared"),
    [
        ("mia\u200b", "mia"),
        ("\uff4d\uff49\uff41", "mia"),
        ("MIA", "MIA"),
        ("a\ufe0f", "a"),
        ("Juliet's phone", "Juliet's phone"),
    ],
)
def test_nicknames_are_resourceprepped(nick: str, prepared: str) -> None:
    assert resourceprep(nick) == prepared
    assert resourceprep(nick, strict=True) == prepared


def test_strict_preparation_refuses_unassigned_code_points() -> None:
    # Unicode 3.2 (the stringprep tables) has no U+1F916: Prosody refuses it as a nickname.
    assert resourceprep("\U0001f916") == "\U0001f916"
    assert resourceprep("\U0001f916", strict=True) is None
    assert nodeprep("a\u0378") == "a\u0378"
    assert nodeprep("a\u0378", strict=True) is None


@pytest.mark.parametrize(
    "text",
    [
        "a b@localhost",  # nodeprep prohibits ASCII space
        "a\u00a0b@localhost",  # and non-ASCII space
        "romeo@localhost/a\u2028b",  # resourceprep prohibits line separators
        "romeo@localhost/\u05d0a",  # right-to-left text mixed with left-to-right
        "romeo@localhost/\u200b",  # mapped to nothing: empty
    ],
)
def test_profiles_refuse(text: str) -> None:
    assert split_jid(text) is None
    with pytest.raises(ValueError, match="invalid JID"):
        JID.parse(text)
