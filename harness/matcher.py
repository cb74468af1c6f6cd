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

from harness.forms import (
    ONE_OF_TAG,
    ONE_OF_VALUE,
    STRICT_ATTRIBUTE,
    Item,
    any_order,
    form_problems,
    items_of,
)
from harness.stanza_text import BlockSyntaxError, parse_block, substitute
from protocol import namespaces as ns

ANY_VALUE = "{scansion:any}"
_CAPTURE = re.compile(r"\{scansion:capture:(?P<name>[^{}]+)\}")
_SCANSION_PREFIX = f"{{{ns.SCANSION}}}"
_XML_PREFIX = "{http://www.w3.org/XML/1998/namespace}"
_SHOWN_VALUE = 60

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
    when `ok`.
    """

    ok: bool
    differences: int
    explanation: str
    captures: dict[str, str] = field(default_factory=dict)


def expected_from_text(
    text: str,
    resolve: Callable[[str, bool], str],
    lookup: Callable[[str], str | None] = lambda name: None,
) -> list[etree._Element]:
    """Expected stanzas of a `receives` block: variables substituted, `scansion:` parsed.

    Raises BlockSyntaxError for malformed XML or a misused `scansion:` form (a
    `scansion:strict` that is neither 'true' nor 'false', an empty one-of...), so
    a typo cannot silently change what is compared.
    """
    elements = parse_block(substitute(text, resolve, lookup))
    problems = form_problems(elements)
    if problems:
        first = problems[0]
        raise BlockSyntaxError(first.message, first.line, 1)
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
        report = _Report(1, f"{path}: captured values disagree")
    return MatchResult(False, report.count, report.first or "differs", {})


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
    items = items_of(expected)
    got = _elements(received)
    if not items:
        return ({}, []) if mode is not Mode.STRICT or not got else None  # M4 first sentence, M6
    if mode is Mode.LOOSE:  # M5
        return _assign(items, got, mode, known, complete=False)
    parent_ns = etree.QName(expected).namespace
    items_same = [item for item in items if item.namespace == parent_ns]
    items_foreign = [item for item in items if item.namespace != parent_ns]
    got_same, got_foreign = _split(got, parent_ns)
    if any_order(expected):  # complete, in any order
        same = _assign(items_same, got_same, mode, known, complete=True)
    else:  # M4: in order, no extras
        same = _sequence(items_same, got_same, mode, known)
    if same is None:
        return None
    captures, pairs = same
    rest = _assign(
        items_foreign,
        got_foreign,
        mode,
        _Scope(known, captures),
        complete=mode is Mode.STRICT,  # M6
    )
    if rest is None:
        return None
    return {**captures, **rest[0]}, pairs + rest[1]


def _match_item(
    item: Item, received: etree._Element, mode: Mode, known: Mapping[str, str]
) -> tuple[Captures, Pairs] | None:
    """The first of the item's candidates (one, or a one-of's) that matches."""
    for candidate in item.candidates:
        found = _match(candidate, received, mode, known)
        if found is not None:
            return found
    return None


def _sequence(
    items: list[Item], got: list[etree._Element], mode: Mode, known: Mapping[str, str]
) -> tuple[Captures, Pairs] | None:
    """Pair items and received children in order, every received child used.

    An optional item may pair with nothing; the first way that works wins.
    """

    def walk(i: int, j: int, captures: Captures) -> tuple[Captures, Pairs] | None:
        if i == len(items):
            return (captures, []) if j == len(got) else None
        item = items[i]
        if j < len(got):
            found = _match_item(item, got[j], mode, _Scope(known, captures))
            if found is not None:
                rest = walk(i + 1, j + 1, {**captures, **found[0]})
                if rest is not None:
                    return rest[0], found[1] + rest[1]
        return walk(i + 1, j, captures) if item.optional else None

    return walk(0, 0, {})


def _assign(
    items: list[Item],
    got: list[etree._Element],
    mode: Mode,
    known: Mapping[str, str],
    *,
    complete: bool,
) -> tuple[Captures, Pairs] | None:
    """Give every required item a distinct matching received child, in any order.

    Optional items take a child when one matches. `complete`: every received
    child must be taken. Where extras are allowed, an optional item that took
    nothing while a child of its name is left, or a one-of while another child
    matches it, fails (`_claimed`). Without captures this is bipartite matching
    (augmenting paths, polynomial even when no assignment exists); children that
    capture values can only be paired consistently, so those rare cases use
    backtracking.
    """
    required = sum(1 for item in items if not item.optional)
    if required > len(got) or (complete and len(items) < len(got)):
        return None
    options: list[dict[int, tuple[Captures, Pairs]]] = []
    for item in items:
        row = {}
        for index, have in enumerate(got):
            found = _match_item(item, have, mode, known)
            if found is not None:
                row[index] = found
        if not row and not item.optional:
            return None
        options.append(row)

    def acceptable(chosen: dict[int, int]) -> bool:
        if len(chosen) < len(items) and any(
            not items[i].optional for i in range(len(items)) if i not in chosen
        ):
            return False
        taken = set(chosen.values())
        if complete and len(taken) < len(got):
            return False
        return not _claimed(items, got, chosen, taken, mode, known)

    if any(found[0] for row in options for found in row.values()):
        chosen = _consistent_assignment(options, items, acceptable)
    else:
        chosen = _bipartite_assignment(options, items)
        if chosen is not None and not acceptable(chosen):
            chosen = None
    if chosen is None:
        return None
    captures: Captures = {}
    pairs: Pairs = []
    for index, partner in sorted(chosen.items()):
        captures.update(options[index][partner][0])
        pairs.extend(options[index][partner][1])
    return captures, pairs


def _claimed(
    items: list[Item],
    got: list[etree._Element],
    chosen: dict[int, int],
    taken: set[int],
    mode: Mode,
    known: Mapping[str, str],
) -> bool:
    """Whether a child left over belongs to an item: an absent optional's, a second one-of."""
    left = [have for index, have in enumerate(got) if index not in taken]
    for index, item in enumerate(items):
        if item.optional and index not in chosen:
            tags = {candidate.tag for candidate in item.candidates}
            if any(have.tag in tags for have in left):
                return True  # present, but it does not match
        if item.group is not None and any(
            _match_item(item, have, mode, known) is not None for have in left
        ):
            return True  # a one-of matches exactly one child
    return False


