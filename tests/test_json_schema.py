"""The JSON report matches the JSON Schema shipped with the package, for real runs.

The schema is what other tools code against; these runs (one target and a matrix,
passing, failing and with --validate) must all validate, and a report missing the
failure's `why` must not.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from harness.reporting.json_report import SCHEMA_PATH, to_json
from tests.conftest import ROOT
from tests.test_reports import _run

SCRIPT = ROOT / "specs" / "core" / "software_version.scs"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def run_json(tmp_path: Path, *args: str) -> dict:
    broken = tmp_path / "broken.scs"
    text = SCRIPT.read_text(encoding="utf-8")
    broken.write_text(text.replace('type="result"', 'type="error"', 1), encoding="utf-8")
    assert broken.read_text(encoding="utf-8") != text
    report = tmp_path / "report.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            str(SCRIPT),
            str(broken),
            "--timeout",
            "0.5",
            "--json",
            str(report),
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        timeout=120,
        check=False,
    )
    return json.loads(report.read_text(encoding="utf-8"))


def test_a_real_single_target_report_validates(
    validator: jsonschema.Draft202012Validator, tmp_path: Path
) -> None:
    report = run_json(tmp_path, "--validate")
    validator.validate(report)
    failure = report["scripts"][1]["failure"]
    assert failure["path"] == ["iq", "@type"]
    assert failure["why"].splitlines()[-1] == "/iq/@type: expected 'error', received 'result'"


def test_a_real_matrix_report_validates(
    validator: jsonschema.Draft202012Validator, tmp_path: Path
) -> None:
    report = run_json(tmp_path, "--target", "a=reference", "--target", "down=127.0.0.1:1")
    validator.validate(report)
    assert [run["target"] for run in report["runs"]] == ["a", "down"]
    assert [error["kind"] for error in report["runs"][1]["errors"]] == ["unreachable"]


def test_the_schema_rejects_a_failure_without_why(
    validator: jsonschema.Draft202012Validator,
) -> None:
    report = json.loads(json.dumps(to_json(_run())))
    validator.validate(report)
    del report["scripts"][1]["failure"]["why"]
    problem = jsonschema.exceptions.best_match(validator.iter_errors(report))
    assert problem is not None and problem.message == "'why' is a required property"
