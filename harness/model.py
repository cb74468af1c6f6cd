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
    RECEIVES_IN_ORDER = "receives in order"
    MUST_NOT_RECEIVE = "must not receive"


class NeedKind(StrEnum):
    """What a script or step needs from the server (`@needs KIND VALUE`)."""

    FEATURE = "feature"  # a disco#info feature, at the MUC service or another JID
    CONFIG = "config"  # a field of the most recent room configuration form
    FACT = "fact"  # a fact of the target profile that is true


@dataclass(frozen=True)
class Need:
    """`@needs feature VAR [at JID]`, `@needs config FIELD` or `@needs fact NAME`.

    `at` is None for the default place (the MUC service); it may hold variables.
    """

    kind: NeedKind
    value: str
    at: str | None = None
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        where = f" at {self.at}" if self.at else ""
        return f"{self.kind} {self.value}{where}"


@dataclass(frozen=True)
class Check:
    """One requirement id named by `@checks`, where the script names it."""

    id: str
    line: int = 0
    column: int = 0


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
    """One action of the script body. `xml` is the block's text (dedented), or None.

    `within` is the window of `must not receive within Ns` (None: the quiet
    period); `checks` and `needs` come from the `@` annotations just above it.
    """

    actor: str
    action: Action
    xml: str | None
    line: int
    column: int
    within: float | None = None
    checks: tuple[Check, ...] = ()
    needs: tuple[Need, ...] = ()


@dataclass(frozen=True)
class Script:
    path: Path
    title: str
    description: str
    actors: tuple[Actor, ...]
    steps: tuple[Step, ...]
    checks: tuple[Check, ...] = ()  # `@checks` in the header: the whole script checks these
    needs: tuple[Need, ...] = ()  # `@needs` in the header: checked before the first step

    def requirement_ids(self) -> list[str]:
        """Every requirement id the script or one of its steps checks, first mention first."""
        ids = [check.id for check in self.checks]
        ids += [check.id for step in self.steps for check in step.checks]
        return list(dict.fromkeys(ids))

    def actor(self, name: str) -> Actor:
        for actor in self.actors:
            if actor.name == name:
                return actor
        raise KeyError(name)
