"""Per-requirement verdicts: what a run says about each statement of a catalog, per target.

A requirement is checked by whole scripts (`@checks` in the header) or by single
steps (`@checks` above a step). On one target each checking script or step
gives an observation:

- pass: the step (or every step of the script) ran and held;
- fail: it did not hold; the evidence is the failing step's line and message;
- not applicable: a need (`@needs`) was unmet before it could run; the reason;
- not run: it never ran (an earlier step failed, the script errored), or no
  script checks the requirement; the reason.

The observations of one requirement on one target combine as: fail if any
failed; pass if all passed; else not run if any did not run; else not
applicable. Requirements a catalog marks `testable = false` are not run, with
the catalog's `why_not`.

Levels decide what a failure means: MUST-level failures fail the run, SHOULD-
level ones are warnings, MAY-level ones are counted apart; a failed script
whose failing step checks only non-MUST requirements does not fail the run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from harness.catalog import Catalog, Requirement, catalog_for
from harness.model import Script
from harness.results import MatrixResult, ScriptResult, Status


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    NOT_APPLICABLE = "not applicable"
    NOT_RUN = "not run"


@dataclass(frozen=True)
class Evidence:
    """One verdict and where it comes from (`script`/`line` are None when nothing ran)."""

    status: Verdict
    script: str | None = None
    line: int | None = None
    reason: str = ""


@dataclass
class RequirementVerdicts:
    """A requirement with its verdict on each target, in the targets' order."""

    requirement: Requirement
    verdicts: dict[str, Evidence] = field(default_factory=dict)


_FROM_STATUS = {
    Status.PASSED: Verdict.PASS,
    Status.FAILED: Verdict.FAIL,
    Status.NOT_APPLICABLE: Verdict.NOT_APPLICABLE,
    Status.ERRORED: Verdict.NOT_RUN,
}


def observations(script: Script, result: ScriptResult) -> dict[str, list[Evidence]]:
    """What one script run says about each requirement id it checks."""
    found: dict[str, list[Evidence]] = {}
    path = str(result.path)
    failure = result.failure
    stopped = f"line {failure.line}: {failure.message}" if failure else ""
    for check in script.checks:
        status = _FROM_STATUS[result.status]
        line = failure.line if failure else check.line
        reason = stopped if status is not Verdict.PASS else ""
        found.setdefault(check.id, []).append(Evidence(status, path, line, reason))
    ran = {step.index: step for step in result.steps}
    for index, step in enumerate(script.steps):
        for check in step.checks:
            outcome = ran.get(index)
            if outcome is not None:
                status = _FROM_STATUS[outcome.status]
                reason = "" if status is Verdict.PASS else (failure.message if failure else "")
                evidence = Evidence(status, path, step.line, reason)
            elif result.status is Status.NOT_APPLICABLE:
                evidence = Evidence(Verdict.NOT_APPLICABLE, path, step.line, stopped)
            else:
                evidence = Evidence(
                    Verdict.NOT_RUN, path, step.line, f"not reached: stopped at {stopped}"
                )
            found.setdefault(check.id, []).append(evidence)
    return found


def combine(evidence: Sequence[Evidence]) -> Evidence:
    """One verdict from several observations (see the module's rule)."""
    for status in (Verdict.FAIL,):
        hit = next((e for e in evidence if e.status is status), None)
        if hit is not None:
            return hit
    if all(e.status is Verdict.PASS for e in evidence):
        return evidence[0]
    for status in (Verdict.NOT_RUN, Verdict.NOT_APPLICABLE):
        hit = next((e for e in evidence if e.status is status), None)
        if hit is not None:
            return hit
    raise AssertionError("no evidence")


def judge(
    catalogs: Iterable[Catalog], scripts: Sequence[Script], matrix: MatrixResult
) -> list[RequirementVerdicts]:
    """Every requirement of the catalogs with its verdict on every target of the run."""
    by_path: dict[Path, Script] = {script.path: script for script in scripts}
    table: dict[str, RequirementVerdicts] = {}
    for catalog in catalogs:
        for requirement in catalog.requirements.values():
            table.setdefault(requirement.id, RequirementVerdicts(requirement))
    for run in matrix.runs:
        seen: dict[str, list[Evidence]] = {}
        for result in run.scripts:
            script = by_path.get(result.path)
            if script is None:
                continue
            for rid, evidence in observations(script, result).items():
                seen.setdefault(rid, []).extend(evidence)
        for rid, row in table.items():
            if not row.requirement.testable:
                why = row.requirement.why_not or "marked not testable"
                row.verdicts[run.target] = Evidence(Verdict.NOT_RUN, reason=f"not testable: {why}")
            elif rid in seen:
                row.verdicts[run.target] = combine(seen[rid])
            else:
                row.verdicts[run.target] = Evidence(Verdict.NOT_RUN, reason="no script checks it")
    return list(table.values())


@dataclass(frozen=True)
class Tally:
    """Verdict counts on one target; failures split by level."""

    passed: int = 0
    must_failed: int = 0
    should_missed: int = 0
    may_failed: int = 0
    not_applicable: int = 0
    not_run: int = 0


def tally(rows: Sequence[RequirementVerdicts], target: str) -> Tally:
    counts = dict.fromkeys(Tally.__dataclass_fields__, 0)
    for row in rows:
        evidence = row.verdicts.get(target)
        if evidence is None:
            continue
        if evidence.status is Verdict.FAIL:
            requirement = row.requirement
            key = (
                "must_failed"
                if requirement.blocking
                else "should_missed"
                if requirement.advisory
                else "may_failed"
            )
        else:
            key = {
                Verdict.PASS: "passed",
                Verdict.NOT_APPLICABLE: "not_applicable",
                Verdict.NOT_RUN: "not_run",
            }[evidence.status]
        counts[key] += 1
    return Tally(**counts)


def blocking_failure(
    script: Script, result: ScriptResult, requirements: dict[str, Requirement]
) -> bool:
    """Whether a script's outcome fails the run.

    A failure whose step (with the script's own `@checks`) checks requirements,
    none of them MUST-level, is a warning; any other failure or error fails the
    run, as without requirements."""
    if result.status is not Status.FAILED or result.failure is None:
        return result.status is Status.ERRORED
    step = script.steps[result.failure.step] if result.failure.step < len(script.steps) else None
    ids = [check.id for check in script.checks]
    ids += [check.id for check in step.checks] if step is not None else []
    levels = [requirements[rid] for rid in ids if rid in requirements]
    return not levels or any(requirement.blocking for requirement in levels)


def run_verdicts(
    scripts: Sequence[Script], matrix: MatrixResult, override: Path | None = None
) -> list[RequirementVerdicts]:
    """Verdicts for the catalogs the run's scripts refer to; [] when none checks anything."""
    catalogs: dict[Path, Catalog] = {}
    for script in scripts:
        if script.requirement_ids():
            catalog = catalog_for(script, override)
            if catalog is not None:
                catalogs[catalog.path] = catalog
    return judge(catalogs.values(), scripts, matrix) if catalogs else []


def failing(
    scripts: Sequence[Script], matrix: MatrixResult, rows: Sequence[RequirementVerdicts]
) -> bool:
    """Whether some script's outcome fails the run (see `blocking_failure`)."""
    requirements = {row.requirement.id: row.requirement for row in rows}
    by_path = {script.path: script for script in scripts}
    for run in matrix.runs:
        for result in run.scripts:
            script = by_path.get(result.path)
            if script is None:
                if result.status not in (Status.PASSED, Status.NOT_APPLICABLE):
                    return True
            elif blocking_failure(script, result, requirements):
                return True
    return False
