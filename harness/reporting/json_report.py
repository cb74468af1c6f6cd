"""The machine-readable report (`--json FILE`): a fixed shape other tools can rely on.

Shape: {"tool", "version", "target", "summary": {"total", "passed", "failed",
"errored", "duration_s"}, "scripts": [{"path", "title", "status", "duration_s",
"failure": null | {"line", "step", "actor", "action", "message", "expected",
"closest"}}]}. `line` is the failing step's action line, `step` its 0-based index.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness import __version__
from harness.results import Failure, RunResult, ScriptResult

TOOL = "scansion-py"


def to_json(run: RunResult) -> dict[str, Any]:
    return {
        "tool": TOOL,
        "version": __version__,
        "target": run.target,
        "summary": {
            "total": run.total,
            "passed": run.passed,
            "failed": run.failed,
            "errored": run.errored,
            "duration_s": round(run.duration_s, 3),
        },
        "scripts": [_script(script) for script in run.scripts],
    }


def _script(result: ScriptResult) -> dict[str, Any]:
    return {
        "path": str(result.path),
        "title": result.title,
        "status": result.status.value,
        "duration_s": round(result.duration_s, 3),
        "failure": None if result.failure is None else _failure(result.failure),
    }


def _failure(failure: Failure) -> dict[str, Any]:
    return {
        "line": failure.line,
        "step": failure.step,
        "actor": failure.actor,
        "action": failure.action,
        "message": failure.message,
        "expected": failure.expected,
        "closest": failure.closest,
    }


def write_json(run: RunResult, path: Path) -> None:
    path.write_text(json.dumps(to_json(run), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
