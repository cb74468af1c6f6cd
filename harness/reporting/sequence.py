"""A script's conversation as a sequence diagram: inline SVG for the HTML report.

One lifeline per actor plus the server; one arrow per stanza sent and per
received stanza a `receives` step matched, in time order, each labelled with a
short summary (`presence → room/Romeo (muc join)`). Stanzas that arrived but no
step asked for are drawn faint, and a run of three or more alike folds into one
arrow counted `\N{MULTIPLICATION SIGN}N`. The step where the script stopped gets a red arrow: for a
`receives`, from the server to the actor, labelled with what was expected.

Every arrow carries `data-step` (the step's index) and `data-view` (the id of
the panel that shows its stanzas), which the report's script uses to tie the
diagram to the script's lines and to the stanzas.
"""

from __future__ import annotations

import functools
import html
from dataclasses import dataclass

from lxml import etree

from harness.results import ScriptResult, TrafficEntry
from harness.stanza_text import BlockSyntaxError, parse_block

SERVER = "server"
_LANE = 190  # px between lifelines, at most; narrower when there are many actors
_LANES_WIDTH = 720  # what the lanes share before they narrow (to _NARROWEST)
_NARROWEST = 112
_GUTTER = 64  # left margin, for the time of each row
_ROW = 26
_HEAD = 38
_LABEL = 44  # characters shown in an arrow's label (the full one is in its tooltip)
_FOLD = 3  # this many alike unmatched stanzas in a row fold into one arrow
_SERVICES = 3  # room or service lifelines at most
_KINDS = ("sent", "matched", "faint", "failed")
_HEADS = (
    '<marker id="{ident}-{kind}" class="head {kind}" viewBox="0 0 10 10" refX="9" refY="5" '
    'markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto">'
    '<path d="M0,0L10,5L0,10z"/></marker>'
)


@dataclass(frozen=True)
class Row:
    """One line of the diagram: an arrow (sent, matched, faint, failed) or an event note."""

    kind: str  # "sent", "matched", "faint", "failed" or "event"
    actor: str
    label: str
    t: float
    step: int
    entries: tuple[int, ...]  # indexes into the script's traffic, for its stanza panel
    outgoing: bool = False  # drawn from the actor to its peer
    count: int = 1
    peer: str = SERVER  # the other lifeline: the server, or a room or service JID


def rows(result: ScriptResult) -> list[Row]:
    """The diagram's rows in time order, unmatched runs folded, the failure last."""
    runs: list[list[Row]] = []
    peers = _Peers(result)
    for index, entry in enumerate(result.traffic):
        row = _row(index, entry, result, peers)
        last = runs[-1][-1] if runs else None
        if (
            last is not None
            and row.kind == last.kind == "faint"
            and (row.actor, row.label, row.peer) == (last.actor, last.label, last.peer)
        ):
            runs[-1].append(row)
        else:
            runs.append([row])
    found = [
        run[0] if len(run) == 1 else _folded(run) if len(run) >= _FOLD else row
        for run in runs
        for row in (run if 1 < len(run) < _FOLD else run[:1])
    ]
    failure = result.failure
    if failure is not None and failure.action != "receives nothing":
        label = failure.message
        if failure.expected is not None:
            label = "expected " + summary(failure.expected, "received", result)
        # After the last stanza, before the connections the run closed once it stopped.
        at = next((i + 1 for i in range(len(found) - 1, -1, -1) if found[i].kind != "event"), 0)
        t = found[at - 1].t if at else 0.0
        outgoing = failure.action != "receives"
        peer = peers.lane(failure.expected, "received") if failure.expected else SERVER
        failed = Row("failed", failure.actor, "✗ " + label, t, failure.step, (), outgoing, 1, peer)
        found.insert(at, failed)
    return found


class _Peers:
    """Which lifeline a stanza goes to or comes from: a room or service JID (one not on
    an actor's domain, e.g. `room@conference.localhost`) gets its own when there are
    at most three of them; otherwise their domains do, or, past three, the server."""

    def __init__(self, result: ScriptResult) -> None:
        self.home: set[str] = set()
        services: dict[str, str] = {}  # bare JID -> its domain
        for entry in result.traffic:
            if entry.direction == "received":
                self.home.add(_bare(_attribute(entry.text, "to")).rpartition("@")[2])
        for entry in result.traffic:
            if entry.direction in ("sent", "received"):
                bare = _bare(_attribute(entry.text, "to" if entry.direction == "sent" else "from"))
                domain = bare.rpartition("@")[2]
                if bare and domain not in self.home:
                    services.setdefault(bare, domain)
        domains = list(dict.fromkeys(services.values()))
        if len(services) <= _SERVICES:
            self.names = {bare: bare for bare in services}
        elif len(domains) <= _SERVICES:
            self.names = dict(services)
        else:
            self.names = {}

    def lane(self, text: str, direction: str) -> str:
        bare = _bare(_attribute(text, "to" if direction == "sent" else "from"))
        return self.names.get(bare, SERVER)


