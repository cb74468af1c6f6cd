"""Whatever the text, the parser answers with a Script or a ScriptError, quickly."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.model import Script
from harness.parser import ScriptError, parse_text
from tests.conftest import CORPUS, ROOT, SEEDS

SCRIPTS = sorted((ROOT / "specs" / "prosody").glob("*.scs"))
SCRIPTS += sorted(SEEDS.glob("*.scs")) + sorted(CORPUS.glob("*.scs"))
TEXTS = [path.read_text(encoding="utf-8") for path in SCRIPTS]

# Pieces of the language, so random text often gets deep into the grammar.
FRAGMENTS = [
    "# Title",
    "// comment",
    "-- comment",
    "-----",
    "[Client] Romeo",
    "[Client] Juliet's phone",
    "[Client",
    "[",
    "\tjid: romeo@localhost",
    "\tpassword: password",
    "\tjid",
    "Romeo connects",
    "Romeo disconnects",
    "Romeo sends:",
    "Romeo receives:",
    "Romeo receives: nothing",
    "Juliet's phone sends",
    "\t<presence/>",
    "\t<iq type='get'>",
    "\t</iq>",
    '\t<x a="${Romeo\'s full JID}"/>',
    '\t<x a="${Nobody\'s JID}"/>',
    "\t${",
    "",
    "\t",
    "  ",
]
LINES = st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=30))


def _assert_answers(text: str) -> None:
    try:
        script = parse_text(text, Path("fuzz.scs"))
    except ScriptError as error:
        rendered = str(error)
        assert rendered.startswith("fuzz.scs:")
        for internal in ("Token(", "$END", "_NL", "Traceback", "scansion-block"):
            assert internal in text or internal not in rendered
        assert 1 <= error.line <= text.count("\n") + 1
        assert error.column >= 1
    else:
        assert isinstance(script, Script)
        for step in script.steps:
            assert 1 <= step.line <= text.count("\n") + 1


@settings(max_examples=300, deadline=1000)
@given(st.text())
def test_random_text(text: str) -> None:
    _assert_answers(text)


@settings(max_examples=300, deadline=1000)
@given(st.lists(LINES, max_size=25).map("\n".join))
def test_random_lines_of_the_language(text: str) -> None:
    _assert_answers(text)


@st.composite
def mutated_scripts(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(TEXTS))
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, min(len(text), start + 40)))
        kind = draw(st.sampled_from(["delete", "insert", "replace", "swap_lines", "reindent"]))
        if kind == "delete":
            text = text[:start] + text[end:]
        elif kind == "insert":
            text = text[:start] + draw(LINES) + text[start:]
        elif kind == "replace":
            text = text[:start] + draw(st.text(max_size=5)) + text[end:]
        else:
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            if kind == "swap_lines":
                lines[i], lines[j] = lines[j], lines[i]
            else:
                lines[i] = draw(st.sampled_from(["", "\t", "  ", "\t\t"])) + lines[i].lstrip()
            text = "\n".join(lines)
    return text


@settings(max_examples=300, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_scripts())
def test_mutated_corpus_scripts(text: str) -> None:
    _assert_answers(text)
