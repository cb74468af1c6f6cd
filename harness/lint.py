"""`scansion-py lint`: check scripts without running them.

Every problem is printed to stdout as `path:line:col: message` with the line and
a caret, then a one-line summary. Exit codes: 0 clean, 1 problems found,
2 usage error (a path that does not exist, no script to check).

With `--schema`, every stanza of a script that parses is also checked against
the XMPP schemas (harness.schema), located at the element or attribute in the
script. `receives` blocks are checked as partial stanzas: they only list what
they care about. `sends` blocks go to the server as written, so they are also
checked as complete stanzas; what only a complete stanza needs (Prosody's own
scripts submit data forms without the `type` XEP-0004 requires, and servers
accept them) is a warning and does not change the exit code.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lxml import etree

from harness import stanza_text
from harness.discovery import find_scripts
from harness.model import Action, Step
from harness.parser import ScriptError, check_file, parse_file

if TYPE_CHECKING:
    from harness.schema import SchemaViolation

EXIT_CLEAN = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2

_WARNING_HINT = (
    "a warning: 'sends' blocks are also checked as complete stanzas, "
    "and the server may accept this one as written"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lint",
        help="check scripts without running them",
        description="Check .scs scripts: syntax, declared actors, variables, well-formed XML.",
    )
    parser.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="script files, or directories searched recursively for *.scs",
    )
    parser.add_argument(
        "--schema",
        action="store_true",
        help="also check every stanza against the RFC 6120/6121 and XEP schemas "
        "('receives' as partial stanzas; what a 'sends' lacks as a complete stanza "
        "is a warning)",
    )
    parser.set_defaults(func=lint_command)


def lint_command(args: argparse.Namespace) -> int:
    try:
        files = find_scripts(args.paths)
    except FileNotFoundError as exc:
        print(f"scansion-py lint: no such file or directory: {exc.filename}", file=sys.stderr)
        return EXIT_USAGE
    if not files:
        shown = ", ".join(str(path) for path in args.paths)
        print(f"scansion-py lint: no .scs scripts in {shown}", file=sys.stderr)
        return EXIT_USAGE
    problems = violations = warnings = 0
    for file in files:
        errors = check_file(file)
        for error in errors:
            print(f"{error}\n")
        problems += len(errors)
        if args.schema and not errors:
            for finding in schema_findings(file):
                print(f"{finding.error}\n")
                warnings += finding.warning
                violations += not finding.warning
    summary = f"{_count(len(files), 'script')}, {_count(problems, 'error')}"
    if args.schema:
        summary += f", {_count(violations, 'schema violation')}"
        if warnings:
            summary += f", {_count(warnings, 'warning')}"
    print(summary)
    return EXIT_PROBLEMS if problems or violations else EXIT_CLEAN


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


# --------------------------------------------------------------------------- schema


@dataclass(frozen=True)
class SchemaFinding:
    """A schema violation located in the script; warnings do not fail the lint."""

    error: ScriptError
    warning: bool


def schema_findings(path: Path) -> list[SchemaFinding]:
    """Schema violations of every stanza in a script without errors, in line order."""
    from harness.schema import validate_script_stanza  # xmlschema: slow to import, used rarely

    script = parse_file(path)
    lines = path.read_text(encoding="utf-8").split("\n")
    findings: list[SchemaFinding] = []
    for step in script.steps:
        if step.xml is None:
            continue
        block = _Block.of(step, lines)
        for element in stanza_text.parse_block(stanza_text.substitute(step.xml, _variable)):
            errors = validate_script_stanza(element)
            findings += [SchemaFinding(block.error(path, element, v, lines), False) for v in errors]
            if step.action is Action.SENDS:
                seen = {(v.path, v.message) for v in errors}
                findings += [
                    SchemaFinding(block.error(path, element, v, lines, warning=True), True)
                    for v in validate_script_stanza(element, partial=False)
                    if (v.path, v.message) not in seen
                ]
    return sorted(findings, key=lambda f: (f.error.line, f.error.column))


def _variable(actor: str, full: bool) -> str:
    """Variables stay as written (substitute escapes them): the schema leaves them unchecked."""
    return f"${{{actor}'s {'full JID' if full else 'JID'}}}"


# Comments, CDATA sections and processing instructions, whose text may hold a '<'.
_OPAQUE = re.compile(r"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<\?.*?\?>", re.DOTALL)
_START_TAG = re.compile(r"<[^\s/>!?]")
_PATH_STEP = re.compile(r"/(@?[^/\[]+)((?:\[[^\]]*\])*)")


@dataclass(frozen=True)
class _Block:
    """A step's XML block (dedented, as in Step.xml) and where it sits in the script."""

    xml: str
    first_line: int
    indent: int

    @classmethod
    def of(cls, step: Step, lines: list[str]) -> _Block:
        xml = step.xml or ""
        # The block starts on the first non-blank line after its action line.
        first = next(i for i in range(step.line, len(lines)) if lines[i].strip())
        indent = _margin(lines[first]) - _margin(xml.partition("\n")[0])
        return cls(xml, first + 1, indent)

    def error(
        self,
        path: Path,
        element: etree._Element,
        violation: SchemaViolation,
        lines: list[str],
        *,
        warning: bool = False,
    ) -> ScriptError:
        line, column = self._position(self._offset(element, violation.path))
        label = "schema warning" if warning else "schema"
        return ScriptError(
            path,
            line,
            column,
            f"{label}: {violation}",
            _WARNING_HINT if warning else None,
            lines[line - 1].rstrip("\r"),
        )

    def _offset(self, stanza: etree._Element, violation_path: str) -> int:
        """Offset in the block of the element or attribute the violation path names.

        Start tags, in document order, are the elements of the block in the same
        order; a path that does not resolve falls back to its deepest known element.
        """
        text = _OPAQUE.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), self.xml)
        starts = [m.start() for m in _START_TAG.finditer(text)]
        wrapper = stanza.getparent()
        assert wrapper is not None, "script stanzas are parsed inside a wrapper element"
        elements = [e for e in wrapper.iter() if isinstance(e.tag, str) and e is not wrapper]
        offsets = dict(zip(elements, starts, strict=False))
        element, attribute = _resolve(stanza, violation_path)
        start = offsets.get(element, 0)
        if attribute is None:
            return start
        following = [offset for offset in starts if offset > start]
        end = following[0] if following else len(text)
        name = re.escape(attribute.rpartition(":")[2].rpartition("}")[2])
        found = re.compile(rf"\s((?:[\w.-]+:)?{name}\s*=)").search(text, start, end)
        return found.start(1) if found else start

    def _position(self, offset: int) -> tuple[int, int]:
        """Script line and column (1-based) of an offset in the dedented block."""
        line_index = self.xml.count("\n", 0, offset)
        column = offset - (self.xml.rfind("\n", 0, offset) + 1) + 1
        return self.first_line + line_index, column + self.indent


def _margin(line: str) -> int:
    return len(line) - len(line.lstrip())


def _resolve(stanza: etree._Element, path: str) -> tuple[etree._Element, str | None]:
    """The element a violation path (`/presence/x[muc#user]/item[2]/@role`) names, and the
    attribute; as deep as the path resolves."""
    element = stanza
    for name, qualifiers in _PATH_STEP.findall(path)[1:]:
        if name.startswith("@"):
            return element, name[1:]
        brackets = re.findall(r"\[([^\]]*)\]", qualifiers)
        position = next((int(q) for q in brackets if q.isdigit()), 1)
        label = next((q for q in brackets if not q.isdigit()), None)
        same = [
            child
            for child in element
            if isinstance(child.tag, str)
            and etree.QName(child).localname == name
            and _in_namespace(child, label, element)
        ]
        if len(same) < position:
            break
        element = same[position - 1]
    return element, None


def _in_namespace(child: etree._Element, label: str | None, parent: etree._Element) -> bool:
    """Whether a child is in the namespace a path step names (`muc#user` for a URL's end)."""
    namespace = etree.QName(child).namespace or ""
    if label is None:
        return namespace == (etree.QName(parent).namespace or "")
    return namespace == label or namespace.rstrip("/").endswith("/" + label)
