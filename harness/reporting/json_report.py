"""The machine-readable report (`--json FILE`): a fixed shape other tools can rely on.

One target: {"tool", "version", "target", "summary": {"total", "passed", "failed",
"errored", "duration_s"}, "scripts": [{"path", "title", "status", "duration_s",
"failure": null | {"line", "step", "actor", "action", "message", "expected",
"closest", "why", "path"}}], "errors": [{"kind", "reason"}]}. `line` is the failing
step's action line, `step` its 0-based index; `why` is the explanation the console
prints after "why:" (null when there is none) and `path` the steps down to where the
closest stanza first differs (`["iq", "query[version]", "@type"]`, empty when there
is no closest stanza). "errors" lists what stopped scripts from running at all (an
unreachable target: kind "unreachable"); each also counts in "errored", so a run
where nothing ran never reads as green. `report.schema.json`, shipped beside this
module (`SCHEMA_PATH`), is the JSON Schema of both shapes.

With `--validate`, "summary" also has "invalid_stanzas" (a count) and each script
"invalid_stanzas": [{"line", "step", "actor", "stanza", "problems": [str]}]: what
the target sent that breaks the schemas, whether the script passed or not.

Several targets: {"tool", "version", "targets": [{"name", "server"}], "runs": [one
single-target object per target, in the same order]}; "server" is what the target
said it runs (XEP-0092), or null.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness import __version__
from harness.results import Failure, InvalidStanza, MatrixResult, RunResult, ScriptResult

TOOL = "scansion-py"
SCHEMA_PATH = Path(__file__).with_name("report.schema.json")


def to_json(run: RunResult) -> dict[str, Any]:
    errors = [] if run.unreachable is None else [{"kind": "unreachable", "reason": run.unreachable}]
    summary: dict[str, Any] = {
        "total": run.total,
        "passed": run.passed,
        "failed": run.failed,
        "errored": run.errored + len(errors),
        "duration_s": round(run.duration_s, 3),
        "interrupted": run.interrupted,
    }
    if run.validated:
        summary["invalid_stanzas"] = run.invalid_stanzas
    return {
        "tool": TOOL,
        "version": __version__,
        "target": run.target,
        "summary": summary,
        "scripts": [_script(script, validated=run.validated) for script in run.scripts],
        "errors": errors,
    }


def matrix_to_json(matrix: MatrixResult) -> dict[str, Any]:
    return {
        "tool": TOOL,
        "version": __version__,
        "targets": [{"name": run.target, "server": run.server} for run in matrix.runs],
        "runs": [to_json(run) for run in matrix.runs],
    }


def _script(result: ScriptResult, *, validated: bool) -> dict[str, Any]:
    script: dict[str, Any] = {
        "path": str(result.path),
        "title": result.title,
        "status": result.status.value,
        "duration_s": round(result.duration_s, 3),
        "failure": None if result.failure is None else _failure(result.failure),
    }
    if validated:
        script["invalid_stanzas"] = [_invalid(invalid) for invalid in result.invalid]
    return script


def _failure(failure: Failure) -> dict[str, Any]:
    return {
        "line": failure.line,
        "step": failure.step,
        "actor": failure.actor,
        "action": failure.action,
        "message": failure.message,
        "expected": failure.expected,
        "closest": failure.closest,
        "why": failure.explanation or None,
        "path": list(failure.path),
    }


def _invalid(invalid: InvalidStanza) -> dict[str, Any]:
    return {
        "line": invalid.line,
        "step": invalid.step,
        "actor": invalid.actor,
        "stanza": invalid.stanza,
        "problems": list(invalid.problems),
    }


def write_json(run: RunResult | MatrixResult, path: Path) -> None:
    """One target keeps the single-run shape; several get the matrix shape."""
    report = matrix_to_json(run) if isinstance(run, MatrixResult) else to_json(run)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
