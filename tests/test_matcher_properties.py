"""Properties of the matcher over generated XML trees."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from harness.matcher import STRICT_ATTRIBUTE, match, match_captures

NAMESPACES = ("jabber:client", "urn:a", "urn:b")
NAMES = ("a", "b", "item", "x")
ATTRIBUTE_NAMES = ("k", "id", "type", "v")
PLAIN_VALUES = st.text(alphabet="ab1 ", max_size=4)
MARKED_VALUES = st.one_of(
    PLAIN_VALUES,
    st.sampled_from(["{scansion:any}", "{scansion:capture:c}", "{scansion:capture:d}"]),
)


@dataclass(frozen=True)
class Tree:
    namespace: str
    name: str
    attributes: dict[str, str]
    text: str | None
    children: tuple[Tree, ...]

    def build(self) -> etree._Element:
        element = etree.Element(f"{{{self.namespace}}}{self.name}", self.attributes)
        element.text = self.text
        for child in self.children:
            element.append(child.build())
        return element


def trees(values: st.SearchStrategy[str], with_strict: bool) -> st.SearchStrategy[Tree]:
    attribute_names = ATTRIBUTE_NAMES + ((STRICT_ATTRIBUTE,) if with_strict else ())
    attribute_values = (
        st.one_of(values, st.sampled_from(["true", "false"])) if with_strict else values
    )
    nodes = st.builds(
        Tree,
        st.sampled_from(NAMESPACES),
        st.sampled_from(NAMES),
        st.dictionaries(st.sampled_from(attribute_names), attribute_values, max_size=3),
        st.one_of(st.none(), values),
        st.just(()),
    )

    def extend(children: st.SearchStrategy[Tree]) -> st.SearchStrategy[Tree]:
        return st.builds(
            Tree,
            st.sampled_from(NAMESPACES),
            st.sampled_from(NAMES),
            st.dictionaries(st.sampled_from(attribute_names), attribute_values, max_size=3),
            st.one_of(st.none(), values),
            st.lists(children, max_size=4).map(tuple),
        )

    return st.recursive(nodes, extend, max_leaves=12)


PLAIN_TREES = trees(PLAIN_VALUES, with_strict=False)
ANY_TREES = trees(MARKED_VALUES, with_strict=True)


@settings(deadline=None)
@given(PLAIN_TREES)
def test_a_stanza_matches_itself(tree: Tree) -> None:
    result = match(tree.build(), tree.build(), {})
    assert result.ok, result.explanation
    assert result.differences == 0


@settings(deadline=None)
@given(PLAIN_TREES, st.data())
def test_foreign_children_and_extra_attributes_never_break_a_match(
    tree: Tree, data: st.DataObject
) -> None:
    expected = tree.build()
    received = copy.deepcopy(expected)
    for element in list(received.iter(etree.Element)):
        own = etree.QName(element).namespace
        foreign = [namespace for namespace in NAMESPACES if namespace != own]
        for _ in range(data.draw(st.integers(0, 2))):
            namespace = data.draw(st.sampled_from(foreign))
            extra = etree.SubElement(element, f"{{{namespace}}}{data.draw(st.sampled_from(NAMES))}")
            extra.text = data.draw(st.one_of(st.none(), PLAIN_VALUES))
        if data.draw(st.booleans()):
            element.set("extra-attribute", data.draw(PLAIN_VALUES))
        if data.draw(st.booleans()):
            element.set("{urn:a}k", data.draw(PLAIN_VALUES))
    result = match(expected, received, {})
    assert result.ok, result.explanation


@settings(deadline=None)
@given(
    ANY_TREES,
    ANY_TREES,
    st.dictionaries(st.sampled_from(["c", "d"]), PLAIN_VALUES, max_size=2),
)
def test_matching_never_raises_and_agrees_with_itself(
    expected: Tree, received: Tree, bindings: dict[str, str]
) -> None:
    result = match(expected.build(), received.build(), bindings)
    assert result.ok == (result.differences == 0)
    assert result.ok == (match_captures(expected.build(), received.build(), bindings) is not None)
    if result.ok:
        assert all(name not in bindings for name in result.captures)
    else:
        assert result.explanation
        assert result.captures == {}
