"""Does a received stanza match the one a script expects? (rules M1-M7)

The comparison is recursive. Each expected element carries a mode that its
descendants inherit: the default rules (M4), loose (`scansion:strict='false'`,
M5) or strict (`scansion:strict='true'`, M6). Deciding is fast and
short-circuits; explaining a failure (the path to the first difference and a
difference count to rank candidates) is a separate, slower walk that only runs
once a stanza did not match.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from itertools import count

from lxml import etree

from harness.results import Mark
from harness.stanza_text import BlockSyntaxError, parse_block, substitute
from protocol import namespaces as ns

STRICT_ATTRIBUTE = f"{{{ns.SCANSION}}}strict"
ANY_VALUE = "{scansion:any}"
_CAPTURE = re.compile(r"\{scansion:capture:(?P<name>[^{}]+)\}")
_SCANSION_PREFIX = f"{{{ns.SCANSION}}}"
_XML_PREFIX = "{http://www.w3.org/XML/1998/namespace}"
_SHOWN_VALUE = 60
_TEXT = "text()"  # a mark's "attribute" when the element's text differs

Captures = dict[str, str]
Pairs = list[tuple[etree._Element, etree._Element]]


class Mode(Enum):
    """How an element's children and text are compared; inherited by descendants."""

    DEFAULT = "default"
    LOOSE = "loose"
    STRICT = "strict"


@dataclass(frozen=True)
class MatchResult:
    """Outcome of one comparison.

    `differences` ranks failed candidates (fewer is closer); `captures` holds the
    `{scansion:capture:NAME}` values this stanza would bind, to be committed only
    when `ok`. A failed match also says where: `path`, the steps down to the first
    difference (`("iq", "query[version]", "@type")`), and `marks`, every element or
    attribute that differs under these rules, for reports to highlight.
    """

    ok: bool
    differences: int
    explanation: str
    captures: dict[str, str] = field(default_factory=dict)
    path: tuple[str, ...] = ()
    marks: tuple[Mark, ...] = ()


def expected_from_text(text: str, resolve: Callable[[str, bool], str]) -> list[etree._Element]:
    """Expected stanzas of a `receives` block: variables substituted, `scansion:` parsed.

    Raises BlockSyntaxError for malformed XML or a `scansion:strict` that is
    neither 'true' nor 'false', so a typo cannot silently change the mode.
    """
    elements = parse_block(substitute(text, resolve))
    for element in elements:
        for node in element.iter(etree.Element):
            value = node.get(STRICT_ATTRIBUTE)
            if value is not None and value not in ("true", "false"):
                raise BlockSyntaxError(
                    f"scansion:strict must be 'true' or 'false', not {value!r}",
                    max((node.sourceline or 2) - 1, 1),
                    1,
                )
    return elements


def match(
    expected: etree._Element, received: etree._Element, bindings: Mapping[str, str]
) -> MatchResult:
    """Compare one received stanza with the expected one; explain the first difference."""
    found = _match(expected, received, Mode.DEFAULT, bindings)
    if found is not None:
        return MatchResult(True, 0, "", found[0])
    path = _label_path("", expected)
    report = _explain_element(expected, received, Mode.DEFAULT, path, bindings)
    if report.count == 0:
        # Every child found a partner on its own, but no assignment agrees on the captures.
        report = _Report(1, f"{path}: captured values disagree", (_Found("received", received),))
    first = report.first or "differs"
    return MatchResult(
        False,
        report.count,
        first,
        {},
        _path_steps(first),
        tuple(found.mark(expected, received) for found in report.marks),
    )


def match_captures(
    expected: etree._Element, received: etree._Element, bindings: Mapping[str, str]
) -> dict[str, str] | None:
    """The new captures if `received` matches, else None: the fast path for buffers."""
    found = _match(expected, received, Mode.DEFAULT, bindings)
    return None if found is None else found[0]


def correspondence(
    expected: etree._Element, received: etree._Element, bindings: Mapping[str, str]
) -> Pairs | None:
    """Which received element each expected element matched (None if no match)."""
    found = _match(expected, received, Mode.DEFAULT, bindings)
    return None if found is None else found[1]


# --- deciding -------------------------------------------------------------------------------