def _attribute(text: str, name: str) -> str:
    stanzas = _parsed(text)
    return stanzas[0].get(name, "") if stanzas else ""


@functools.lru_cache(maxsize=256)
def _parsed(text: str) -> tuple[etree._Element, ...]:
    """The stanzas of a traffic entry (several for a `sends` block); () if unparsable."""
    try:
        return tuple(parse_block(text))
    except BlockSyntaxError:
        return ()


def _bare(jid: str) -> str:
    return jid.partition("/")[0]


def _folded(run: list[Row]) -> Row:
    first = run[0]
    entries = tuple(entry for row in run for entry in row.entries)
    return Row("faint", first.actor, first.label, first.t, first.step, entries, False, len(run))


def _row(index: int, entry: TrafficEntry, result: ScriptResult, peers: _Peers) -> Row:
    failure = result.failure
    if entry.direction == "event":
        return Row("event", entry.actor, entry.text, entry.t, entry.step, (index,))
    peer = peers.lane(entry.text, entry.direction)
    if entry.direction == "sent":
        label = summary(entry.text, entry.direction, result)
        return Row("sent", entry.actor, label, entry.t, entry.step, (index,), True, 1, peer)
    if entry.matched_by is not None:
        kind, step = "matched", entry.matched_by
    elif (
        failure is not None
        and failure.action == "receives nothing"
        and failure.step == entry.step
        and failure.actor == entry.actor
        and failure.closest == entry.text
    ):
        kind, step = "failed", entry.step  # the stanza that broke the silence
    else:
        kind, step = "faint", entry.step
    label = summary(entry.text, entry.direction, result)
    if kind == "failed":
        label = "✗ unexpected " + label
    return Row(kind, entry.actor, label, entry.t, step, (index,), False, 1, peer)


def summary(text: str, direction: str, result: ScriptResult) -> str:
    """`kind type → peer (key child)`: enough to tell stanzas apart at a glance."""
    elements = _parsed(text)
    if not elements:
        return text.split(None, 1)[0][:_LABEL] if text.strip() else "(empty)"
    element = elements[0]
    kind = etree.QName(element).localname
    parts = [kind]
    if element.get("type"):
        parts.append(element.get("type", ""))
    peer = element.get("to" if direction == "sent" else "from")
    if peer:
        parts.append(("→ " if direction == "sent" else "← ") + _short_jid(peer, result))
    key = _key(element)
    if key:
        parts.append(f"({key})")
    if len(elements) > 1:
        parts.append(f"+{len(elements) - 1} more")
    return " ".join(parts)


def _key(element: etree._Element) -> str:
    """The child that says what a stanza is for: MUC join, status codes, query, error."""
    children = [child for child in element if isinstance(child.tag, str)]
    for child in children:
        qname = etree.QName(child)
        if qname.localname == "error":
            condition = next(
                (etree.QName(c).localname for c in child if isinstance(c.tag, str)), ""
            )
            return f"error {condition}".strip()
    for child in children:
        qname = etree.QName(child)
        namespace = qname.namespace or ""
        if namespace == "http://jabber.org/protocol/muc":
            return "muc join"
        if namespace.startswith("http://jabber.org/protocol/muc#"):
            codes = [c.get("code", "") for c in child if etree.QName(c).localname == "status"]
            name = namespace.rsplit("/", 1)[-1]
            return " ".join(codes) if codes else name
    for child in children:
        qname = etree.QName(child)
        if qname.localname in ("body", "subject"):
            return qname.localname
    if children:
        qname = etree.QName(children[0])
        namespace = (qname.namespace or "").rstrip("/")
        short = namespace.rsplit("/", 1)[-1].rsplit(":", 1)[-1] if namespace else ""
        # Generic wrappers (`query`, `x`, `c`) say less than their namespace does.
        wrapper = qname.localname in ("query", "x", "c")
        return short if wrapper and short else qname.localname
    return ""


def _short_jid(jid: str, result: ScriptResult) -> str:
    """An actor's JID as the actor's name; `room/nick` for other JIDs with a node."""
    actors = {entry.actor for entry in result.traffic}
    bare, _, resource = jid.partition("/")
    node, at, _ = bare.rpartition("@")
    for actor in actors:
        if actor.lower().split()[0] == node.lower() and not resource:
            return actor
    if not at:
        return jid if len(jid) <= _LABEL // 2 else jid[: _LABEL // 2 - 1] + "…"
    return node + (f"/{resource}" if resource else "")


