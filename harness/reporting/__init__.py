"""Reports of a run (console, JSON, JUnit, HTML) and the plain-text pieces they share.

The console, JUnit and HTML must tell the same story about a failure, so they
take its text from `failure_text` (and schema findings from `invalid_text`).
"""

from __future__ import annotations

import textwrap

from harness.results import RunResult, ScriptResult, Status


def location(result: ScriptResult) -> str:
    """`path:line: Actor action` of the step where the script stopped."""
    failure = result.failure
    if failure is None:
        return str(result.path)
    return f"{result.path}:{failure.line}: {failure.actor} {failure.action}".rstrip()


def failure_text(result: ScriptResult) -> str:
    """Everything a reader needs to see why a script stopped, without the run's colours."""
    failure = result.failure
    if failure is None:
        return ""
    parts = [location(result), failure.message]
    if failure.expected is not None:
        parts.append("expected:\n" + textwrap.indent(failure.expected, "  "))
    if failure.closest is not None:
        held = "" if failure.buffered is None else f" ({failure.buffered} buffered)"
        label = "received" if failure.action == "receives nothing" else "closest received"
        parts.append(f"{label}{held}:\n" + textwrap.indent(failure.closest, "  "))
    elif failure.buffered is not None:
        parts.append(f"nothing buffered for {failure.actor}")
    if failure.explanation:
        parts.append("why: " + failure.explanation)
    return "\n".join(parts)


def summary_text(run: RunResult) -> str:
    shown = [Status.PASSED, Status.FAILED, Status.ERRORED]
    if run.not_applicable:
        shown.append(Status.NOT_APPLICABLE)
    counts = ", ".join(f"{run.count(status)} {status.value}" for status in shown)
    noun = "script" if run.total == 1 else "scripts"
    text = f"{run.total} {noun}: {counts} in {run.duration_s:.2f} s against {run.target}"
    if run.validated:
        invalid = run.invalid_stanzas
        text += f"; {invalid} schema-invalid stanza{'' if invalid == 1 else 's'} received"
    if run.interrupted:
        text += " (interrupted)"
    return text


_ARROWS = {"sent": "->", "received": "<-", "event": "--"}


def traffic_text(result: ScriptResult) -> str:
    """Every stanza the actors sent and received, in order, labelled by actor (for `-v`)."""
    blocks = []
    for entry in result.traffic:
        arrow = _ARROWS.get(entry.direction, entry.direction)
        head = f"{entry.t:8.3f}s {entry.actor} {arrow} {entry.direction}"
        if entry.direction == "event":
            blocks.append(f"{entry.t:8.3f}s {entry.actor} {arrow} {entry.text}")
        else:
            blocks.append(head + "\n" + textwrap.indent(entry.text, "    "))
    return "\n".join(blocks)


def invalid_text(result: ScriptResult) -> str:
    """The schema-invalid stanzas a script received (`--validate`), each with its problems."""
    blocks = []
    for invalid in result.invalid:
        problems = "\n".join(f"  - {problem}" for problem in invalid.problems)
        blocks.append(
            f"{result.path}:{invalid.line}: {invalid.actor} received a schema-invalid stanza:\n"
            + textwrap.indent(invalid.stanza, "    ")
            + f"\n{problems}"
        )
    return "\n".join(blocks)
