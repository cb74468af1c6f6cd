"""Broken scripts: each gives one ScriptError with the exact message, position and hint."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from lark import UnexpectedInput

from harness import parser
from harness.parser import ScriptError, check_file, parse_file, parse_text

HEADER = "# Errors\n[Client] Romeo\n\tjid: romeo@localhost\n---\n"  # the body starts on line 5
ACTIONS = "an action (connects, disconnects, sends:, receives:)"

# (id, script, "line:col: message", hint)
BROKEN = [
    (
        "strict that is neither true nor false",
        HEADER + "Romeo receives:\n\t<message scansion:strict='maybe'/>\n",
        "6:28: scansion:strict must be 'true' or 'false', not 'maybe'",
        None,
    ),
    (
        "an actor jid that is no JID",
        "# Errors\n[Client] Romeo\n\tjid: not a jid @@\n---\n",
        "3:7: invalid JID 'not a jid @@': localpart may not contain @",
        None,
    ),
    (
        "an actor jid without a localpart",
        "# Errors\n[Client] Romeo\n\tjid: localhost\n---\n",
        "3:7: a client's jid needs a localpart: 'localhost'",
        "write it as user@domain, e.g. 'jid: romeo@localhost'",
    ),
    (
        "unknown actor key",
        "# Errors\n[Client] Romeo\n\tjid: romeo@localhost\n\tpasword: x\n---\n",
        "4:2: unknown actor property 'pasword'",
        "did you mean 'password'?",
    ),
    (
        "unknown actor",
        HEADER + "Romeo connects\nRomoe sends:\n\t<presence/>\n",
        "6:1: unknown actor 'Romoe'",
        "did you mean 'Romeo'?",
    ),
    (
        "unknown actor, nothing close",
        HEADER + "Mercutio connects\n",
        "5:1: unknown actor 'Mercutio'",
        "declared actors: Romeo",
    ),
    (
        "missing jid",
        "# Errors\n[Client] Romeo\n\tpassword: secret\n---\nRomeo connects\n",
        "2:10: actor 'Romeo' has no jid",
        "add an indented line such as 'jid: user@localhost' under the declaration",
    ),
    (
        "empty jid",
        "# Errors\n[Client] Romeo\n\tjid:\n---\n",
        "2:10: actor 'Romeo' has no jid",
        "add an indented line such as 'jid: user@localhost' under the declaration",
    ),
    (
        "duplicate actor",
        HEADER.replace("---\n", "[Client] Romeo\n\tjid: other@localhost\n---\n"),
        "4:10: actor 'Romeo' is declared twice",
        "the first declaration is on line 2",
    ),
    (
        "duplicate property",
        "# Errors\n[Client] Romeo\n\tjid: a@localhost\n\tjid: b@localhost\n---\n",
        "4:2: property 'jid' is given twice",
        None,
    ),
    (
        "unknown object kind",
        "# Errors\n[Clinet] Romeo\n\tjid: romeo@localhost\n---\n",
        "2:2: unknown object kind 'Clinet'",
        "did you mean 'Client'?",
    ),
    (
        "unclosed tag",
        HEADER + "Romeo sends:\n\t<iq type='get'>\n\t\t<query/>\n\nRomeo disconnects\n",
        "6:2: the XML block is not well-formed: <iq> is never closed",
        None,
    ),
    (
        "mismatched closing tag",
        HEADER + "Romeo sends:\n\t<iq>\n\t\t<query>\n\t\t</quer>\n\t</iq>\n",
        "8:3: the XML block is not well-formed: closing tag </quer> does not match <query>",
        None,
    ),
    (
        "attribute without quotes",
        HEADER + "Romeo sends:\n\t<iq type=get/>\n",
        "6:11: the XML block is not well-formed: AttValue: \" or ' expected",
        None,
    ),
    (
        "unknown actor in a variable",
        HEADER + 'Romeo sends:\n\t<message to="${Juliet\'s full JID}"/>\n',
        "6:15: unknown actor 'Juliet' in a variable",
        "declared actors: Romeo",
    ),
    (
        "misspelt actor in a variable",
        HEADER + 'Romeo receives:\n\t<presence from="${Romeos\'s JID}"/>\n',
        "6:18: unknown actor 'Romeos' in a variable",
        "did you mean 'Romeo'?",
    ),
    (
        "malformed variable",
        HEADER + "Romeo sends:\n\t<presence to='${Romeo JID}'/>\n",
        "6:16: malformed variable '${Romeo JID}'",
        "variables are ${Name's JID} (bare JID) or ${Name's full JID}",
    ),
    (
        "indented step",
        HEADER + "Romeo connects\n  Romeo disconnects\n",
        "6:1: expected a step such as 'Romeo connects', or a comment ('#', '//' or '--'), "
        "found an indented line",
        "only properties and the XML blocks after sends:/receives: are indented",
    ),
    (
        "block not indented",
        HEADER + "Romeo sends:\n<presence/>\n",
        "6:1: expected an indented XML block after 'sends:', found '<presence/>'",
        None,
    ),
    (
        "receives without a block",
        HEADER + "Romeo receives\n\nRomeo disconnects\n",
        "7:1: expected an indented XML block after 'receives:', found 'Romeo'",
        None,
    ),
    (
        "property not indented",
        "# Errors\n[Client] Romeo\njid: romeo@localhost\n---\n",
        "3:1: expected an indented 'key: value' property, another declaration, "
        "or a line of dashes ('-----') ending the header, found 'jid:'",
        "indent the 'key: value' lines under their declaration",
    ),
    (
        "property without colon",
        "# Errors\n[Client] Romeo\n\tjid romeo@localhost\n---\n",
        "3:6: expected ':' after the property name ('key: value'), found 'romeo@localhost'",
        None,
    ),
    (
        "unknown action",
        HEADER + "Romeo jumps\n",
        f"5:7: expected {ACTIONS} after the actor name, found 'jumps'",
        None,
    ),
    (
        "misspelt action",
        HEADER + "Romeo send:\n\t<presence/>\n",
        f"5:7: expected {ACTIONS} after the actor name, found 'send:'",
        "did you mean 'sends:'?",
    ),
    (
        "stray text after an action",
        HEADER + "Romeo connects now\n",
        "5:16: expected the end of the line after 'connects', found 'now'",
        None,
    ),
    (
        "stanza on the action line",
        HEADER + "Romeo sends: <presence/>\n",
        "5:14: expected the end of the line after 'sends:' "
        "(the stanza goes on the next, indented lines), found '<presence/>'",
        None,
    ),
    (
        "stray word after receives",
        HEADER + "Romeo receives: nothin\n",
        "5:17: expected 'nothing' or the end of the line after 'receives:' "
        "(the expected stanza goes on the next, indented lines), found 'nothin'",
        None,
    ),
    (
        "declaration among the steps",
        HEADER + "[Client] Juliet\n",
        f"5:10: expected {ACTIONS} after the actor name, found 'Juliet'",
        "declarations belong in the header, above the line of dashes ('-----')",
    ),
    (
        "missing line of dashes",
        "# Errors\n[Client] Romeo\n\tjid: romeo@localhost\n\nRomeo connects\n",
        "5:1: expected an indented 'key: value' property, another declaration, "
        "or a line of dashes ('-----') ending the header, found 'Romeo'",
        "a line of three or more dashes ('-----') must separate declarations and steps",
    ),
    (
        "header that never ends",
        "# Errors\n[Client] Romeo\n\tjid: romeo@localhost\n\n",
        "3:22: expected an indented 'key: value' property, another declaration, "
        "or a line of dashes ('-----') ending the header, found the end of the file",
        "a line of three or more dashes ('-----') must separate declarations and steps",
    ),
    (
        "text after the dashes",
        "# Errors\n----- steps\n",
        "2:7: expected the end of the line after the dashes, found 'steps'",
        None,
    ),
    (
        "no-break space between name and action",
        HEADER + "Romeo\u00a0connects\n",
        f"5:6: expected {ACTIONS} after the actor name, found the invisible character U+00A0",
        None,
    ),
]


@pytest.mark.parametrize(
    "text,expected,hint", [case[1:] for case in BROKEN], ids=[c[0] for c in BROKEN]
)
def test_broken_script_gives_exact_error(text: str, expected: str, hint: str | None) -> None:
    with pytest.raises(ScriptError) as caught:
        parse_text(text, Path("broken.scs"))
    error = caught.value
    assert f"{error.line}:{error.column}: {error.message}" == expected
    assert error.hint == hint
    assert error.path == Path("broken.scs")
    rendered = str(error).splitlines()
    assert rendered[0] == f"broken.scs:{expected}"
    assert rendered[1] == "    " + text.split("\n")[error.line - 1].expandtabs(4).replace(
        "\u00a0", "\\xa0"
    )
    assert rendered[2].endswith("^")
    assert (rendered[-1] == f"hint: {hint}") if hint else len(rendered) == 3


def test_caret_is_under_the_column_even_after_tabs() -> None:
    with pytest.raises(ScriptError) as caught:
        parse_text(HEADER + "Romeo sends:\n\t\t<x a='1'\tb=c/>\n", Path("tabs.scs"))
    _, source, caret = str(caught.value).splitlines()
    assert source == "            <x a='1'    b=c/>"
    assert caret.index("^") == source.index("c/>")


def test_check_file_reports_every_problem_in_line_order(tmp_path: Path) -> None:
    script = tmp_path / "many.scs"
    script.write_text(
        "# Many\n[Client] Romeo\n[Client] Juliet\n\tjid: j@localhost\n---\n"
        'Romoe connects\nJuliet sends:\n\t<iq to="${Tybalt\'s JID}"><a></iq>\n',
        encoding="utf-8",
    )
    problems = [(e.line, e.column, e.message) for e in check_file(script)]
    assert problems == [
        (2, 10, "actor 'Romeo' has no jid"),
        (6, 1, "unknown actor 'Romoe'"),
        (8, 10, "unknown actor 'Tybalt' in a variable"),
        (8, 30, "the XML block is not well-formed: closing tag </iq> does not match <a>"),
    ]


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    script = tmp_path / "latin1.scs"
    script.write_bytes(b"# Caf\xe9\n[Client] Romeo\n\tjid: r@localhost\n---\n")
    with pytest.raises(ScriptError) as caught:
        parse_file(script)
    error = caught.value
    assert (error.line, error.column) == (1, 6)
    assert error.message == "the script is not UTF-8 text (byte 0xe9)"
    assert error.hint == "save the file as UTF-8"


def test_a_file_that_cannot_be_read(tmp_path: Path) -> None:
    missing = tmp_path / "missing.scs"
    with pytest.raises(ScriptError) as caught:
        parse_file(missing)
    assert str(caught.value) == f"{missing}: cannot read the script: No such file or directory"


def test_an_empty_script() -> None:
    with pytest.raises(ScriptError) as caught:
        parse_text("", Path("empty.scs"))
    assert caught.value.message == (
        "expected a '#' title, a declaration such as '[Client] Romeo', a '//' comment, "
        "or a line of dashes ('-----') ending the header, found the end of the file"
    )


def test_each_syntax_example_names_its_own_situation() -> None:
    """The examples behind the messages never disagree about a parser situation."""
    seen: dict[object, str] = {}
    for expectation, examples in parser._EXPECTATIONS.items():
        for example in examples:
            with pytest.raises(UnexpectedInput) as caught:
                parser._grammar().parse(example)
            key = parser._state_key(caught.value)
            assert seen.setdefault(key, expectation) == expectation, example


def test_script_error_survives_pickling() -> None:
    """Runners may parse in worker processes; the error must cross back intact."""
    with pytest.raises(ScriptError) as caught:
        parse_text(HEADER + "Romoe connects\n", Path("p.scs"))
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (copy.path, copy.line, copy.column, copy.hint) == (
        Path("p.scs"),
        5,
        1,
        caught.value.hint,
    )
    assert str(copy) == str(caught.value)
