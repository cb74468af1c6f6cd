"""What a run produced: plain data the runner fills and every report reads.

Reports (console, JSON, JUnit, HTML, diff) never look at live clients or
exceptions, only at these records, so they can be unit-tested with hand-built
results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
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
    received: tuple[str, ...] = ()  # the stanzas a `receives` step matched, serialized


@dataclass(frozen=True)
class Mark:
    """One element or attribute where a received stanza departs from the expected one.

    `side`: "received" (it differs, or was not expected) or "expected" (missing
    from what was received); `node`: element-child indexes from the stanza down to
    the element; `attribute`: the attribute's name, "text()" for the element's text,
    None for the whole element. Reports re-parse the serialized stanza to find it.
    """

    side: str
    node: tuple[int, ...]
    attribute: str | None = None


@dataclass(frozen=True)
class Failure:
    """Where and why a script stopped; `expected`/`closest` are serialized XML.

    For a `receives` that found no match, `path` is where the closest stanza first
    differs (`("iq", "@type")`) and `marks` every difference the matcher counted.
    """

    line: int
    step: int
    actor: str
    action: str
    message: str
    expected: str | None = None
    closest: str | None = None
    explanation: str = ""
    buffered: int | None = None
    path: tuple[str, ...] = ()
    marks: tuple[Mark, ...] = ()


@dataclass(frozen=True)
class TrafficEntry:
    """One stanza or stream event seen by an actor, `t` seconds after the script started.

    `direction` is "sent", "received" or "event" (connected, stream closed, ...);
    `step` is the index of the step being carried out when it happened; for a
    received stanza, `matched_by` is the index of the `receives` step it satisfied
    (None: it stayed in the buffer, which rule Q2 allows).
    """

    t: float
    actor: str
    direction: str
    text: str
    step: int = 0
    matched_by: int | None = None


@dataclass(frozen=True)
class InvalidStanza:
    """A stanza the target sent that breaks its schema (`run --validate`), and how.

    Independent of the script's outcome: a server can pass a script and still send
    stanzas no client should have to accept.
    """

    step: int  # index of the step being carried out when it arrived
    line: int  # that step's line in the script
    actor: str  # who received it
    stanza: str
    problems: tuple[str, ...]  # "path: message", as harness.schema words them


@dataclass(frozen=True)
class ScriptResult:
    path: Path
    title: str
    status: Status
    duration_s: float
    steps: tuple[StepResult, ...] = ()
    failure: Failure | None = None
    traffic: tuple[TrafficEntry, ...] = ()
    invalid: tuple[InvalidStanza, ...] = ()
    started_s: float = 0.0  # when the script began, in seconds since its run began


@dataclass
class RunResult:
    """A whole run against one target. `interrupted`: it stopped before every script ran.

    `server` is what the target says it runs (XEP-0092 software version), when it says;
    `validated` tells whether received stanzas were checked against the schemas.
    """

    target: str
    scripts: list[ScriptResult] = field(default_factory=list)
    duration_s: float = 0.0
    interrupted: bool = False
    unreachable: str | None = None
    server: str | None = None
    validated: bool = False

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

    @property
    def invalid_stanzas(self) -> int:
        return sum(len(script.invalid) for script in self.scripts)


@dataclass
class MatrixResult:
    """The same scripts run against several targets: one RunResult per target, in order."""

    runs: list[RunResult]
    started_at: datetime
    duration_s: float = 0.0

    @property
    def targets(self) -> list[str]:
        return [run.target for run in self.runs]

    @property
    def paths(self) -> list[Path]:
        """Every script that ran on some target, in the order the runs met them."""
        seen: dict[Path, None] = {}
        for run in self.runs:
            seen.update((script.path, None) for script in run.scripts)
        return list(seen)

    def cell(self, path: Path, target: str) -> ScriptResult | None:
        """The script's result on the target; None when it did not run there."""
        for run in self.runs:
            if run.target == target:
                return next((s for s in run.scripts if s.path == path), None)
        return None

    @property
    def interrupted(self) -> bool:
        return any(run.interrupted for run in self.runs)

    @property
    def ok(self) -> bool:
        return all(run.ok for run in self.runs)
