"""What a run produced: plain data the runner fills and every report reads.

Reports (console, JSON, JUnit) never look at live clients or exceptions, only at
these records, so they can be unit-tested with hand-built results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class Status(StrEnum):
    """Outcome of a step or a script.

    `failed`: the server did not do what the script expects (a stanza that never
    came, a login refused, a stream the server closed). `errored`: the script
    could not be carried out (target not reachable, a block the runner cannot
    use, an internal fault of the harness).
    """

    PASSED = "passed"
    FAILED = "failed"
    ERRORED = "errored"


@dataclass(frozen=True)
class StepResult:
    index: int
    line: int
    actor: str
    action: str
    status: Status
    duration_s: float
    detail: str = ""


@dataclass(frozen=True)
class Failure:
    """Where and why a script stopped; `expected`/`closest` are serialized XML."""

    line: int
    step: int
    actor: str
    action: str
    message: str
    expected: str | None = None
    closest: str | None = None
    explanation: str = ""
    buffered: int | None = None


@dataclass(frozen=True)
class TrafficEntry:
    """One stanza or stream event seen by an actor, `t` seconds after the script started.

    `direction` is "sent", "received" or "event" (connected, stream closed, ...).
    """

    t: float
    actor: str
    direction: str
    text: str


@dataclass(frozen=True)
class ScriptResult:
    path: Path
    title: str
    status: Status
    duration_s: float
    steps: tuple[StepResult, ...] = ()
    failure: Failure | None = None
    traffic: tuple[TrafficEntry, ...] = ()


@dataclass
class RunResult:
    """A whole run. `interrupted`: it stopped before every selected script ran."""

    target: str
    scripts: list[ScriptResult] = field(default_factory=list)
    duration_s: float = 0.0
    interrupted: bool = False
    unreachable: str | None = None

    def count(self, status: Status) -> int:
        return sum(1 for script in self.scripts if script.status is status)

    @property
    def total(self) -> int:
        return len(self.scripts)

    @property
    def passed(self) -> int:
        return self.count(Status.PASSED)

    @property
    def failed(self) -> int:
        return self.count(Status.FAILED)

    @property
    def errored(self) -> int:
        return self.count(Status.ERRORED)

    @property
    def ok(self) -> bool:
        return self.unreachable is None and self.passed == self.total
