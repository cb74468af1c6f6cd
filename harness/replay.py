"""Replay a recorded run offline: the recorded stanzas against the script's expectations.

A recording (JSON) holds, per client, the recorded `bare`/`full` JIDs and every
stanza received, each tagged with `step`: the index of the script step that was
running when the stanza arrived (in the corpus, always between the end of the
step before and the end of that step). So a stanza tagged `step: k` is
available to a `receives` step i exactly when k <= i: it was buffered before
step i began (k < i) or arrived while step i waited (k == i). Stanzas tagged
past the last step arrived during teardown and are never offered.

Replay drives the real `Inbox` and matcher with a zero timeout, so the receive
rules (Q) and the matching rules (M) are exactly those of a live run.
`receives: nothing` (verb "receives nothing", or "receives" with the template
"nothing") at step i fails on a stanza tagged i-1 or i that no step consumed
(Q4, as the inbox reads it).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from harness.inbox import Inbox, ReceiveTimeout, UnexpectedStanza
from harness.matcher import expected_from_text
from harness.model import Action

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


class RecordingError(ValueError):
    """A recording that cannot be replayed (unknown actor, malformed stanza)."""


@dataclass(frozen=True)
class Arrival:
    step: int
    t: float
    stanza: etree._Element


@dataclass(frozen=True)
class RecordedClient:
    name: str
    bare: str
    full: str
    arrivals: tuple[Arrival, ...]


@dataclass(frozen=True)
class RecordedStep:
    index: int
    line: int
    actor: str
    verb: str
    template: str | None


@dataclass(frozen=True)
class Recording:
    path: Path
    title: str
    clients: Mapping[str, RecordedClient]
    steps: tuple[RecordedStep, ...]


@dataclass(frozen=True)
class StepOutcome:
    """One replayed `receives` step.

    `available` is what the step could choose from, oldest first, and `bindings`
    the captures known before it: enough to re-run the step with another
    expectation.
    """

    step: RecordedStep
    ok: bool
    explanation: str
    available: tuple[etree._Element, ...]
    bindings: Mapping[str, str]


def recordings(root: Path) -> list[Path]:
    """Every recording under `root` (run*/NAME.json), sorted."""
    return sorted(root.glob("run*/*.json"))


def load_recording(path: Path) -> Recording:
    data = json.loads(path.read_text(encoding="utf-8"))
    clients = {
        name: RecordedClient(
            name,
            client["bare"],
            client["full"],
            tuple(
                Arrival(item["step"], item["t"], _parse_stanza(path, item["xml"]))
                for item in sorted(client["received"], key=lambda item: (item["step"], item["t"]))
            ),
        )
        for name, client in data["clients"].items()
    }
    steps = tuple(
        RecordedStep(step["index"], step["line"], step["actor"], step["verb"], step.get("template"))
        for step in data["steps"]
    )
    return Recording(path, data.get("title", ""), clients, steps)


def replay(recording: Recording) -> list[StepOutcome]:
    """Outcomes of every `receives` step, in script order."""
    return asyncio.run(_replay(recording))


def replay_file(path: Path) -> list[StepOutcome]:
    return replay(load_recording(path))


def describe_failures(recording: Recording, outcomes: list[StepOutcome]) -> str:
    """A readable list of the failed steps, for test assertions."""
    return "\n".join(
        f"{recording.path.name} line {outcome.step.line} ({outcome.step.actor} receives): "
        f"{outcome.explanation}"
        for outcome in outcomes
        if not outcome.ok
    )


async def _replay(recording: Recording) -> list[StepOutcome]:
    inboxes = {name: Inbox() for name in recording.clients}
    bindings: dict[str, str] = {}
    outcomes: list[StepOutcome] = []
    for step in recording.steps:
        for each in inboxes.values():
            each.begin_step()
        for name, client in recording.clients.items():
            for arrival in client.arrivals:
                if arrival.step == step.index:
                    inboxes[name].put(arrival.stanza)
        if step.verb not in (Action.RECEIVES, Action.RECEIVES_NOTHING):
            continue
        inbox = inboxes.get(step.actor)
        if inbox is None:
            raise RecordingError(f"{recording.path}: step {step.index}: unknown actor {step.actor}")
        available = tuple(inbox.stanzas())
        known = dict(bindings)
        try:
            if step.verb == Action.RECEIVES_NOTHING or step.template == "nothing":
                await inbox.receive_nothing(0)
            else:
                for expected in _expected(recording, step):
                    await inbox.receive(expected, 0, bindings)
        except ReceiveTimeout as failure:
            outcomes.append(StepOutcome(step, False, failure.explanation, available, known))
        except UnexpectedStanza as failure:
            outcomes.append(StepOutcome(step, False, str(failure), available, known))
        else:
            outcomes.append(StepOutcome(step, True, "", available, known))
    return outcomes


def _expected(recording: Recording, step: RecordedStep) -> list[etree._Element]:
    def resolve(actor: str, full: bool) -> str:
        client = recording.clients.get(actor)
        if client is None:
            raise RecordingError(
                f"{recording.path}: line {step.line}: no recorded JID for actor {actor!r}"
            )
        return client.full if full else client.bare

    return expected_from_text(step.template or "", resolve)


def _parse_stanza(path: Path, xml: str) -> etree._Element:
    try:
        return etree.fromstring(xml.encode(), _PARSER)
    except etree.XMLSyntaxError as exc:
        raise RecordingError(f"{path}: malformed recorded stanza: {exc}") from None
