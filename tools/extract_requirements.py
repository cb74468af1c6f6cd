"""Extract the normative statements of XEP-0045 into specs/xep0045/requirements.toml.

Every sentence of the specification's prose (examples, code and the revision
history excluded) that carries an RFC 2119 keyword becomes one requirement,
numbered per section in document order so ids stay stable across runs. The
fields a reader decides (`binds`, `testable`, `why_not`) are guessed from the
sentence on first extraction and kept from the existing catalog afterwards,
for every statement whose text is unchanged: review the catalog by editing it,
then re-run this script to pick up a new version of the XEP.

    python tools/extract_requirements.py ../shared/docs/xep/xep-0045-1.35.5.xml
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

CATALOG = Path(__file__).resolve().parents[1] / "specs" / "xep0045" / "requirements.toml"

# Strongest first: a sentence with several keywords takes the strongest level.
LEVELS = (
    "MUST NOT",
    "MUST",
    "REQUIRED",
    "SHALL NOT",
    "SHALL",
    "SHOULD NOT",
    "SHOULD",
    "RECOMMENDED",
    "NOT RECOMMENDED",
    "MAY",
    "OPTIONAL",
)
KEYWORD = re.compile(
    r"\b(MUST NOT|MUST|REQUIRED|SHALL NOT|SHALL|SHOULD NOT|SHOULD|NOT RECOMMENDED|"
    r"RECOMMENDED|MAY|OPTIONAL)\b"
)
# Elements whose text is not normative prose.
SKIPPED = {"example", "code", "header", "note"}
# Elements that hold one block of prose each.
BLOCKS = {"p", "li", "tr", "dd", "dt"}
# The entities the XEP source uses in prose, as the rendered text shows them.
ENTITIES = {
    "ROOMJID": "<room@service>",
    "OCCUPANTJID": "<room@service/nick>",
    "LOCALBARE": "<user@host>",
    "forbidden": "<forbidden/>",
    "notallowed": "<not-allowed/>",
    "conflict": "<conflict/>",
    "notfound": "<item-not-found/>",
    "notacceptable": "<not-acceptable/>",
    "unavailable": "<service-unavailable/>",
    "badrequest": "<bad-request/>",
    "notauthorized": "<not-authorized/>",
    "registration": "<registration-required/>",
    "feature": "<feature-not-implemented/>",
    "timeout": "<remote-server-timeout/>",
    "MESSAGE": "<message/>",
    "PRESENCE": "<presence/>",
    "QUERY": "<query/>",
    "SUBJECT": "<subject/>",
    "BODY": "<body/>",
    "THREAD": "<thread/>",
    "X": "<x/>",
    "quot": '"',
    "apos": "'",
    "badjid": "<jid-malformed/>",
    "gone": "<gone/>",
    "recipient": "<recipient-unavailable/>",
    "redirect": "<redirect/>",
    "remoteserver": "<remote-server-not-found/>",
    "xmppcore": "RFC 6120",
    "xmppim": "RFC 6121",
}
SENTENCE_END = re.compile(r"(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bcf\.)(?<=[.!?])\s+(?=[A-Z(\"<])")
SERVICE_WORDS = re.compile(r"\b(services?|rooms?|chatrooms?|servers?|implementations?)\b", re.I)
CLIENT_WORDS = re.compile(
    r"\b(clients?|users?|occupants?|owners?|admins?|moderators?|entity|entities|senders?|"
    r"applications?|contacts?|invitees?|participants?|visitors?|members?)\b",
    re.I,
)


@dataclass
class Statement:
    section: str
    title: str
    text: str

    @property
    def level(self) -> str:
        found = {m.group(1) for m in KEYWORD.finditer(self.text)}
        return next(level for level in LEVELS if level in found)


def parse(path: Path) -> etree._Element:
    """The XEP source, read without its DTD or external entities (they are not needed)."""
    parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, recover=True)
    return etree.parse(str(path), parser).getroot()


def flatten(element: etree._Element) -> str:
    """The rendered text of a prose block, skipping nested examples and notes.

    A table row reads as "caption: header value; header value".
    """
    table = element.getparent()
    if element.tag == "tr" and table is not None:
        headers = [flatten(th) for th in table.iter("th")]
        cells = [flatten(td) for td in element if isinstance(td.tag, str)]
        pairs = "; ".join(f"{h} {c}" for h, c in zip(headers, cells, strict=False))
        return f"{table.get('caption', 'Table')}: {pairs}"
    parts: list[str] = []

    def walk(node: etree._Element) -> None:
        if isinstance(node, etree._Entity):
            parts.append(ENTITIES.get(node.name, _entity_text(node.name)))
        elif isinstance(node.tag, str) and (node is element or node.tag not in SKIPPED):
            parts.append(node.text or "")
            for child in node:
                walk(child)
        if node is not element:
            parts.append(node.tail or "")

    walk(element)
    return re.sub(r"\s+", " ", "".join(parts)).strip()


def _entity_text(name: str) -> str:
    reference = re.fullmatch(r"(xep|rfc)(\d+)", name)
    if reference:
        kind, number = reference.groups()
        return f"XEP-{number}" if kind == "xep" else f"RFC {int(number)}"
    return f"<{name}/>"


def sections(root: etree._Element) -> list[tuple[str, str, etree._Element]]:
    """(number, title, element) for every section, numbered as the rendered XEP is."""
    numbered: list[tuple[str, str, etree._Element]] = []

    def walk(parent: etree._Element, prefix: str, depth: int) -> None:
        children = [c for c in parent if isinstance(c.tag, str) and c.tag == f"section{depth}"]
        for index, child in enumerate(children, start=1):
            number = f"{prefix}{index}"
            numbered.append((number, child.get("topic", ""), child))
            walk(child, f"{number}.", depth + 1)

    walk(root, "", 1)
    return numbered


def blocks(section: etree._Element) -> list[etree._Element]:
    """The prose blocks that belong to this section itself (not to its subsections)."""
    found: list[etree._Element] = []

    def walk(node: etree._Element) -> None:
        for child in node:
            if not isinstance(child.tag, str) or child.tag in SKIPPED:
                continue
            if child.tag.startswith("section"):
                continue
            if child.tag in BLOCKS and not any(
                isinstance(d.tag, str) and d.tag in BLOCKS for d in child.iterdescendants()
            ):
                found.append(child)
            else:
                if child.tag in BLOCKS and (child.text or "").strip():
                    found.append(child)
                    continue
                walk(child)

    walk(section)
    return found


def statements(root: etree._Element) -> list[Statement]:
    """Each keyword sentence of a section's prose, then of its footnotes (numbered last,
    so that a footnote never shifts the ids of the prose around it)."""
    result: list[Statement] = []
    for number, title, element in sections(root):
        found = blocks(element)
        prose = [flatten(block) for block in found]
        notes = [flatten(note) for block in found for note in block.iter("note")]
        for text in (*prose, *notes):
            for sentence in SENTENCE_END.split(text):
                if KEYWORD.search(sentence):
                    result.append(Statement(number, title, sentence.strip()))
    return result


def keyword_counts(root: etree._Element) -> Counter[str]:
    """Keyword occurrences in the prose of every section (the reconciliation baseline)."""
    counts: Counter[str] = Counter()
    for _number, _title, element in sections(root):
        for block in blocks(element):
            for prose in (flatten(block), *(flatten(n) for n in block.iter("note"))):
                counts.update(m.group(1) for m in KEYWORD.finditer(prose))
    return counts


def guess_binds(text: str) -> str:
    """Whom the sentence binds, from the subject nearest before each keyword."""
    bound = set()
    for keyword in KEYWORD.finditer(text):
        before = text[max(0, keyword.start() - 60) : keyword.start()]
        service = [m.end() for m in SERVICE_WORDS.finditer(before)]
        client = [m.end() for m in CLIENT_WORDS.finditer(before)]
        if service or client:
            bound.add("service" if max(service, default=-1) > max(client, default=-1) else "client")
    return bound.pop() if len(bound) == 1 else "both"


def load_reviewed(path: Path) -> dict[tuple[str, str], dict[str, object]]:
    """Reviewed fields of the existing catalog, keyed by (id, text)."""
    if not path.exists():
        return {}
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return {(r["id"], r["text"]): r for r in data.get("requirement", [])}


def render(
    spec_version: str, items: list[Statement], reviewed: dict[tuple[str, str], dict[str, object]]
) -> str:
    lines = [
        "# XEP-0045 normative statements, one per sentence carrying an RFC 2119 keyword.",
        "# Generated by tools/extract_requirements.py; binds/testable/why_not are reviewed",
        "# by hand and kept on regeneration while the sentence is unchanged.",
        'spec = "XEP-0045"',
        f'version = "{spec_version}"',
        "",
    ]
    per_section: Counter[str] = Counter()
    for item in items:
        per_section[item.section] += 1
        ident = f"xep0045-{item.section}-{per_section[item.section]}"
        kept = reviewed.get((ident, item.text), {})
        binds = kept.get("binds", guess_binds(item.text))
        testable = kept.get("testable", binds != "client")
        why_not = kept.get("why_not", "" if testable else "binds the client only")
        lines += [
            "[[requirement]]",
            f"id = {json.dumps(ident)}",
            f"section = {json.dumps(item.section)}",
            f"title = {json.dumps(item.title, ensure_ascii=False)}",
            f"level = {json.dumps(item.level)}",
            f"text = {json.dumps(item.text, ensure_ascii=False)}",
            f"binds = {json.dumps(binds)}",
            f"testable = {'true' if testable else 'false'}",
            f"why_not = {json.dumps(why_not, ensure_ascii=False)}",
            "",
        ]
    return "\n".join(lines)


def reconciliation(root: etree._Element, items: list[Statement]) -> str:
    counts = keyword_counts(root)
    per_level = Counter(item.level for item in items)
    several = sum(1 for item in items if len(KEYWORD.findall(item.text)) > 1)
    rows = [
        f"keywords in prose: {dict(sorted(counts.items()))}",
        f"  MUST incl. MUST NOT: {counts['MUST'] + counts['MUST NOT']}, "
        f"SHOULD incl. SHOULD NOT: {counts['SHOULD'] + counts['SHOULD NOT']}",
        f"statements: {len(items)} by level {dict(sorted(per_level.items()))}",
        f"  keyword occurrences {sum(counts.values())} = statements {len(items)} "
        f"+ extra keywords in {several} sentences carrying several "
        f"({sum(len(KEYWORD.findall(i.text)) for i in items) - len(items)})",
    ]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("xep", type=Path, help="the XEP-0045 XML source")
    parser.add_argument("-o", "--output", type=Path, default=CATALOG)
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if the catalog would change (nothing is written)",
    )
    args = parser.parse_args(argv)
    root = parse(args.xep)
    version = root.findtext("header/revision/version") or "unknown"
    items = statements(root)
    text = render(version, items, load_reviewed(args.output))
    print(reconciliation(root, items))
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {len(items)} requirements to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
