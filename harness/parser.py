"""Parse `.scs` scripts into the model, with errors that point at the script's own text.

The grammar (`scs.lark`) is the source of truth for the syntax. This module turns
its tree into `harness.model` objects, then checks what a grammar cannot: that
steps name declared actors, that actors have a jid, that XML blocks are
well-formed and that `${X's JID}` variables name declared actors. Every problem
becomes a `ScriptError` that quotes the offending line with a caret under it.
"""

from __future__ import annotations

import difflib
import functools
import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from lark import Lark, Token, Transformer, UnexpectedInput, UnexpectedToken
from lark.visitors import Discard

from harness import stanza_text
from harness.model import Action, Actor, Script, Step
from protocol.jid import JID, split_jid

GRAMMAR = Path(__file__).with_name("scs.lark")
ACTOR_KINDS = ("Client",)
ACTOR_PROPERTIES = ("jid", "password", "resource")
_STRICT_VALUE = re.compile(r"""\bscansion:strict\s*=\s*(["'])(?P<value>.*?)\1""")


class ScriptError(Exception):
    """A problem in a script, located at a line and column of its text (both 1-based).

    `line` is 0 for problems with the file as a whole (unreadable, not UTF-8 text).
    """

    def __init__(
        self,
        path: Path,
        line: int,
        column: int,
        message: str,
        hint: str | None = None,
        source_line: str | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.column = column
        self.message = message
        self.hint = hint
        self.source_line = source_line
        super().__init__(self._render())

    def __reduce__(self) -> tuple:
        fields = (self.path, self.line, self.column, self.message, self.hint, self.source_line)
        return type(self), fields

    def _render(self) -> str:
        if self.line <= 0:
            parts = [f"{self.path}: {self.message}"]
        else:
            parts = [f"{self.path}:{self.line}:{self.column}: {self.message}"]
        if self.source_line is not None:
            shown = _printable(self.source_line).expandtabs(4)
            caret_at = len(_printable(self.source_line[: self.column - 1]).expandtabs(4))
            parts += [f"    {shown}", f"    {' ' * caret_at}^"]
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return _printable("\n".join(parts), keep="\t\n")


def _printable(text: str, keep: str = "\t") -> str:
    """Escape what a terminal would hide or choke on (NUL, no-break space, lone surrogates)."""
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() or char in keep else ascii(char)[1:-1] for char in text
    )


def parse_file(path: Path) -> Script:
    """Read and parse one script; raises ScriptError (also for unreadable files)."""
    return parse_text(_read(path), path)


def parse_text(text: str, path: Path) -> Script:
    """Parse a script's text; `path` only labels errors and the result."""
    script, errors = _analyse(text, path)
    if errors:
        raise errors[0]
    assert script is not None, "a script that parsed without errors"
    return script


def check_file(path: Path) -> list[ScriptError]:
    """Every problem of a script, in line order (a syntax error stops the analysis)."""
    try:
        text = _read(path)
    except ScriptError as error:
        return [error]
    return _analyse(text, path)[1]


# --------------------------------------------------------------------------- reading


