"""Reports built from hand-made results: JSON shape, JUnit structure, console text."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree
from rich.console import Console

from harness import __version__
from harness.reporting import failure_text, summary_text, traffic_text
from harness.reporting.console import ConsoleReport
from harness.reporting.json_report import to_json, write_json
from harness.reporting.junit import to_junit, write_junit
from harness.results import (
    Failure,
    RunResult,
    ScriptResult,
    Status,
    StepResult,
    TrafficEntry,
)

EXPECTED = "<presence type='unavailable'/>"
CLOSEST = '<presence type="available"/>'


def _run() -> RunResult:
    passed = ScriptResult(
        Path("specs/basic.scs"),
        "Basic login",
        Status.PASSED,
        0.25,
        (StepResult(0, 9, "Romeo", "connects", Status.PASSED, 0.01, "bound romeo@localhost/r"),),
        traffic=(
            TrafficEntry(0.01, "Romeo", "event", "connected as romeo@localhost/r"),
            TrafficEntry(0.02, "Romeo", "sent", "<presence/>"),
            TrafficEntry(0.03, "Romeo", "received", '<presence from="romeo@localhost/r"/>'),
        ),
    )
    failed = ScriptResult(
        Path("specs/muc/leave.scs"),
        "Leaving a room",
        Status.FAILED,
        5.5,
        failure=Failure(
            line=42,
            step=7,
            actor="Juliet",
            action="receives",
            message="no matching stanza within 5 s",
            expected=EXPECTED,
            closest=CLOSEST,
            explanation="/presence/@type: expected 'unavailable', got 'available'",
            buffered=3,
        ),
    )
    errored = ScriptResult(
        Path("specs/auth.scs"),
        "Login & <tricky> \x01 title",
        Status.ERRORED,
        0.1,
        failure=Failure(1, 0, "Romeo", "connects", "cannot connect to h:1: refused \x07"),
    )
    return RunResult("prosody", [passed, failed, errored], duration_s=5.85)


def test_json_shape_is_exact() -> None:
    report = json.loads(json.dumps(to_json(_run())))
    assert report == {
        "tool": "scansion-py",
        "version": __version__,
        "target": "prosody",
        "summary": {"total": 3, "passed": 1, "failed": 1, "errored": 1, "duration_s": 5.85},
        "scripts": [
            {
                "path": "specs/basic.scs",
                "title": "Basic login",
                "status": "passed",
                "duration_s": 0.25,
                "failure": None,
            },
            {
                "path": "specs/muc/leave.scs",
                "title": "Leaving a room",
                "status": "failed",
                "duration_s": 5.5,
                "failure": {
                    "line": 42,
                    "step": 7,
                    "actor": "Juliet",
                    "action": "receives",
                    "message": "no matching stanza within 5 s",
                    "expected": EXPECTED,
                    "closest": CLOSEST,
                },
            },
            {
                "path": "specs/auth.scs",
                "title": "Login & <tricky> \x01 title",
                "status": "errored",
                "duration_s": 0.1,
                "failure": {
                    "line": 1,
                    "step": 0,
                    "actor": "Romeo",
                    "action": "connects",
                    "message": "cannot connect to h:1: refused \x07",
                    "expected": None,
                    "closest": None,
                },
            },
        ],
    }


def test_json_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    write_json(_run(), path)
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(json.dumps(to_json(_run())))


def test_junit_parses_with_standard_elements(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    write_junit(_run(), path)
    root = etree.parse(str(path)).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    for element in (root, suite):
        assert element.get("tests") == "3"
        assert element.get("failures") == "1"
        assert element.get("errors") == "1"
        assert float(element.get("time")) == 5.85
    cases = suite.findall("testcase")
    assert [case.get("file") for case in cases] == [
        "specs/basic.scs",
        "specs/muc/leave.scs",
        "specs/auth.scs",
    ]
    assert [case.get("classname") for case in cases] == [
        "specs.basic",
        "specs.muc.leave",
        "specs.auth",
    ]
    assert all(float(case.get("time")) >= 0 for case in cases)
    passed, failed, errored = cases
    assert passed.find("failure") is None and passed.find("error") is None
    failure = failed.find("failure")
    assert (
        failure.get("message")
        == "specs/muc/leave.scs:42: Juliet receives: no matching stanza within 5 s"
    )
    assert failure.text == failure_text(_run().scripts[1])
    assert EXPECTED in failure.text and CLOSEST in failure.text
    error = errored.find("error")
    assert error is not None and "\x07" not in error.get("message")
    assert errored.get("name") == "Login & <tricky>  title"


def test_junit_carries_traffic_as_system_out() -> None:
    root = etree.fromstring(to_junit(_run(), datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)))
    suite = root.find("testsuite")
    assert suite.get("timestamp") == "2026-01-02T03:04:05"
    out = suite.find("testcase/system-out")
    assert out is not None and '<presence from="romeo@localhost/r"/>' in out.text


def test_failure_text_names_everything_a_reader_needs() -> None:
    text = failure_text(_run().scripts[1])
    assert text.splitlines()[:2] == [
        "specs/muc/leave.scs:42: Juliet receives",
        "no matching stanza within 5 s",
    ]
    assert f"expected:\n  {EXPECTED}" in text
    assert f"closest received (3 buffered):\n  {CLOSEST}" in text
    assert "why: /presence/@type: expected 'unavailable', got 'available'" in text


def test_failure_text_when_nothing_was_buffered() -> None:
    result = ScriptResult(
        Path("a.scs"),
        "A",
        Status.FAILED,
        1.0,
        failure=Failure(3, 1, "Romeo", "receives", "no matching stanza", EXPECTED, None, "", 0),
    )
    assert "nothing buffered for Romeo" in failure_text(result)


def test_traffic_text_labels_actor_and_direction() -> None:
    text = traffic_text(_run().scripts[0])
    assert "Romeo -- connected as romeo@localhost/r" in text
    assert "Romeo -> sent\n    <presence/>" in text
    assert 'Romeo <- received\n    <presence from="romeo@localhost/r"/>' in text


def test_summary_counts() -> None:
    assert summary_text(_run()) == (
        "3 scripts: 1 passed, 1 failed, 1 errored in 5.85 s against prosody"
    )


def _console(run: RunResult, *, verbose: bool) -> str:
    out, err = io.StringIO(), io.StringIO()
    report = ConsoleReport(
        Console(file=out, force_terminal=False, width=60),
        Console(file=err, force_terminal=False),
        verbose=verbose,
    )
    report.start(len(run.scripts))
    for script in run.scripts:
        report.script_finished(script)
    report.finish(run)
    assert err.getvalue() == "", "no progress bar when stderr is not a terminal"
    return out.getvalue()


def test_console_reads_well_without_a_terminal() -> None:
    text = _console(_run(), verbose=False)
    assert "\x1b[" not in text, "no colour codes in CI logs"
    lines = text.splitlines()
    assert lines[0] == "PASS   specs/basic.scs  (0.25 s)"
    assert "FAIL   specs/muc/leave.scs  (5.50 s)" in lines
    assert "ERROR  specs/auth.scs  (0.10 s)" in lines
    assert "    specs/muc/leave.scs:42: Juliet receives" in lines
    assert "      " + EXPECTED in lines
    assert lines[-1] == summary_text(_run())
    assert "sent" not in text


def test_console_verbose_shows_stanzas() -> None:
    text = _console(_run(), verbose=True)
    assert '        <presence from="romeo@localhost/r"/>' in text.splitlines()


def test_console_unreachable() -> None:
    run = RunResult("localhost:1", unreachable="cannot connect to localhost:1: refused")
    assert _console(run, verbose=False).strip() == (
        "target unreachable: cannot connect to localhost:1: refused"
    )
