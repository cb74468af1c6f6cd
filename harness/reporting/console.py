"""The human report: a progress bar while running, then PASS/FAIL per script.

Results go to stdout, the progress bar to stderr and only on a terminal, so a
CI log holds exactly the result lines, failure details and the summary, with
long XML lines left unwrapped.
"""

from __future__ import annotations

import textwrap

from rich.console import Console
from rich.text import Text

from harness.model import Script
from harness.reporting import failure_text, invalid_text, summary_text, traffic_text
from harness.reporting.progress import ProgressBar
from harness.results import RunResult, ScriptResult, Status

_LABELS = {
    Status.PASSED: ("PASS ", "bold green"),
    Status.FAILED: ("FAIL ", "bold red"),
    Status.ERRORED: ("ERROR", "bold magenta"),
}


class ConsoleReport:
    """Observes a run (see harness.runner.RunObserver) and prints as scripts finish."""

    def __init__(self, out: Console, err: Console, *, verbose: bool = False) -> None:
        self.out = out
        self.verbose = verbose
        self._progress = ProgressBar(err)

    def start(self, total: int) -> None:
        self._progress.start(total)

    def script_started(self, script: Script) -> None:
        self._progress.describe(script.path.name)

    def script_finished(self, result: ScriptResult) -> None:
        label, style = _LABELS[result.status]
        line = Text.assemble((label, style), f"  {result.path}  ({result.duration_s:.2f} s)")
        self._print(line)
        if result.failure is not None:
            self._print(Text(textwrap.indent(failure_text(result), "    "), style=""))
        if result.invalid:
            self._print(Text(textwrap.indent(invalid_text(result), "    "), style="yellow"))
        if self.verbose and result.traffic:
            self._print(Text(textwrap.indent(traffic_text(result), "    "), style="dim"))
        self._progress.advance()

    def finish(self, run: RunResult) -> None:
        self._progress.stop()
        if run.unreachable is not None:
            self._print(Text(f"target unreachable: {run.unreachable}", style="bold red"))
            return
        style = "bold green" if run.ok else "bold red"
        self._print(Text(summary_text(run), style=style))

    def _print(self, text: Text) -> None:
        self._progress.console_for(self.out).print(text, soft_wrap=True, highlight=False)