def _read(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ScriptError(path, 0, 0, f"cannot read the script: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        source_line = data.split(b"\n")[line - 1].decode("utf-8", "replace")
        raise ScriptError(
            path,
            line,
            column,
            f"the script is not UTF-8 text (byte 0x{data[exc.start]:02x})",
            "save the file as UTF-8",
            source_line,
        ) from None


# --------------------------------------------------------------------------- syntax


@functools.cache
def _grammar() -> Lark:
    return Lark(GRAMMAR.read_text(encoding="utf-8"), parser="lalr", lexer="contextual")


@dataclass(frozen=True)
class _Name:
    text: str
    line: int
    column: int


@dataclass(frozen=True)
class _Property:
    key: str
    value: str
    line: int
    column: int
    value_column: int


@dataclass(frozen=True)
class _Declaration:
    kind: Token
    name: _Name
    properties: tuple[_Property, ...]


@dataclass(frozen=True)
class _Block:
    """An XML block: its dedented text, where it starts and how much indentation was removed."""

    xml: str
    first_line: int
    indent: int


@dataclass(frozen=True)
class _ParsedStep:
    step: Step
    block: _Block | None


@dataclass(frozen=True)
class _Parsed:
    notes: tuple[str, ...]
    declarations: tuple[_Declaration, ...]
    steps: tuple[_ParsedStep, ...]


class _ToModel(Transformer):
    """Turns the parse tree into plain records; the checks run on them afterwards.

    Header `#` lines before the first declaration are the title (the first one)
    and the description (the others); later ones are comments.
    """

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def start(self, children: list) -> _Parsed:
        notes, declarations = children[0]
        return _Parsed(notes, declarations, tuple(children[1]))

    def header(self, children: list) -> tuple[tuple[str, ...], tuple[_Declaration, ...]]:
        notes: list[str] = []
        declarations: list[_Declaration] = []
        for child in children:
            if isinstance(child, _Declaration):
                declarations.append(child)
            elif not declarations:
                notes.append(child)
        return tuple(notes), tuple(declarations)

    def note(self, children: list[Token]) -> str:
        return children[0].lstrip("#").strip()

    def header_comment(self, _children: list) -> object:
        return Discard

    def comment(self, _children: list) -> object:
        return Discard

    def declaration(self, children: list) -> _Declaration:
        kind, name, *properties = children
        return _Declaration(
            kind, _Name(" ".join(name.split()), name.line, name.column), tuple(properties)
        )

    def property(self, children: list[Token]) -> _Property:
        key = children[0]
        if len(children) > 1:
            value = children[1]
            return _Property(str(key), str(value), *_where(key), _where(value)[1])
        return _Property(str(key), "", *_where(key), _where(key)[1])

    def body(self, children: list[_ParsedStep]) -> list[_ParsedStep]:
        return children

    def actor(self, children: list) -> _Name:
        first, last = children[0], children[-1]
        if isinstance(first, _Name):
            return _Name(f"{first.text} {last}", first.line, first.column)
        return _Name(str(first), first.line, first.column)

    def connects(self, children: list) -> _ParsedStep:
        return self._step(children[0], Action.CONNECTS, None)

    def disconnects(self, children: list) -> _ParsedStep:
        return self._step(children[0], Action.DISCONNECTS, None)

    def sends(self, children: list) -> _ParsedStep:
        return self._step(children[0], Action.SENDS, children[-1])

    def receives(self, children: list) -> _ParsedStep:
        return self._step(children[0], Action.RECEIVES, children[-1])

    def receives_nothing(self, children: list) -> _ParsedStep:
        return self._step(children[0], Action.RECEIVES_NOTHING, None)

    def block(self, lines: list[Token]) -> _Block:
        raw = self._text[lines[0].start_pos : lines[-1].end_pos].replace("\r\n", "\n")
        xml = textwrap.dedent(raw)
        # The first line is never blank, so it shows how much indentation went.
        indent = len(raw.partition("\n")[0]) - len(xml.partition("\n")[0])
        return _Block(xml, _where(lines[0])[0], indent)

    @staticmethod
    def _step(name: _Name, action: Action, block: _Block | None) -> _ParsedStep:
        xml = block.xml if block else None
        return _ParsedStep(Step(name.text, action, xml, name.line, name.column), block)


def _syntax(text: str, path: Path) -> _Parsed:
    source = text if text.endswith("\n") else text + "\n"
    try:
        tree = _grammar().parse(source)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text, path) from None
    return _ToModel(source).transform(tree)


# --------------------------------------------------------------------------- syntax errors

_ACTIONS = "an action (connects, disconnects, sends:, receives:)"

# What the parser expected, in words, each with example scripts that fail in the
# same situation (see _state_key). Lark reports grammar terminals; users read these.
_EXPECTATIONS: dict[str, tuple[str, ...]] = {
    "expected a '#' title, a declaration such as '[Client] Romeo', a '//' comment, "
    "or a line of dashes ('-----') ending the header": (
        "",
        "\n",
        "Romeo connects\n",
        "# title\nRomeo connects\n",
        "// comment\nRomeo connects\n",
    ),
    "expected an indented 'key: value' property, another declaration, "
    "or a line of dashes ('-----') ending the header": (
        "[Client] Romeo\nRomeo connects\n",
        "[Client] Romeo\n\tjid: romeo@localhost\nRomeo connects\n",
    ),
    "expected an object kind such as 'Client' after '['": ("[ Client] Romeo\n", "[]\n"),
    "expected ']' after the object kind": ("[Client Romeo\n",),
    "expected the actor's name after the object kind": ("[Client]\n", "[Client] :\n"),
    "expected the end of the line after the actor's name": ("[Client] Romeo:\n",),
    "expected a property name such as 'jid' on the indented line": ("[Client] Romeo\n\t:x\n",),
    "expected ':' after the property name ('key: value')": (
        "[Client] Romeo\n\tjid romeo@localhost\n",
        "[Client] Romeo\n\tjid\n",
    ),
    "expected the end of the line after the dashes": ("-----x\n",),
    "expected a step such as 'Romeo connects', or a comment ('#', '//' or '--')": (
        "---\n:\n",
        "---\nRomeo connects\n:\n",
        "---\nRomeo sends:\n\t<iq/>\n:\n",
    ),
    f"expected {_ACTIONS} after the actor name": (
        "---\nRomeo\n",
        "---\nRomeo :\n",
        "---\nRomeo jumps\n",
        "---\nRomeo jumps:\n",
    ),
    "expected the end of the line after 'connects'": ("---\nRomeo connects x\n",),
    "expected the end of the line after 'disconnects'": ("---\nRomeo disconnects x\n",),
    "expected the end of the line after 'sends:' (the stanza goes on the next, indented lines)": (
        "---\nRomeo sends x\n",
        "---\nRomeo sends: x\n",
    ),
    "expected 'nothing' or the end of the line after 'receives:' "
    "(the expected stanza goes on the next, indented lines)": (
        "---\nRomeo receives x\n",
        "---\nRomeo receives: x\n",
        "---\nRomeo receives:x\n",
    ),
    "expected the end of the line after 'receives: nothing'": ("---\nRomeo receives: nothing x\n",),
    # {action} is filled with the keyword read last: sends and receives share these states.
    "expected an indented XML block after '{action}:'": (
        "---\nRomeo sends:\n",
        "---\nRomeo sends:\nRomeo connects\n",
        "---\nRomeo sends\n",
        "---\nRomeo receives:\n",
        "---\nRomeo receives\n",
    ),
}

# Fallback descriptions of the grammar's terminals, for states no example covers.
_TERMINALS = {
    "CONNECTS": "'connects'",
    "DISCONNECTS": "'disconnects'",
    "SENDS": "'sends'",
    "RECEIVES": "'receives'",
    "NOTHING": "'nothing'",
    "WORD": "a name",
    "NAME": "a name",
    "KIND": "an object kind",
    "KEY": "a property name",
    "VALUE": "a property value",
    "NOTE": "a '#' line",
    "COMMENT": "a comment",
    "_SEPARATOR": "a line of dashes",
    "BLOCK_LINE": "an indented line",
    "_INDENT": "an indented line",
    "_SP": "a space",
    "_NL": "the end of the line",
    "LSQB": "'['",
    "RSQB": "']'",
    "COLON": "':'",
    "$END": "the end of the file",
}

_ACTION_WORDS = ("connects", "disconnects", "sends:", "receives:")
_STEP_LIKE = re.compile(r"\S.*[ \t](connects|disconnects|sends|receives)\b")


@functools.cache
def _expectations() -> dict[_StateKey, str]:
    table: dict[_StateKey, str] = {}
    for expectation, examples in _EXPECTATIONS.items():
        for example in examples:
            try:
                _grammar().parse(example)
            except UnexpectedInput as exc:
                table.setdefault(_state_key(exc), expectation)
            else:
                raise AssertionError(f"error example parses: {example!r}")
    return table


_StateKey = tuple[frozenset[str], str | None]


def _state_key(exc: UnexpectedInput) -> _StateKey:
    """What the parser could accept, and what it has just read.

    LALR splits one situation into several states (one per way of reaching it),
    so the examples are matched on this pair rather than on state numbers.
    """
    state = exc.state
    accepts = frozenset(state.parse_conf.parse_table.states[state.position])
    last = state.value_stack[-1] if state.value_stack else None
    return accepts, last.type if isinstance(last, Token) else getattr(last, "data", None)


def _syntax_error(exc: UnexpectedInput, text: str, path: Path) -> ScriptError:
    lines = text.split("\n")
    line, column = _error_position(exc, lines)
    source_line = lines[line - 1].rstrip("\r") if line <= len(lines) else ""
    expectation = _expectations().get(_state_key(exc)) if exc.state else None
    if expectation is None:
        expectation = _fallback_expectation(exc)
    expectation = expectation.replace("{action}", _last_action(exc))
    hint = None
    if expectation.startswith(f"expected {_ACTIONS}"):
        column, hint = _locate_bad_action(source_line, column)
    elif column > 1 and source_line[column - 1 :].strip():
        # Point at the unexpected word rather than at the space before it.
        column += len(source_line[column - 1 :]) - len(source_line[column - 1 :].lstrip(" \t"))
    found = _describe_found(exc, source_line, column)
    if found == "an indented line":
        hint = "only properties and the XML blocks after sends:/receives: are indented"
    elif source_line.startswith("[") and "actor name" in expectation:
        hint = "declarations belong in the header, above the line of dashes ('-----')"
    elif "ending the header" in expectation:
        if re.match(r"[A-Za-z_][\w.-]*[ \t]*:", source_line):
            hint = "indent the 'key: value' lines under their declaration"
        elif found == "the end of the file" or _STEP_LIKE.match(source_line):
            hint = "a line of three or more dashes ('-----') must separate declarations and steps"
    return ScriptError(path, line, column, f"{expectation}, found {found}", hint, source_line)


def _last_action(exc: UnexpectedInput) -> str:
    stack = exc.state.value_stack if exc.state else []
    keywords = (
        v for v in reversed(stack) if isinstance(v, Token) and v.type in ("SENDS", "RECEIVES")
    )
    return next(keywords, "sends")


def _error_position(exc: UnexpectedInput, lines: list[str]) -> tuple[int, int]:
    if isinstance(exc, UnexpectedToken) and exc.token.type == "$END":
        last = max((i for i, text in enumerate(lines) if text.strip()), default=0)
        return last + 1, len(lines[last].rstrip("\r")) + 1
    return exc.line, exc.column


def _fallback_expectation(exc: UnexpectedInput) -> str:
    expected = getattr(exc, "expected", None) or getattr(exc, "allowed", None) or ()
    words = sorted({_TERMINALS.get(name, name.lower()) for name in expected})
    return "expected " + (" or ".join(words) if words else "something else")


def _describe_found(exc: UnexpectedInput, source_line: str, column: int) -> str:
    if isinstance(exc, UnexpectedToken) and exc.token.type == "$END":
        return "the end of the file"
    rest = source_line[column - 1 :]
    if not rest.strip():
        return "the end of the line"
    if column == 1 and rest[0] in " \t":
        return "an indented line"
    if not rest[0].isprintable() or (rest[0].isspace() and rest[0] not in " \t"):
        return f"the invisible character U+{ord(rest[0]):04X}"
    word = rest.split()[0]
    return repr(word if len(word) <= 30 else word[:27] + "...")


def _locate_bad_action(source_line: str, column: int) -> tuple[int, str | None]:
    """Point at the word that should have been an action: `Romeo jumps` -> 'jumps'."""
    words = [m for m in re.finditer(r"[^\s:]+", source_line) if m.start() < column - 1]
    if len(words) < 2:
        return column, None
    last = words[-1]
    guess = difflib.get_close_matches(last.group(), _ACTION_WORDS, n=1, cutoff=0.6)
    return last.start() + 1, f"did you mean '{guess[0]}'?" if guess else None


# --------------------------------------------------------------------------- semantic checks


def _analyse(text: str, path: Path) -> tuple[Script | None, list[ScriptError]]:
    try:
        parsed = _syntax(text, path)
    except ScriptError as error:
        return None, [error]
    lines = text.split("\n")
    problems: list[_Problem] = []
    actors = _check_declarations(parsed.declarations, problems)
    names = [actor.name for actor in actors]
    for parsed_step in parsed.steps:
        _check_step(parsed_step, names, problems)
    script = Script(
        path=path,
        title=parsed.notes[0] if parsed.notes else "",
        description="\n".join(parsed.notes[1:]),
        actors=tuple(actors),
        steps=tuple(parsed_step.step for parsed_step in parsed.steps),
    )
    problems.sort(key=lambda problem: (problem.line, problem.column))
    return script, [problem.error(path, lines) for problem in problems]


def _where(token: Token) -> tuple[int, int]:
    """A lexed token's line and column (always set by the lexer, optional in Lark's types)."""
    assert token.line is not None and token.column is not None
    return token.line, token.column


@dataclass(frozen=True)
class _Problem:
    line: int
    column: int
    message: str
    hint: str | None = None

    def error(self, path: Path, lines: list[str]) -> ScriptError:
        source_line = lines[self.line - 1].rstrip("\r")
        return ScriptError(path, self.line, self.column, self.message, self.hint, source_line)


def _check_declarations(
    declarations: Iterable[_Declaration], problems: list[_Problem]
) -> list[Actor]:
    actors: list[Actor] = []
    first_seen: dict[str, int] = {}
    for declaration in declarations:
        name = declaration.name
        kind = declaration.kind
        if kind not in ACTOR_KINDS:
            problems.append(
                _Problem(
                    *_where(kind),
                    f"unknown object kind '{kind}'",
                    _did_you_mean(str(kind), ACTOR_KINDS) or "scripts declare '[Client] Name'",
                )
            )
        properties: dict[str, str] = {}
        for prop in declaration.properties:
            if prop.key in properties:
                problems.append(
                    _Problem(prop.line, prop.column, f"property '{prop.key}' is given twice")
                )
            _check_property(prop, properties.get("jid"), problems)
            properties[prop.key] = prop.value
        if not properties.get("jid"):
            problems.append(
                _Problem(
                    name.line,
                    name.column,
                    f"actor '{name.text}' has no jid",
                    "add an indented line such as 'jid: user@localhost' under the declaration",
                )
            )
        if name.text in first_seen:
            problems.append(
                _Problem(
                    name.line,
                    name.column,
                    f"actor '{name.text}' is declared twice",
                    f"the first declaration is on line {first_seen[name.text]}",
                )
            )
            continue
        first_seen[name.text] = name.line
        actors.append(
            Actor(name.text, str(kind), MappingProxyType(properties), name.line, name.column)
        )
    return actors


def _check_property(prop: _Property, jid: str | None, problems: list[_Problem]) -> None:
    """Known keys only, and addresses the client can log in with (not a late failure)."""
    if prop.key not in ACTOR_PROPERTIES:
        problems.append(
            _Problem(
                prop.line,
                prop.column,
                f"unknown actor property '{prop.key}'",
                _did_you_mean(prop.key, ACTOR_PROPERTIES)
                or "actors take " + ", ".join(f"'{key}'" for key in ACTOR_PROPERTIES),
            )
        )
        return
    if prop.key == "password" or (prop.key == "resource" and not (jid and split_jid(jid))):
        return  # a resource is checked against a valid jid only
    address = prop.value if prop.key == "jid" else f"{jid}/{prop.value}"
    try:
        parsed = JID.parse(address)
    except ValueError as exc:
        problems.append(_Problem(prop.line, prop.value_column, str(exc)))
        return
    if prop.key == "jid" and not parsed.local:
        problems.append(
            _Problem(
                prop.line,
                prop.value_column,
                f"a client's jid needs a localpart: {prop.value!r}",
                "write it as user@domain, e.g. 'jid: romeo@localhost'",
            )
        )


def _check_step(parsed: _ParsedStep, names: list[str], problems: list[_Problem]) -> None:
    step = parsed.step
    if step.actor not in names:
        problems.append(
            _Problem(
                step.line,
                step.column,
                f"unknown actor '{step.actor}'",
                _actor_hint(step.actor, names),
            )
        )
    if parsed.block is not None:
        _check_block(parsed.block, names, problems)


def _check_block(block: _Block, names: list[str], problems: list[_Problem]) -> None:
    block_lines = block.xml.split("\n")

    def at(offset: int) -> tuple[int, int]:
        """Script line and column of an offset in the dedented block."""
        line_index = block.xml.count("\n", 0, offset)
        column = offset - (block.xml.rfind("\n", 0, offset) + 1) + 1
        return block.first_line + line_index, column + block.indent

    for ref in stanza_text.variable_refs(block.xml):
        if ref.actor not in names:
            problems.append(
                _Problem(
                    *at(ref.offset),
                    f"unknown actor '{ref.actor}' in a variable",
                    _actor_hint(ref.actor, names),
                )
            )
    for match in re.finditer(r"\$\{[^}\n]*\}?", block.xml):
        if not stanza_text.VARIABLE.fullmatch(match.group()):
            problems.append(
                _Problem(
                    *at(match.start()),
                    f"malformed variable '{match.group()}'",
                    "variables are ${Name's JID} (bare JID) or ${Name's full JID}",
                )
            )
    # Same-length placeholders keep every column of the block where it was.
    placeholders = stanza_text.VARIABLE.sub(lambda m: "x" * len(m.group()), block.xml)
    for match in _STRICT_VALUE.finditer(placeholders):
        if match["value"] not in ("true", "false"):
            problems.append(
                _Problem(
                    *at(match.start("value")),
                    f"scansion:strict must be 'true' or 'false', not {match['value']!r}",
                )
            )
    try:
        stanza_text.parse_block(placeholders)
    except stanza_text.BlockSyntaxError as exc:
        line_index = min(exc.line, len(block_lines)) - 1
        column = min(exc.column, len(block_lines[line_index]) + 1)
        problems.append(
            _Problem(
                block.first_line + line_index,
                column + block.indent,
                f"the XML block is not well-formed: {exc.message}",
            )
        )


def _actor_hint(name: str, names: Sequence[str]) -> str:
    if not names:
        return "declare it in the header, e.g. '[Client] Romeo' with an indented 'jid:' line"
    return _did_you_mean(name, names) or "declared actors: " + ", ".join(names)


def _did_you_mean(word: str, choices: Sequence[str]) -> str | None:
    guess = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"did you mean '{guess[0]}'?" if guess else None
