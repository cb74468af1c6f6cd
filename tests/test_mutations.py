"""Every recorded `receives` step must notice a wrong expectation.

For each passing step of each recording, the expected stanza is changed in one
way at a time and re-run against exactly what the step could choose from (the
stanzas available at that step, the captures known before it). Every change
must make the step fail:
- an attribute value (each attribute of each element),
- the name of the top element,
- the name of each child in the same namespace as its parent,
- an added child that was not received (under each element),
- `scansion:strict='true'` on each element whose matched received element has
  children that no expected child matched.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from lxml import etree

from harness.matcher import STRICT_ATTRIBUTE, correspondence, expected_from_text, match_captures
from harness.replay import Recording, StepOutcome, load_recording, recordings, replay
from protocol import namespaces as ns
from tests.conftest import TRACES

MUTANT_NAMESPACE = "urn:example:mutation"

Mutation = Callable[[etree._Element], etree._Element]


def positions(root: etree._Element) -> Iterator[tuple[int, ...]]:
    """Index paths of every element of a tree, root first."""
    yield ()
    for index, child in enumerate(element for element in root if isinstance(element.tag, str)):
        for rest in positions(child):
            yield (index, *rest)


def at(root: etree._Element, position: tuple[int, ...]) -> etree._Element:
    node = root
    for index in position:
        node = [element for element in node if isinstance(element.tag, str)][index]
    return node


def mutated(root: etree._Element, position: tuple[int, ...], change: Callable) -> etree._Element:
    clone = copy.deepcopy(root)
    change(at(clone, position))
    return clone


def mutations(
    expected: etree._Element, received: etree._Element, bindings: dict[str, str]
) -> Iterator[tuple[str, etree._Element]]:
    yield "rename top element", mutated(expected, (), rename)
    pairs = correspondence(expected, received, bindings)
    assert pairs is not None
    partner = {id(want): got for want, got in pairs}
    matched = {id(got) for _, got in pairs}
    for position in positions(expected):
        element = at(expected, position)
        for name in element.attrib:
            if not name.startswith(f"{{{ns.SCANSION}}}"):
                yield "change attribute value", mutated(expected, position, change_value(name))
        parent = element.getparent()
        if position and etree.QName(parent).namespace == etree.QName(element).namespace:
            yield "rename same-namespace child", mutated(expected, position, rename)
        yield "add child not received", mutated(expected, position, add_child)
        got = partner[id(element)]
        if any(isinstance(child.tag, str) and id(child) not in matched for child in got):
            yield "add strict='true' over extra children", mutated(expected, position, strict)


def rename(element: etree._Element) -> None:
    qname = etree.QName(element)
    element.tag = etree.QName(qname.namespace, qname.localname + "-renamed").text


def change_value(name: str) -> Callable[[etree._Element], None]:
    def change(element: etree._Element) -> None:
        element.set(name, element.get(name, "") + "-changed")

    return change


def add_child(element: etree._Element) -> None:
    etree.SubElement(element, f"{{{MUTANT_NAMESPACE}}}not-received")


def strict(element: etree._Element) -> None:
    element.set(STRICT_ATTRIBUTE, "true")


def resolver(recording: Recording) -> Callable[[str, bool], str]:
    def resolve(actor: str, full: bool) -> str:
        client = recording.clients[actor]
        return client.full if full else client.bare

    return resolve


def step_passes(expected: etree._Element, outcome: StepOutcome) -> bool:
    return any(
        match_captures(expected, stanza, outcome.bindings) is not None
        for stanza in outcome.available
    )


@pytest.mark.skipif(not TRACES.is_dir(), reason=f"{TRACES} is absent")
def test_every_mutation_of_every_recorded_expectation_fails() -> None:
    tried: Counter[str] = Counter()
    survivors: list[str] = []
    for path in recordings(TRACES):
        recording = load_recording(path)
        for outcome in replay(recording):
            assert outcome.ok, f"{path}: line {outcome.step.line} does not replay"
            for expected in expected_from_text(outcome.step.template or "", resolver(recording)):
                bindings = dict(outcome.bindings)
                received = next(
                    stanza
                    for stanza in outcome.available
                    if match_captures(expected, stanza, bindings) is not None
                )
                for kind, mutant in mutations(expected, received, bindings):
                    tried[kind] += 1
                    if step_passes(mutant, outcome):
                        survivors.append(
                            f"{path.parent.name}/{path.name} line {outcome.step.line}: {kind}: "
                            f"{etree.tostring(mutant, encoding='unicode')[:200]}"
                        )
    print("mutations tried:", dict(tried), "total", sum(tried.values()))
    assert len(tried) == 5
    assert not survivors, "\n".join(survivors)
