"""A Markdown summary of a matrix (`reports/SUMMARY.md`): readable where HTML is not rendered.

Repository browsers show it as is, so it holds what a reader scans first: when
and with what the report was made, each target's server and totals, the
requirement verdicts (per specification and server: MUST and SHOULD counts,
then one line per failed MUST and missed SHOULD with its evidence), the script
matrix, and one line per failing cell saying where and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness import __version__
from harness.reporting.json_report import TOOL
from harness.results import MatrixResult, ScriptResult, Status
from harness.verdicts import Evidence, RequirementVerdicts, Verdict

_CELLS = {
    Status.PASSED: "✅ pass",
    Status.FAILED: "❌ fail",
    Status.ERRORED: "⛔ error",
    Status.NOT_APPLICABLE: "⚪ n/a",
}


def _md(text: str) -> str:
    """Safe inside a table cell: no pipes, line breaks or raw tags."""
    escaped = text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(escaped.split())


def to_markdown(
    matrix: MatrixResult,
    regenerate: str = "",
    requirements: Sequence[RequirementVerdicts] = (),
) -> str:
    """The summary; with requirement verdicts, they lead and the script matrix follows."""
    date = matrix.started_at.strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Conformance summary",
        "",
        f"Generated {date} by {TOOL} {__version__} in {matrix.duration_s:.0f} s"
        + (f"; `{regenerate}` regenerates it" if regenerate else "")
        + ". The full report, with every failure's stanzas and where targets diverge, "
        "is `index.html`.",
        "",
        "| target | server | passed | failed | errored | schema-invalid stanzas |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for run in matrix.runs:
        if run.unreachable is not None:
            lines.append(f"| {_md(run.target)} | unreachable: {_md(run.unreachable)} | | | | |")
            continue
        invalid = str(run.invalid_stanzas) if run.validated else "not checked"
        lines.append(
            f"| {_md(run.target)} | {_md(run.server or 'not reported')} | "
            f"{run.passed}/{run.total} | {run.failed} | {run.errored} | {invalid} |"
        )
    if requirements:
        lines += ["", *verdict_sections(requirements, matrix)]
    lines += [
        "",
        "## Matrix" if not requirements else "## Script matrix",
        "",
        *(
            [
                "Scripts under `specs/core`, `specs/muc` and `specs/prosody` ask whether a "
                "server behaves like Prosody 0.12.3; those under `specs/xep0045` check the "
                "XEP-0045 requirements above.",
                "",
            ]
            if requirements
            else []
        ),
        "| script | " + " | ".join(_md(run.target) for run in matrix.runs) + " |",
        "|---|" + "---|" * len(matrix.runs),
    ]
    for path in matrix.paths:
        cells = [matrix.cell(path, run.target) for run in matrix.runs]
        title = next((c.title for c in cells if c is not None and c.title), path.stem)
        row = " | ".join(_cell(cell) for cell in cells)
        lines.append(f"| {_md(title)}<br>`{path}` | {row} |")
    failures = [
        (run.target, cell, cell.failure)
        for run in matrix.runs
        for cell in run.scripts
        if cell.failure is not None
    ]
    if failures:
        lines += ["", "## Where each failing script stopped", ""]
        for target, cell, failure in failures:
            # The explanation's last line names the difference; the rest repeats the message.
            reason = failure.explanation.splitlines()[-1] if failure.explanation else ""
            why = f" ({_md(reason)})" if reason else ""
            lines.append(
                f"- **{_md(target)}** `{cell.path}:{failure.line}` {_md(failure.actor)} "
                f"{_md(failure.action)}: {_md(failure.message)}{why}"
            )
    return "\n".join(lines) + "\n"


def _cell(cell: ScriptResult | None) -> str:
    if cell is None:
        return "—"
    text = _CELLS[cell.status]
    if cell.invalid:
        text += f" ⚠ {len(cell.invalid)}"
    return text


@dataclass
class _Counts:
    passed: int = 0
    failed: int = 0
    not_applicable: int = 0
    not_run: int = 0

    def add(self, status: Verdict) -> None:
        if status is Verdict.PASS:
            self.passed += 1
        elif status is Verdict.FAIL:
            self.failed += 1
        elif status is Verdict.NOT_APPLICABLE:
            self.not_applicable += 1
        else:
            self.not_run += 1

    def cell(self) -> str:
        return f"{self.passed} | {self.failed} | {self.not_applicable} | {self.not_run}"


def verdict_sections(rows: Sequence[RequirementVerdicts], matrix: MatrixResult) -> list[str]:
    """Markdown lines: one section per specification the rows come from."""
    specs: dict[str, list[RequirementVerdicts]] = {}
    for row in rows:
        specs.setdefault(row.requirement.spec or "Requirements", []).append(row)
    lines: list[str] = []
    for spec, spec_rows in specs.items():
        lines += _spec_section(spec, spec_rows, matrix)
    return lines


def _spec_section(spec: str, rows: list[RequirementVerdicts], matrix: MatrixResult) -> list[str]:
    checked = [r for r in rows if r.requirement.service_testable]
    musts = sum(r.requirement.blocking for r in checked)
    shoulds = sum(r.requirement.advisory for r in checked)
    lines = [
        f"## {_md(spec)} verdicts",
        "",
        f"The {musts} MUST-level and {shoulds} SHOULD-level requirements a client connection "
        "can test on the service get a verdict per server: pass (every step checking it "
        "passed), fail (a step checking it failed), n/a (the server does not offer the "
        "optional feature the check needs), not run (no step checking it ran, e.g. an "
        "earlier step of its script failed).",
        "",
        "| target | MUST pass | MUST fail | MUST n/a | MUST not run "
        "| SHOULD pass | SHOULD fail | SHOULD n/a | SHOULD not run |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for target in matrix.targets:
        must, should = _Counts(), _Counts()
        for row in checked:
            evidence = row.verdicts.get(target)
            if evidence is None:
                continue
            if row.requirement.blocking:
                must.add(evidence.status)
            elif row.requirement.advisory:
                should.add(evidence.status)
        lines.append(f"| {_md(target)} | {must.cell()} | {should.cell()} |")
    sections = (("Failed MUST requirements", True), ("Missed SHOULD requirements", False))
    for title, wanted in sections:
        failures = _failures(checked, matrix, blocking=wanted)
        lines += ["", f"### {title}", ""]
        lines += failures or ["None."]
    return [*lines, ""]


def _failures(
    rows: Sequence[RequirementVerdicts], matrix: MatrixResult, *, blocking: bool
) -> list[str]:
    """One line per failure: requirement, section, level, script line, and the evidence
    (the step's message and, from the script's failure, the difference it found)."""
    lines = []
    for target in matrix.targets:
        for row in rows:
            requirement = row.requirement
            counted = requirement.blocking or requirement.advisory
            if requirement.blocking != blocking or not counted:
                continue
            evidence = row.verdicts.get(target)
            if evidence is None or evidence.status is not Verdict.FAIL:
                continue
            lines.append(
                f"- **{_md(target)}** {requirement.id} (§{requirement.section}, "
                f"{requirement.level}) `{evidence.script}:{evidence.line}`: "
                f"{_md(evidence.reason)}{_difference(matrix, target, evidence)}"
            )
    return lines


def _difference(matrix: MatrixResult, target: str, evidence: Evidence) -> str:
    """What the failing step received instead, when the script's failure says so."""
    cell = matrix.cell(Path(evidence.script or ""), target)
    failure = cell.failure if cell is not None else None
    if failure is None or failure.line != evidence.line or not failure.explanation:
        return ""
    return f" ({_md(failure.explanation.splitlines()[-1])})"