def _bipartite_assignment(
    options: list[dict[int, tuple[Captures, Pairs]]], items: list[Item]
) -> dict[int, int] | None:
    """Required items first: augmenting paths keep them paired while optional ones join."""
    order = [i for i, item in enumerate(items) if not item.optional]
    order += [i for i, item in enumerate(items) if item.optional]
    partner = _maximum_matching([options[i] for i in order])
    chosen = {order[want]: have for want, have in partner.items()}
    if any(i not in chosen for i, item in enumerate(items) if not item.optional):
        return None
    return chosen


def _consistent_assignment(
    options: list[dict[int, tuple[Captures, Pairs]]],
    items: list[Item],
    acceptable: Callable[[dict[int, int]], bool],
) -> dict[int, int] | None:
    order = sorted(range(len(options)), key=lambda want: len(options[want]))
    chosen: dict[int, int] = {}

    def search(position: int, used: set[int], captures: Captures) -> bool:
        if position == len(order):
            return acceptable(chosen)
        want = order[position]
        for have, (found, _pairs) in options[want].items():
            if have in used or any(captures.get(k, v) != v for k, v in found.items()):
                continue
            chosen[want] = have
            if search(position + 1, used | {have}, {**captures, **found}):
                return True
            del chosen[want]
        return items[want].optional and search(position + 1, used, captures)

    if not search(0, set(), {}):
        return None
    return dict(chosen)


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
    one_of = ONE_OF_VALUE.fullmatch(want)
    if one_of is not None:
        return got in one_of["values"].split("|")
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
class _Report:
    count: int
    first: str | None = None


_PERFECT = _Report(0)


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
                )
            )
        elif not _value_matches(value, got, known, captures):
            reports.append(
                _Report(
                    1,
                    f"{path}/@{_attribute_name(name)}: expected "
                    f"{_shown_expected(value, _Scope(known, captures))}, "
                    f"received {_shown(got)}",
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
    items = items_of(expected)
    got = _elements(received)
    if not items:
        if mode is Mode.STRICT and got:
            return _Report(len(got), f"{path}: unexpected child {_snippet(got[0])} (strict)")
        return _PERFECT
    wanted = _representatives(items, got, mode, known)
    if mode is Mode.LOOSE:
        return _explain_unordered(wanted, got, mode, path, known, extras=None)
    parent_ns = etree.QName(expected).namespace
    wanted_same, wanted_foreign = _split(wanted, parent_ns)
    got_same, got_foreign = _split(got, parent_ns)
    if any_order(expected):
        same = _explain_unordered(wanted_same, got_same, mode, path, known, extras="order any")
    else:
        same = _explain_ordered(wanted_same, got_same, mode, path, known)
    return _combine(
        [
            same,
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


def _representatives(
    items: list[Item], got: list[etree._Element], mode: Mode, known: Mapping[str, str]
) -> list[etree._Element]:
    """One expected element per item to explain against: a one-of's closest candidate;
    an optional child only when a child of its name is there."""
    wanted = []
    for item in items:
        tags = {have.tag for have in got}
        present = [c for c in item.candidates if c.tag in tags]
        if item.optional and not present:
            continue
        matching = [c for c in item.candidates if any(_match(c, have, mode, known) for have in got)]
        wanted.append((matching or present or list(item.candidates))[0])
    return wanted


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
                    f"{paths[i - 1]}: no partner for {_expected_snippet(wanted[i - 1])}",
                )
                options.append((cost[i - 1][j] + missing.count, i - 1, j, missing))
            if j > 0:
                extra = _Report(1, f"{path}: unexpected child {_snippet(got[j - 1])}")
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
                _Report(_weight(want), f"{paths[i]}: no partner for {_expected_snippet(want)}")
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
    one_of = ONE_OF_VALUE.fullmatch(want)
    if one_of is not None:
        return "one of " + ", ".join(_shown(value) for value in one_of["values"].split("|"))
    capture = _CAPTURE.fullmatch(want)
    if capture is None:
        return _shown(want)
    name = capture["name"]
    return f"{_shown(known.get(name, ''))} (captured as {name})"


def _combine(reports: list[_Report]) -> _Report:
    total = sum(report.count for report in reports)
    first = next((report.first for report in reports if report.count), None)
    return _Report(total, first)


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
    if parent is not None and parent.tag == ONE_OF_TAG:
        parent = parent.getparent()
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


def _expected_snippet(element: etree._Element) -> str:
    """An expected child as a start tag; a one-of candidate names every candidate."""
    group = element.getparent()
    if group is None or group.tag != ONE_OF_TAG:
        return _snippet(element)
    return "one of " + ", ".join(_snippet(c) for c in group if isinstance(c.tag, str))


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
