"""GitHub Actions annotations: each script that did not pass, as `::error file=…,line=…::…`.

Printed by `run` when GITHUB_ACTIONS=true, so a pull request shows the failure on
the script's line. Messages carry the failure text, escaped as the workflow
commands require (`%`, CR and LF in the message; also `:` and `,` in properties).
"""

from __future__ import annotations

import os

from harness.results import MatrixResult, ScriptResult, Status


def on_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def error_annotations(matrix: MatrixResult) -> list[str]:
    """One `::error` line per script that failed or errored, on every target (named when
    there are several)."""
    runs = matrix.runs
    several = len(runs) > 1
    lines = []
    for one in runs:
        for script in one.scripts:
            if script.status is not Status.PASSED and script.failure is not None:
                lines.append(_annotation(script, one.target if several else ""))
    return lines


def _annotation(script: ScriptResult, target: str) -> str:
    failure = script.failure
    assert failure is not None  # only called for scripts that did not pass
    verdict = "failed" if script.status is Status.FAILED else "errored"
    title = f"{script.title or script.path.name} {verdict}" + (f" on {target}" if target else "")
    message = f"{failure.actor} {failure.action}: {failure.message}".strip()
    if failure.explanation:
        message += "\nwhy: " + failure.explanation
    properties = ",".join(
        f"{name}={_property(value)}"
        for name, value in (
            ("file", str(script.path)),
            ("line", str(failure.line)),
            ("title", title),
        )
    )
    return f"::error {properties}::{_data(message)}"


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")
