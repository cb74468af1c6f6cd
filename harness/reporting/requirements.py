"""Requirement verdicts in the reports: console lines, the JSON `requirements` section,
and the HTML requirement table.

JSON: `"requirements": [{"id", "section", "level", "text", "verdicts": {TARGET:
{"status", "script", "line", "reason"}}}]` (status: pass, fail, not applicable,
not run) and `"requirements_summary": {TARGET: {"passed", "must_failed",
"should_missed", "may_failed", "not_applicable", "not_run"}}`.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Sequence
from typing import Any

from harness.results import MatrixResult
from harness.verdicts import RequirementVerdicts, Verdict, tally


def to_json(rows: Sequence[RequirementVerdicts], targets: Sequence[str]) -> dict[str, Any]:
    """The two keys the JSON report gains when scripts check requirements."""
    return {
        "requirements": [
            {
                "id": row.requirement.id,
                "section": row.requirement.section,
                "level": row.requirement.level,
                "text": row.requirement.text,
                "verdicts": {
                    target: {
                        "status": evidence.status.value,
                        "script": evidence.script,
                        "line": evidence.line,
                        "reason": evidence.reason,
                    }
                    for target, evidence in row.verdicts.items()
                },
            }
            for row in rows
        ],
        "requirements_summary": {
            target: dataclasses.asdict(tally(rows, target)) for target in targets
        },
    }


def console_lines(rows: Sequence[RequirementVerdicts], target: str) -> list[tuple[str, str]]:
    """(text, style) lines: each failure and warning, then the counts, for one target."""
    lines: list[tuple[str, str]] = []
    for row in rows:
        evidence = row.verdicts.get(target)
        if evidence is None or evidence.status is not Verdict.FAIL:
            continue
        requirement = row.requirement
        label, style = ("FAIL", "bold red") if requirement.blocking else ("WARN", "bold yellow")
        lines.append(
            (
                f"{label}  {requirement.id} ({requirement.level}, {requirement.section}): "
                f"{evidence.script}:{evidence.line}: {evidence.reason}",
                style,
            )
        )
    counts = tally(rows, target)
    lines.append(
        (
            f"requirements on {target}: {counts.passed} pass, "
            f"{counts.must_failed} MUST failed, {counts.should_missed} SHOULD missed "
            f"(warnings), {counts.may_failed} MAY failed, "
            f"{counts.not_applicable} not applicable, {counts.not_run} not run",
            "bold red" if counts.must_failed else "bold yellow" if counts.should_missed else "",
        )
    )
    return lines


_CLASSES = {
    Verdict.PASS: "passed",
    Verdict.FAIL: "failed",
    Verdict.NOT_APPLICABLE: "not-applicable",
    Verdict.NOT_RUN: "none",
}


def html_section(rows: Sequence[RequirementVerdicts], matrix: MatrixResult) -> str:
    """The requirement table: quoted text, level, a verdict per target linking to its evidence.

    Links point at the matrix report's per-cell details (`#d{row}-{column}`)."""
    paths = [str(path) for path in matrix.paths]
    targets = matrix.targets
    head = "".join(f'<th scope="col">{_e(target)}</th>' for target in targets)
    body = []
    for row in rows:
        requirement = row.requirement
        cells = []
        for column, target in enumerate(targets):
            evidence = row.verdicts.get(target)
            if evidence is None:
                cells.append('<td class="cell none">—</td>')
                continue
            label = _e(evidence.status.value)
            tip = _e(evidence.reason or evidence.status.value)
            if evidence.script in paths:
                anchor = f"#d{paths.index(evidence.script)}-{column}"
                where = f"{evidence.script}:{evidence.line}"
                label = f'<a href="{anchor}" title="{tip} ({_e(where)})">{label}</a>'
            else:
                label = f'<span title="{tip}">{label}</span>'
            cells.append(f'<td class="cell {_CLASSES[evidence.status]}">{label}</td>')
        body.append(
            f'<tr><th scope="row">{_e(requirement.id)}</th>'
            f"<td>{_e(requirement.level)}</td><td>{_e(requirement.section)}</td>"
            f"<td><q>{_e(requirement.text)}</q></td>{''.join(cells)}</tr>"
        )
    return (
        '<section id="requirements"><h2>Requirements</h2>'
        '<div class="scroll"><table class="matrix requirements">'
        '<thead><tr><th scope="col">Requirement</th><th scope="col">Level</th>'
        f'<th scope="col">Section</th><th scope="col">Text</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div></section>"
    )


def _e(text: object) -> str:
    return html.escape(str(text))
