"""The console report for several targets: a scripts x targets table.

Per-script lines from several targets running side by side would interleave, so
while running there is only the progress bar (stderr, on a terminal); at the
end come the details of every script that did not pass, per target, then the
table with each target's totals and what the target said it runs.
"""

from __future__ import annotations

import textwrap

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from harness.model import Script
from harness.reporting import failure_text, invalid_text, summary_text, traffic_text
from harness.reporting.progress import ProgressBar
from harness.results import MatrixResult, RunResult, ScriptResult, Status

CELL_LABELS = {
    Status.PASSED: ("PASS", "bold green"),
    Status.FAILED: ("FAIL", "bold red"),
    Status.ERRORED: ("ERROR", "bold magenta"),
    Status.NOT_APPLICABLE: ("N/A  ", "bold yellow"),
}


class _TargetProgress:
    """The RunObserver of one target's run: advances the shared bar."""

    def __init__(self, report: MatrixConsoleReport) -> None:
        self.report = report

    def script_started(self, script: Script) -> None:
        """Nothing to show: several targets start scripts at once."""

    def script_finished(self, result: ScriptResult) -> None:
        self.report.advance()


class MatrixConsoleReport:
    def __init__(self, out: Console, err: Console, *, verbose: bool = False) -> None:
        self.out = out
        self.verbose = verbose
        self._progress = ProgressBar(err)

    def start(self, cells: int) -> None:
        self._progress.start(cells)

    def observer(self) -> _TargetProgress:
        return _TargetProgress(self)

    def advance(self) -> None:
        self._progress.advance()

    def finish(self, matrix: MatrixResult) -> None:
        self._progress.stop()
        for run in matrix.runs:
            self._details(run)
        table = matrix_table(matrix)
        # Never squeeze the table into a narrow console (CI logs): cut cells say nothing.
        unbounded = self.out.options.update_width(10_000)
        width = Measurement.get(self.out, unbounded, table).maximum
        narrow = self.out.width
        self.out.width = max(width, narrow)
        try:
            self.out.print(table)
        finally:
            self.out.width = narrow
        for run in matrix.runs:
            if run.unreachable is not None:
                line = Text(f"{run.target}: unreachable: {run.unreachable}", style="bold red")
            else:
                line = Text(summary_text(run), style="bold green" if run.ok else "bold red")
            self.out.print(line, soft_wrap=True)

    def _details(self, run: RunResult) -> None:
        shown = [s for s in run.scripts if s.failure is not None or s.invalid or self.verbose]
        if not shown:
            return
        self.out.print(Text(f"── {run.target} ──", style="bold"), soft_wrap=True)
        for result in shown:
            label, style = CELL_LABELS[result.status]
            self.out.print(Text.assemble((f"{label:<5}", style), f"  {result.path}"))
            parts = [
                (failure_text(result), None),
                (invalid_text(result), "yellow"),
                (traffic_text(result) if self.verbose else "", "dim"),
            ]
            for text, part_style in parts:
                if text:
                    self.out.print(
                        Text(textwrap.indent(text, "    "), style=part_style or ""),
                        soft_wrap=True,
                    )


def matrix_table(matrix: MatrixResult) -> Table:
    """Rows are scripts, columns targets; the footer holds each target's totals."""
    table = Table(
        title="Conformance matrix",
        box=box.SIMPLE_HEAVY,
        show_footer=True,
        title_justify="left",
    )
    table.add_column("script", footer="passed", no_wrap=True)
    for run in matrix.runs:
        header = run.target if run.server is None else f"{run.target}\n{run.server}"
        if run.unreachable is not None:
            footer = "unreachable"
        else:
            footer = f"{run.passed}/{run.total}"
            if run.validated:
                footer += f"\n{run.invalid_stanzas} invalid"
        table.add_column(header, footer=footer, justify="center", no_wrap=True)
    for path in matrix.paths:
        cells: list[Text | str] = [str(path)]
        for run in matrix.runs:
            cells.append(_cell(matrix.cell(path, run.target)))
        table.add_row(*cells)
    return table


def _cell(result: ScriptResult | None) -> Text:
    if result is None:
        return Text("—", style="dim")
    label, style = CELL_LABELS[result.status]
    cell = Text(label, style=style)
    if result.invalid:
        cell.append(f" ⚠{len(result.invalid)}", style="yellow")
    return cell
