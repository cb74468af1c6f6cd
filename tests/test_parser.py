"""The .scs parser on real scripts: the corpus, one seed field by field, the language's corners."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from lark import Lark
from lark import logger as lark_logger

from harness.model import Action, Script
from harness.parser import GRAMMAR, ScriptError, parse_file, parse_text
from tests.conftest import CORPUS, ROOT, SEEDS

PROJECT_SEEDS = ROOT / "specs" / "prosody"
SHARED_SCRIPTS = ("seeds", SEEDS), ("corpus", CORPUS)


def _shared_scripts() -> list[Path]:
    return sorted(SEEDS.glob("*.scs")) + sorted(CORPUS.glob("*.scs"))


@pytest.mark.parametrize("where,directory", SHARED_SCRIPTS, ids=[w for w, _ in SHARED_SCRIPTS])
def test_every_shared_script_parses(where: str, directory: Path) -> None:
    if not directory.is_dir():
        pytest.skip(f"{directory} is absent (set SCANSION_SHARED to the shared material)")
    scripts = sorted(directory.glob("*.scs"))
    assert scripts, f"no scripts in {directory}"
    for path in scripts:
        script = parse_file(path)
        assert script.title, path
        assert script.actors, path
        assert script.steps, path


def test_shared_material_holds_36_scripts() -> None:
    if not (SEEDS.is_dir() and CORPUS.is_dir()):
        pytest.skip("the shared seeds and corpus are absent")
    assert len(_shared_scripts()) == 36


@pytest.mark.parametrize("path", sorted(PROJECT_SEEDS.glob("*.scs")), ids=lambda p: p.name)
def test_project_copies_of_the_seeds_parse(path: Path) -> None:
    script = parse_file(path)
    assert script.path == path
    assert {step.actor for step in script.steps} <= {actor.name for actor in script.actors}


def test_muc_password_field_by_field() -> None:
    script = parse_file(PROJECT_SEEDS / "muc_password.scs")

    assert script.title == "MUC: Password-protected rooms"
    assert script.description == ""
    assert [actor.name for actor in script.actors] == ["Romeo", "Juliet"]
    romeo, juliet = script.actors
    assert (romeo.kind, romeo.jid, romeo.password) == ("Client", "user@localhost", "password")
    assert (romeo.line, romeo.column) == (3, 10)
    assert (juliet.jid, juliet.line) == ("user2@localhost", 7)

    assert len(script.steps) == 25
    first, second, third = script.steps[:3]
    assert (first.actor, first.action, first.xml, first.line, first.column) == (
        "Romeo",
        Action.CONNECTS,
        None,
        13,
        1,
    )
    assert (second.action, second.line) == (Action.SENDS, 15)
    assert second.xml == (
        '<presence to="room@conference.localhost/Romeo">\n'
        '\t<x xmlns="http://jabber.org/protocol/muc"/>\n'
        "</presence>"
    )
    assert (third.action, third.line) == (Action.RECEIVES, 20)
    assert "${Romeo's full JID}" in third.xml
    juliet_joins = script.steps[9]
    assert (juliet_joins.actor, juliet_joins.action, juliet_joins.line) == (
        "Juliet",
        Action.SENDS,
        67,
    )
    last = script.steps[-1]
    assert (last.actor, last.action, last.line) == ("Romeo", Action.RECEIVES, 141)
    assert last.xml == '<presence from="room@conference.localhost/Juliet" />'


def _script(body: str, header: str = "[Client] Romeo\n\tjid: romeo@localhost\n") -> Script:
    return parse_text(f"# A title\n\n{header}\n-----\n\n{body}", Path("corner.scs"))


def test_title_and_description_come_from_the_leading_hash_lines() -> None:
    script = parse_text(
        "# Title here\n# first line\n#second line\n\n[Client] Romeo\n\tjid: r@localhost\n"
        "# not description: after a declaration\n---\n",
        Path("t.scs"),
    )
    assert script.title == "Title here"
    assert script.description == "first line\nsecond line"
    assert script.steps == ()


def test_multi_word_names_and_unknown_properties() -> None:
    script = _script(
        "Juliet's phone connects\n"
        "Juliet's phone sends:\n\t<presence to=\"${Juliet's phone's JID}\"/>\n",
        header="[Client] Juliet's phone\n\tjid: juliet@localhost\n\tresource: mobile\n"
        "\tpassword: secret\n",
    )
    phone = script.actor("Juliet's phone")
    assert dict(phone.properties) == {
        "jid": "juliet@localhost",
        "resource": "mobile",
        "password": "secret",
    }
    assert [step.actor for step in script.steps] == ["Juliet's phone"] * 2


def test_colon_is_optional_and_receives_nothing() -> None:
    script = _script(
        "Romeo sends\n\t<presence/>\nRomeo receives\n\t<presence/>\n"
        "Romeo receives: nothing\nRomeo receives nothing\nRomeo disconnects\n"
    )
    assert [step.action for step in script.steps] == [
        Action.SENDS,
        Action.RECEIVES,
        Action.RECEIVES_NOTHING,
        Action.RECEIVES_NOTHING,
        Action.DISCONNECTS,
    ]
    assert script.steps[2].xml is None


def test_block_keeps_inner_blank_lines_and_drops_trailing_ones() -> None:
    script = _script(
        "Romeo sends:\n\t<iq id='1'/>\n\n\t\n\t<iq id='2'>\n\t  <x/>\n\t</iq>\n\n\n# comment\n"
        "Romeo disconnects\n"
    )
    sends = script.steps[0]
    assert sends.xml == "<iq id='1'/>\n\n\n<iq id='2'>\n  <x/>\n</iq>"
    assert (script.steps[1].action, script.steps[1].line) == (Action.DISCONNECTS, 18)


def test_comments_of_every_kind_are_ignored() -> None:
    script = parse_text(
        "# T\n// header comment\n[Client] Romeo\n\tjid: r@localhost\n-- header\n---------\n"
        "// vim: syntax=xml:\n-- Romeo sends:\n-- \t<iq/>\n--\n# Romeo disconnects\n-----\n"
        "Romeo connects\n",
        Path("c.scs"),
    )
    assert [(step.action, step.line) for step in script.steps] == [(Action.CONNECTS, 13)]


def test_crlf_line_endings_and_missing_final_newline() -> None:
    text = "# T\r\n[Client] Romeo\r\n\tjid: r@localhost \r\n---\r\nRomeo sends:\r\n\t<a>\r\n\t</a>"
    script = parse_text(text, Path("crlf.scs"))
    assert script.actor("Romeo").jid == "r@localhost"
    assert script.steps[0].xml == "<a>\n</a>"


def test_step_position_is_the_actor_name() -> None:
    script = _script("\n\nRomeo connects\n")
    assert (script.steps[0].line, script.steps[0].column) == (10, 1)


def test_grammar_has_no_conflicts(caplog: pytest.LogCaptureFixture) -> None:
    lark_logger.setLevel(logging.DEBUG)
    with caplog.at_level(logging.DEBUG, logger="lark"):
        Lark(GRAMMAR.read_text(encoding="utf-8"), parser="lalr", lexer="contextual", debug=True)
    conflicts = [record.message for record in caplog.records if "conflict" in record.message]
    assert conflicts == []


def test_error_text_quotes_the_line_with_a_caret_under_the_column() -> None:
    with pytest.raises(ScriptError) as caught:
        _script("Romeo sends:\n\t<iq>\n\t\t<query>\n\t\t</quer>\n\t</iq>\n")
    assert str(caught.value).splitlines() == [
        "corner.scs:11:3: the XML block is not well-formed: closing tag </quer> does not match "
        "<query>",
        "            </quer>",
        "            ^",
    ]