def _match(
    expected: etree._Element, received: etree._Element, inherited: Mode, known: Mapping[str, str]
) -> tuple[Captures, Pairs] | None:
    if expected.tag != received.tag:  # M1 (and M7: lxml tags carry the namespace, not prefix)
        return None
    mode = _mode_of(expected, inherited)
    captures: Captures = {}
    for name, value in expected.attrib.items():  # M2
        if name.startswith(_SCANSION_PREFIX):
            continue
        got = received.get(name)
        if got is None or not _value_matches(value, got, known, captures):
            return None
    want = _text(expected)
    if (want or mode is Mode.STRICT) and not _value_matches(  # M3, M6
        want, _text(received), known, captures
    ):
        return None
    pairs: Pairs = [(expected, received)]
    children = _match_children(expected, received, mode, _Scope(known, captures))
    if children is None:
        return None
    captures.update(children[0])
    pairs.extend(children[1])
    return captures, pairs


def _match_children(
    expected: etree._Element, received: etree._Element, mode: Mode, known: Mapping[str, str]
) -> tuple[Captures, Pairs] | None:
    wanted = _elements(expected)
    got = _elements(received)
    if not wanted:
        return ({}, []) if mode is not Mode.STRICT or not got else None  # M4 first sentence, M6
    if mode is Mode.LOOSE:  # M5
        return _assign(wanted, got, mode, known)
    parent_ns = etree.QName(expected).namespace
    wanted_same, wanted_foreign = _split(wanted, parent_ns)
    got_same, got_foreign = _split(got, parent_ns)
    if len(wanted_same) != len(got_same):
        return None
    if mode is Mode.STRICT and len(wanted_foreign) != len(got_foreign):  # M6
        return None
    captures: Captures = {}
    pairs: Pairs = []
    for want, have in zip(wanted_same, got_same, strict=True):  # M4: in order, no extras
        found = _match(want, have, mode, _Scope(known, captures))
        if found is None:
            return None
        captures.update(found[0])
        pairs.extend(found[1])
    rest = _assign(wanted_foreign, got_foreign, mode, _Scope(known, captures))
    if rest is None:
        return None
    captures.update(rest[0])
    pairs.extend(rest[1])
    return captures, pairs


def _assign(
    wanted: list[etree._Element],
    got: list[etree._Element],
    mode: Mode,
    known: Mapping[str, str],
) -> tuple[Captures, Pairs] | None:
    """Give every expected child a distinct matching received child, in any order.

    Without captures this is bipartite matching (augmenting paths, polynomial even
    when no assignment exists). Children that capture values can only be paired
    consistently, so those rare cases use backtracking.
    """
    if len(wanted) > len(got):
        return None
    options: list[dict[int, tuple[Captures, Pairs]]] = []
    for want in wanted:
        row = {}
        for index, have in enumerate(got):
            found = _match(want, have, mode, known)
            if found is not None:
                row[index] = found
        if not row:
            return None
        options.append(row)
    if any(found[0] for row in options for found in row.values()):
        chosen = _consistent_assignment(options)
    else:
        chosen = _bipartite_assignment(options)
    if chosen is None:
        return None
    captures: Captures = {}
    pairs: Pairs = []
    for row, index in zip(options, chosen, strict=True):
        captures.update(row[index][0])
        pairs.extend(row[index][1])
    return captures, pairs


def _bipartite_assignment(options: list[dict[int, tuple[Captures, Pairs]]]) -> list[int] | None:
    partner = _maximum_matching(options)
    if len(partner) < len(options):
        return None
    return [partner[want] for want in range(len(options))]


def _consistent_assignment(
    options: list[dict[int, tuple[Captures, Pairs]]],
) -> list[int] | None:
    order = sorted(range(len(options)), key=lambda want: len(options[want]))
    chosen: dict[int, int] = {}

    def search(position: int, used: set[int], captures: Captures) -> bool:
        if position == len(order):
            return True
        want = order[position]
        for have, (found, _pairs) in options[want].items():
            if have in used or any(captures.get(k, v) != v for k, v in found.items()):
                continue
            chosen[want] = have
            if search(position + 1, used | {have}, {**captures, **found}):
                return True
        return False

    if not search(0, set(), {}):
        return None
    return [chosen[want] for want in range(len(options))]


