"""The progress bar the console reports share: stderr, transient, and only on a terminal.

Kept off pipes and CI logs so that they hold the results alone.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class ProgressBar:
    """Counts finished scripts out of a total; does nothing when stderr is not a terminal."""

    def __init__(self, err: Console) -> None:
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if err.is_terminal and _is_a_terminal(err):
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            )

    def start(self, total: int) -> None:
        if self._progress is not None:
            self._task = self._progress.add_task("running", total=total)
            self._progress.start()

    def describe(self, description: str) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=description)

    def advance(self) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()

    def console_for(self, out: Console) -> Console:
        """Where to print `out`'s lines: through the bar's console when both share a
        terminal, so lines land above the bar."""
        progress = self._progress
        if progress is not None and progress.live.is_started and out.is_terminal:
            return progress.console
        return out


def _is_a_terminal(console: Console) -> bool:
    """The stream itself is a terminal. `--color always` and FORCE_COLOR make rich treat a
    pipe as one, for colour; progress frames there would only clutter a log."""
    isatty = getattr(console.file, "isatty", None)
    try:
        return bool(isatty is not None and isatty())
    except ValueError:  # a closed stream
        return False
