"""A Markdown summary of a matrix (`reports/SUMMARY.md`): readable where HTML is not rendered.

Repository browsers show it as is, so it holds what a reader scans first: when
and with what the report was made, each target's server and totals, the matrix,
and one line per failing cell saying where and why.
"""

from __future__ import annotations

from harness import __version__
from harness.reporting.json_report import TOOL
from harness.results import MatrixResult, ScriptResult, Status

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


def to_markdown(matrix: MatrixResult, regenerate: str = "") -> str:
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
    lines += [
        "",
        "## Matrix",
        "",
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
