"""The pytest plugin: `pytest specs/` runs every `.scs` script as one test.

A script is one test item whose node id is its path, so `-k`, `--junitxml`,
`--lf` and pytest-xdist treat it like any other test. `--junitxml` names its test
case `specs.core.login.scs` with an empty classname and the title as property
`title`, exactly as `scansion-py run --junit` does (harness.reporting.junit).
Each item runs in its own event loop against `--scansion-target` (default
`reference`: a fresh embedded server per script, so no two scripts, and no two
xdist workers, share state).
Failures read like the console report of `scansion-py run`; a script that does
not parse fails with the parser's `path:line:col` message, not a traceback.

Registered as `scansion` through the `pytest11` entry point. Only files ending
in `.scs` are collected, so runs that collect none just see two more options.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from harness.discovery import SCRIPT_SUFFIX
from harness.model import Script
from harness.parser import ScriptError, parse_file
from harness.reporting import failure_text, traffic_text
from harness.results import ScriptResult, Status
from harness.run_command import positive_seconds
from harness.runner import RunOptions, run_on_target
from harness.targets import REFERENCE, TargetError, parse_target

# Traffic is recorded from `-vv` on, and shown with the failure like `scansion-py run -v`.
_TRAFFIC_VERBOSITY = 2


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("scansion", "scansion-py scripts (.scs)")
    group.addoption(
        "--scansion-target",
        type=_target_text,
        default=REFERENCE,
        metavar="TARGET",
        help="where .scs scripts connect: HOST:PORT, tls://HOST:PORT, 'reference' "
        f"(a fresh embedded server per script), or NAME=ADDRESS (default: {REFERENCE})",
    )
    group.addoption(
        "--scansion-timeout",
        type=positive_seconds,
        default=RunOptions.timeout,
        metavar="S",
        help=f"how long a 'receives' step waits (default: {RunOptions.timeout:g})",
    )


def _target_text(text: str) -> str:
    """Checked at parse time but kept as text: xdist hands options to workers as plain data."""
    try:
        parse_target(text)
    except TargetError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ScriptFile | None:
    if file_path.suffix == SCRIPT_SUFFIX:
        return ScriptFile.from_parent(parent, path=file_path)
    return None


class ScriptFailed(Exception):
    """A script that did not pass; the item renders its result like the console report."""

    def __init__(self, result: ScriptResult) -> None:
        super().__init__(failure_text(result))
        self.result = result


class ScriptFile(pytest.File):
    """A `.scs` file holds exactly one test: the script. It is parsed once, here."""

    def collect(self) -> list[ScriptItem]:
        shown = self._shown_path()
        parsed: Script | ScriptError
        try:
            parsed = dataclasses.replace(parse_file(self.path), path=shown)
        except ScriptError as error:
            # Reported when the item runs, so that one bad script fails alone.
            parsed = ScriptError(
                shown, error.line, error.column, error.message, error.hint, error.source_line
            )
        return [
            ScriptItem.from_parent(self, name=self.path.stem, nodeid=self.nodeid, parsed=parsed)
        ]

    def _shown_path(self) -> Path:
        """The path as reports show it: relative to where pytest was started, like node ids."""
        try:
            return self.path.relative_to(self.config.invocation_params.dir)
        except ValueError:
            return self.path


class ScriptItem(pytest.Item):
    """One script run against the target; its node id is the script's path."""

    def __init__(self, *, parsed: Script | ScriptError, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.parsed = parsed
        if isinstance(parsed, Script) and parsed.title:
            self.extra_keyword_matches.add(parsed.title)  # `-k` also matches titles
            # `--junitxml` then carries it as `run --junit` does (harness.reporting.junit).
            self.user_properties.append(("title", parsed.title))

    def runtest(self) -> None:
        if isinstance(self.parsed, ScriptError):
            raise self.parsed
        target = parse_target(self.config.getoption("scansion_target"))
        options = RunOptions(
            timeout=self.config.getoption("scansion_timeout"),
            record_traffic=self.config.get_verbosity() >= _TRAFFIC_VERBOSITY,
        )
        result = asyncio.run(run_on_target(self.parsed, target, options))
        if result.status is not Status.PASSED:
            raise ScriptFailed(result)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> Any:
        error = excinfo.value
        if isinstance(error, ScriptError):
            return str(error)
        if isinstance(error, ScriptFailed):
            text = failure_text(error.result)
            if error.result.traffic:
                text += "\ntraffic:\n" + traffic_text(error.result)
            return text
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        # The label heads the failure section. It must not end the node id: pytest would
        # then print `specs/login::scs` in verbose lines.
        title = self.parsed.title if isinstance(self.parsed, Script) else ""
        return self.path, None, title or f"script {self.path.name}"
