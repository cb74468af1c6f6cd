"""The script model: what a parsed `.scs` file says, as plain frozen dataclasses.

Every object keeps the line and column it came from, so errors and reports can
point at the script's own text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType


class Action(StrEnum):
    """What a step makes its actor do."""

    CONNECTS = "connects"
    DISCONNECTS = "disconnects"
    SENDS = "sends"
    RECEIVES = "receives"
    RECEIVES_NOTHING = "receives nothing"


@dataclass(frozen=True)
class Actor:
    """A declared object, e.g. `[Client] Romeo` with its indented properties."""

    name: str
    kind: str
    properties: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    line: int = 0
    column: int = 0

    @property
    def jid(self) -> str:
        return self.properties["jid"]

    @property
    def password(self) -> str:
        return self.properties.get("password", "")


@dataclass(frozen=True)
class Step:
    """One action of the script body. `xml` is the block's text (dedented), or None."""

    actor: str
    action: Action
    xml: str | None
    line: int
    column: int


@dataclass(frozen=True)
class Script:
    path: Path
    title: str
    description: str
    actors: tuple[Actor, ...]
    steps: tuple[Step, ...]

    def actor(self, name: str) -> Actor:
        for actor in self.actors:
            if actor.name == name:
                return actor
        raise KeyError(name)