class _Scope(Mapping[str, str]):
    """Bindings visible while matching: those committed plus those captured so far."""

    def __init__(self, outer: Mapping[str, str], inner: Mapping[str, str]) -> None:
        self._outer = outer
        self._inner = inner

    def __getitem__(self, key: str) -> str:
        if key in self._inner:
            return self._inner[key]
        return self._outer[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._inner
        yield from (key for key in self._outer if key not in self._inner)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _value_matches(want: str, got: str, known: Mapping[str, str], captures: Captures) -> bool:
    """Attribute values and text: literal, `{scansion:any}` or `{scansion:capture:NAME}`."""
    if want == ANY_VALUE:
        return True
    capture = _CAPTURE.fullmatch(want)
    if capture is None:
        return want == got
    name = capture["name"]
    previous = captures.get(name, known.get(name))
    if previous is None:
        captures[name] = got
        return True
    return previous == got


def _mode_of(expected: etree._Element, inherited: Mode) -> Mode:
    value = expected.get(STRICT_ATTRIBUTE)
    if value == "true":
        return Mode.STRICT
    if value == "false":
        return Mode.LOOSE
    return inherited


def _elements(parent: etree._Element) -> list[etree._Element]:
    return [child for child in parent if isinstance(child.tag, str)]


def _text(element: etree._Element) -> str:
    """The element's own character data (not its descendants'), trimmed."""
    parts = [element.text or ""]
    parts.extend(child.tail or "" for child in element)
    return "".join(parts).strip()


def _split(
    children: list[etree._Element], namespace: str | None
) -> tuple[list[etree._Element], list[etree._Element]]:
    same = [child for child in children if etree.QName(child).namespace == namespace]
    foreign = [child for child in children if etree.QName(child).namespace != namespace]
    return same, foreign


# --- explaining -----------------------------------------------------------------------------
# Only for failed matches: count the differences and name the first one. Children are
# paired by exact matches first, then with the closest remaining candidate, so the
# explanation points at the child that really differs.


@dataclass(frozen=True)
class _Found:
    """A node that differs: in the received stanza, or an expected one with no partner."""

    side: str  # "received" or "expected"
    element: etree._Element
    attribute: str | None = None

    def mark(self, expected_root: etree._Element, received_root: etree._Element) -> Mark:
        root = received_root if self.side == "received" else expected_root
        name = None if self.attribute is None else _attribute_name(self.attribute)
        return Mark(self.side, _position(self.element, root), name)


@dataclass(frozen=True)
class _Report:
    count: int
    first: str | None = None
    marks: tuple[_Found, ...] = ()


_PERFECT = _Report(0)


def _position(element: etree._Element, root: etree._Element) -> tuple[int, ...]:
    """Element-child indexes from `root` down to `element` (comments and PIs skipped)."""
    steps: list[int] = []
    while element is not root:
        parent = element.getparent()
        if parent is None:
            break
        steps.append(_elements(parent).index(element))
        element = parent
    return tuple(reversed(steps))


def _path_steps(first: str) -> tuple[str, ...]:
    """The structured path of an explanation line: `/iq/query[version]/@type: ...` split."""
    where = first.split(": ", 1)[0]
    if not where.startswith("/"):
        return ()
    return tuple(step for step in where.split("/") if step)


def _explain_element(
    expected: etree._Element,
    received: etree._Element,
    inherited: Mode,
    path: str,
    known: Mapping[str, str],
) -> _Report:
    if expected.tag != received.tag:
        return _Report(
            _weight(expected),
            f"{path}: expected {_describe_tag(expected, received)}, "
            f"received {_describe_tag(received, expected)}",
            (_Found("received", received),),
        )
    mode = _mode_of(expected, inherited)
    reports: list[_Report] = []
    captures: Captures = {}
    for name, value in expected.attrib.items():
        if name.startswith(_SCANSION_PREFIX):
            continue
        got = received.get(name)
        if got is None:
            reports.append(
                _Report(
                    1,
                    f"{path}/@{_attribute_name(name)}: expected "
                    f"{_shown(value)}, received no such attribute",
                    (_Found("expected", expected, name),),
                )
            )
        elif not _value_matches(value, got, known, captures):
            reports.append(
                _Report(
                    1,
                    f"{path}/@{_attribute_name(name)}: expected "
                    f"{_shown_expected(value, _Scope(known, captures))}, "
                    f"received {_shown(got)}",
                    (_Found("received", received, name),),
                )
            )
    want = _text(expected)
    have = _text(received)
    if (want or mode is Mode.STRICT) and not _value_matches(want, have, known, captures):
        reports.append(
            _Report(
                1,
                f"{path}/text(): expected {_shown_expected(want, _Scope(known, captures))}, "
                f"received {_shown(have)}",
                (_Found("received", received, _TEXT),),
            )
        )
    reports.append(_explain_children(expected, received, mode, path, _Scope(known, captures)))
    return _combine(reports)


def _explain_children(
    expected: etree._Element,
    received: etree._Element,
    mode: Mode,
    path: str,
    known: Mapping[str, str],
) -> _Report:
    wanted = _elements(expected)
    got = _elements(received)
    if not wanted:
        if mode is Mode.STRICT and got:
            return _Report(
                len(got),
                f"{path}: unexpected child {_snippet(got[0])} (strict)",
                tuple(_Found("received", child) for child in got),
            )
        return _PERFECT
    if mode is Mode.LOOSE:
        return _explain_unordered(wanted, got, mode, path, known, extras=None)
    parent_ns = etree.QName(expected).namespace
    wanted_same, wanted_foreign = _split(wanted, parent_ns)
    got_same, got_foreign = _split(got, parent_ns)
    return _combine(
        [
            _explain_ordered(wanted_same, got_same, mode, path, known),
            _explain_unordered(
                wanted_foreign,
                got_foreign,
                mode,
                path,
                known,
                extras="strict" if mode is Mode.STRICT else None,
            ),
        ]
    )


def _explain_ordered(
    wanted: list[etree._Element],
    got: list[etree._Element],
    mode: Mode,
    path: str,
    known: Mapping[str, str],
) -> _Report:
    """Align same-namespace children in order (edit distance): extras and gaps count."""
    paths = _child_paths(wanted, path)
    rows, cols = len(wanted), len(got)
    cost = [[0] * (cols + 1) for _ in range(rows + 1)]
    step: dict[tuple[int, int], tuple[int, int, _Report]] = {}
    for i in range(rows + 1):
        for j in range(cols + 1):
            if i == 0 and j == 0:
                continue
            # On equal cost, prefer pairing, then a missing child, then an extra one.
            options: list[tuple[int, int, int, _Report]] = []
            if i > 0 and j > 0 and wanted[i - 1].tag == got[j - 1].tag:
                report = _explain_element(wanted[i - 1], got[j - 1], mode, paths[i - 1], known)
                options.append((cost[i - 1][j - 1] + report.count, i - 1, j - 1, report))
            if i > 0:
                missing = _Report(
                    _weight(wanted[i - 1]),
                    f"{paths[i - 1]}: no partner for {_snippet(wanted[i - 1])}",
                    (_Found("expected", wanted[i - 1]),),
                )
                options.append((cost[i - 1][j] + missing.count, i - 1, j, missing))
            if j > 0:
                extra = _Report(
                    1,
                    f"{path}: unexpected child {_snippet(got[j - 1])}",
                    (_Found("received", got[j - 1]),),
                )
                options.append((cost[i][j - 1] + 1, i, j - 1, extra))
            best = min(options, key=lambda option: option[0])
            cost[i][j] = best[0]
            step[(i, j)] = (best[1], best[2], best[3])
    problems: list[_Report] = []
    extras: list[_Report] = []
    position = (rows, cols)
    while position != (0, 0):
        i, j, report = step[position]
        (extras if i == position[0] else problems).append(report)
        position = (i, j)
    # Expected children without a partner say more than the extras they leave behind.
    return _combine([*reversed(problems), *reversed(extras)])


def _explain_unordered(
    wanted: list[etree._Element],
    got: list[etree._Element],
    mode: Mode,
    path: str,
    known: Mapping[str, str],
    extras: str | None,
) -> _Report:
    """Pair children in any order: exact partners first, then the closest left."""
    paths = _child_paths(wanted, path)
    exact = [
        [j for j, have in enumerate(got) if _match(want, have, mode, known)] for want in wanted
    ]
    partner = _maximum_matching(exact)
    taken = set(partner.values())
    reports: list[_Report] = []
    for i, want in enumerate(wanted):
        if i in partner:
            continue
        best: _Report | None = None
        best_index = -1
        for j, have in enumerate(got):
            if j in taken or have.tag != want.tag:
                continue
            report = _explain_element(want, have, mode, paths[i], known)
            if best is None or report.count < best.count:
                best, best_index = report, j
        if best is None:
            reports.append(
                _Report(
                    _weight(want),
                    f"{paths[i]}: no partner for {_snippet(want)}",
                    (_Found("expected", want),),
                )
            )
        else:
            taken.add(best_index)
            reports.append(best)
    if extras is not None:
        leftover = [have for j, have in enumerate(got) if j not in taken]
        if leftover:
            reports.append(
                _Report(
                    len(leftover),
                    f"{path}: unexpected child {_snippet(leftover[0])} ({extras})",
                    tuple(_Found("received", have) for have in leftover),
                )
            )
    return _combine(reports)


def _maximum_matching(options: Sequence[Iterable[int]]) -> dict[int, int]:
    """Maximum bipartite matching by augmenting paths: expected index -> received index."""
    partner_of: dict[int, int] = {}

    def augment(want: int, visited: set[int]) -> bool:
        for have in options[want]:
            if have in visited:
                continue
            visited.add(have)
            if have not in partner_of or augment(partner_of[have], visited):
                partner_of[have] = want
                return True
        return False

    for want in range(len(options)):
        augment(want, set())
    return {want: have for have, want in partner_of.items()}


def _shown_expected(want: str, known: Mapping[str, str]) -> str:
    """An expected value as the user should read it: a capture shows what it holds."""
    capture = _CAPTURE.fullmatch(want)
    if capture is None:
        return _shown(want)
    name = capture["name"]
    return f"{_shown(known.get(name, ''))} (captured as {name})"


def _combine(reports: list[_Report]) -> _Report:
    total = sum(report.count for report in reports)
    first = next((report.first for report in reports if report.count), None)
    return _Report(total, first, tuple(mark for report in reports for mark in report.marks))


def _weight(element: etree._Element) -> int:
    """How much an unmatched expected subtree counts: its elements, attributes and texts."""
    total = 0
    for node in element.iter(etree.Element):
        total += 1 + sum(1 for name in node.attrib if not name.startswith(_SCANSION_PREFIX))
        total += 1 if _text(node) else 0
    return total


def _short_namespace(namespace: str | None) -> str:
    if namespace is None:
        return ""
    if namespace.startswith(("http://", "https://")):
        return namespace.rstrip("/").rsplit("/", 1)[-1]
    return namespace


def _label_path(
    parent_path: str, element: etree._Element, parent_ns: str | None = ns.CLIENT
) -> str:
    qname = etree.QName(element)
    label = qname.localname
    if qname.namespace != parent_ns:
        label += f"[{_short_namespace(qname.namespace)}]"
    return f"{parent_path}/{label}"


def _child_paths(children: list[etree._Element], parent_path: str) -> list[str]:
    """Paths for expected children; repeated names get a 1-based position among them."""
    parent = children[0].getparent() if children else None
    namespace = None if parent is None else etree.QName(parent).namespace
    totals: dict[object, int] = {}
    for child in children:
        totals[child.tag] = totals.get(child.tag, 0) + 1
    seen: dict[object, count[int]] = {}
    paths = []
    for child in children:
        path = _label_path(parent_path, child, namespace)
        if totals[child.tag] > 1:
            path += f"[{next(seen.setdefault(child.tag, count(1)))}]"
        paths.append(path)
    return paths


def _describe_tag(element: etree._Element, other: etree._Element) -> str:
    """`<name>`, with the namespace only when that is what differs."""
    qname, other_qname = etree.QName(element), etree.QName(other)
    if qname.namespace == other_qname.namespace:
        return f"<{qname.localname}>"
    return f"<{qname.localname} xmlns='{qname.namespace or ''}'>"


def _attribute_name(name: str) -> str:
    if name.startswith(_XML_PREFIX):
        return "xml:" + name[len(_XML_PREFIX) :]
    return name


def _shown(value: str) -> str:
    if len(value) > _SHOWN_VALUE:
        value = value[: _SHOWN_VALUE - 1] + "…"
    return repr(value)


def _snippet(element: etree._Element) -> str:
    """A one-line start tag: name and attributes, enough to recognise the element."""
    attributes = " ".join(
        f"{_attribute_name(name)}='{value}'"
        for name, value in element.attrib.items()
        if not name.startswith(_SCANSION_PREFIX)
    )
    text = f"<{etree.QName(element).localname}{' ' if attributes else ''}{attributes}"
    text += "/>" if len(element) == 0 and not _text(element) else ">…"
    if len(text) > 2 * _SHOWN_VALUE:
        text = text[: 2 * _SHOWN_VALUE - 1] + "…"
    return text