def lanes(result: ScriptResult, found: list[Row]) -> list[str]:
    """Actors in the order they first act, the server, then rooms and services."""
    seen: dict[str, None] = {}
    for step in result.steps:
        seen.setdefault(step.actor, None)
    for entry in result.traffic:
        seen.setdefault(entry.actor, None)
    services = dict.fromkeys(row.peer for row in found if row.peer != SERVER)
    return [*seen, SERVER, *services]


def sequence_svg(result: ScriptResult, found: list[Row], ident: str, view: str) -> str:
    """The diagram of `rows(result)` as inline SVG; `ident` prefixes element ids, `view`
    the ids of the stanza panels."""
    lifelines = lanes(result, found)
    lane = max(_NARROWEST, min(_LANE, _LANES_WIDTH // len(lifelines)))
    x = {name: _GUTTER + lane // 2 + i * lane for i, name in enumerate(lifelines)}
    width = _GUTTER + lane * len(lifelines)
    height = _HEAD + _ROW * (len(found) + 1)
    parts = [
        f'<svg class="sequence" id="{ident}" xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="group" '
        f'aria-label="sequence diagram">',
        "<defs>" + "".join(_HEADS.format(ident=ident, kind=kind) for kind in _KINDS) + "</defs>",
    ]
    actors = set(lifelines[: lifelines.index(SERVER)])
    for name, cx in x.items():
        kind = "" if name in actors else " server" if name == SERVER else " service"
        # A room or service shows its node (`garden`), the full JID in the tooltip.
        shown = name.partition("@")[0] if kind == " service" else name
        parts.append(
            f'<line class="lifeline" x1="{cx}" y1="{_HEAD - 8}" x2="{cx}" y2="{height}"/>'
            f'<rect class="lane-head{kind}" x="{cx - lane // 2 + 5}" y="4" width="{lane - 10}" '
            'height="24" rx="5">'
            f"<title>{_e(name)}</title></rect>"
            f'<text class="lane-name" x="{cx}" y="21">{_e(_clip(shown, (lane - 16) // 7))}</text>'
        )
    for i, row in enumerate(found):
        y = _HEAD + _ROW * (i + 1)
        parts.append(_row_svg(row, i, y, x, lane, width, ident, view))
    parts.append("</svg>")
    return "".join(parts)


def _row_svg(
    row: Row, i: int, y: int, x: dict[str, int], lane: int, width: int, ident: str, view: str
) -> str:
    actor_x = x.get(row.actor, x[SERVER])
    time = f'<text class="time" x="6" y="{y + 4}">{row.t:.3f}s</text>'
    if row.kind == "event":
        # `connected`, `disconnected`, `stream closed`: the details are in the tooltip.
        short = row.label.split(" as ", 1)[0].split(":", 1)[0]
        label = _clip(short, int((lane - 14) / 6.2))  # a note stays within its lane
        w = 8 + 6.2 * len(label)
        return (
            f'<g class="event" data-step="{row.step}">{time}'
            f'<rect x="{actor_x - w / 2:.0f}" y="{y - 10}" width="{w:.0f}" height="18" rx="9"/>'
            f'<text x="{actor_x}" y="{y + 3}"><title>{_e(row.label)}</title>{_e(label)}</text>'
            "</g>"
        )
    peer_x = x[row.peer]
    start, end = (actor_x, peer_x) if row.outgoing else (peer_x, actor_x)
    label = _clip(row.label, _LABEL) + (
        f" \N{MULTIPLICATION SIGN}{row.count}" if row.count > 1 else ""
    )
    # Centred on the arrow, but kept inside the diagram (monospace: ~6.6 px a character).
    half = 3.3 * len(label) + 4
    mid = min(max((start + end) / 2, _GUTTER + half), width - half)
    full = row.label + (f" ({row.count} stanzas)" if row.count > 1 else "")
    title = f"<title>{_e(full)}</title>" if full != label else ""  # only for clipped labels
    return (
        f'<g class="msg {row.kind}" {_step_attribute(row)}="{row.step}" '
        f'data-view="{view}-r{i}" tabindex="0" role="button">{time}{title}'
        f'<rect class="hit" x="{min(start, end)}" y="{y - 16}" width="{abs(end - start)}" '
        f'height="{_ROW - 2}"/>'
        f'<line x1="{start}" y1="{y + 4}" x2="{end}" y2="{y + 4}" '
        f'marker-end="url(#{ident}-{row.kind})"/>'
        f'<text x="{mid:.0f}" y="{y - 1}">{_e(label)}</text></g>'
    )


def _step_attribute(row: Row) -> str:
    """`data-step` ties an arrow to its step; a faint one only arrived `data-during` it."""
    return "data-during" if row.kind == "faint" else "data-step"


def _clip(text: str, size: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[: size - 1] + "…"


def _e(text: str) -> str:
    return html.escape(text)
