"""What one scenario run measured, and the median of several runs."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Measurement:
    """One run of one scenario on one target. Correctness counts are None where meaningless."""

    scenario: str
    target: str
    unit: str
    done: int  # units completed (deliveries, joins, logins)
    expected: int
    seconds: float  # the measured phase, setup excluded
    throughput: float  # done / seconds
    p50_ms: float | None
    p99_ms: float | None
    server_cpu_s: float | None  # None when the server process cannot be observed
    loadgen_cpu_s: float
    lost: int
    duplicated: int | None
    out_of_order: int | None
    errors: dict[str, int] = field(default_factory=dict)
    runs: int = 1

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def correct(self) -> bool:
        return (
            not self.errors
            and self.lost == 0
            and not self.duplicated
            and not self.out_of_order
            and self.done == self.expected
        )


def failed(scenario: str, target: str, unit: str, message: str) -> Measurement:
    """A run that could not measure anything (setup failed): shown with its reason."""
    return Measurement(
        scenario, target, unit, 0, 0, 0.0, 0.0, None, None, None, 0.0, 0, None, None, {message: 1}
    )


def percentile_ms(latencies_ns: list[int], fraction: float) -> float | None:
    """Nearest-rank percentile in milliseconds."""
    if not latencies_ns:
        return None
    ordered = sorted(latencies_ns)
    rank = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[rank] / 1e6


def _median(values: list[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def _total(values: list[int | None]) -> int | None:
    present = [value for value in values if value is not None]
    return sum(present) if present else None


def combine(runs: list[Measurement]) -> Measurement:
    """Medians of the figures over repeated runs; correctness counts and errors are summed,
    so one bad run is never hidden by good ones."""
    first = runs[0]
    errors: Counter[str] = Counter()
    for run in runs:
        errors.update(run.errors)
    return Measurement(
        scenario=first.scenario,
        target=first.target,
        unit=first.unit,
        done=sum(run.done for run in runs),
        expected=sum(run.expected for run in runs),
        seconds=statistics.median(run.seconds for run in runs),
        throughput=statistics.median(run.throughput for run in runs),
        p50_ms=_median([run.p50_ms for run in runs]),
        p99_ms=_median([run.p99_ms for run in runs]),
        server_cpu_s=_median([run.server_cpu_s for run in runs]),
        loadgen_cpu_s=statistics.median(run.loadgen_cpu_s for run in runs),
        lost=sum(run.lost for run in runs),
        duplicated=_total([run.duplicated for run in runs]),
        out_of_order=_total([run.out_of_order for run in runs]),
        errors=dict(errors),
        runs=len(runs),
    )
