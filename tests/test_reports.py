"""Reports built from hand-made results: JSON shape, JUnit structure, console text, for
one target and for a matrix of several."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import shutil
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree
from rich.console import Console

from harness import __version__
from harness.reporting import failure_text, summary_text, traffic_text
from harness.reporting.console import ConsoleReport
from harness.reporting.json_report import matrix_to_json, to_json, write_json
from harness.reporting.junit import to_junit, write_junit
from harness.reporting.markdown import to_markdown
from harness.reporting.matrix import MatrixConsoleReport
from harness.results import (
    Failure,
    InvalidStanza,
    MatrixResult,
    RunResult,
    ScriptResult,
    Status,
    StepResult,
    TrafficEntry,
)
from tests.conftest import ROOT

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
            path=("presence", "@type"),
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
        "summary": {
            "total": 3,
            "passed": 1,
            "failed": 1,
            "errored": 1,
            "duration_s": 5.85,
            "interrupted": False,
        },
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
                    "why": "/presence/@type: expected 'unavailable', got 'available'",
                    "path": ["presence", "@type"],
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
                    "why": None,
                    "path": [],
                },
            },
        ],
        "errors": [],
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
    # As `pytest --junitxml` names them (see test_pytest_plugin): path as name, no class.
    assert [(case.get("classname"), case.get("name")) for case in cases] == [
        ("", "specs.basic.scs"),
        ("", "specs.muc.leave.scs"),
        ("", "specs.auth.scs"),
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
    title = errored.find("properties/property[@name='title']")
    assert title is not None and title.get("value") == "Login & <tricky>  title"


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


def test_an_unreachable_target_is_an_error_in_json_and_junit() -> None:
    reason = "cannot connect to localhost:1: refused"
    run = RunResult("localhost:1", unreachable=reason)
    report = to_json(run)
    assert report["errors"] == [{"kind": "unreachable", "reason": reason}]
    assert report["summary"]["errored"] == 1 and report["summary"]["passed"] == 0
    junit = etree.fromstring(to_junit(run))
    suite = junit.find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("errors")) == ("1", "1")
    assert (junit.get("tests"), junit.get("errors")) == ("1", "1")
    error = suite.find("testcase/error")
    assert error is not None and error.get("message") == reason
    reachable = to_json(RunResult("reference"))
    assert reachable["errors"] == [] and reachable["summary"]["errored"] == 0


def test_cli_writes_the_unreachable_error_into_both_reports(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    script = tmp_path / "one.scs"
    script.write_text(
        "# one\n\n[Client] Romeo\n\tjid: romeo@localhost\n\tpassword: pw\n\n---\n\nRomeo connects\n"
    )
    json_path, junit_path = tmp_path / "r.json", tmp_path / "r.xml"
    reports = ["--json", str(json_path), "--junit", str(junit_path)]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            str(script),
            "--target",
            f"127.0.0.1:{port}",
            *reports,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3, done.stdout + done.stderr
    report = json.loads(json_path.read_text())
    assert report["summary"]["errored"] == 1
    assert f"127.0.0.1:{port}" in report["errors"][0]["reason"]
    suite = etree.parse(str(junit_path)).getroot().find("testsuite")
    assert suite is not None and suite.get("errors") == "1"


def _matrix() -> MatrixResult:
    reference = RunResult(
        "reference",
        [
            dataclasses.replace(_run().scripts[0], traffic=()),
            dataclasses.replace(_run().scripts[1], status=Status.PASSED, failure=None),
        ],
        duration_s=1.5,
        server="scansion-py reference server 0.1.0",
        validated=True,
    )
    prosody = RunResult(
        "prosody",
        [
            dataclasses.replace(
                _run().scripts[0],
                traffic=(),
                invalid=(
                    InvalidStanza(0, 9, "Romeo", "<presence type='x'/>", ("/presence/@type: bad",)),
                ),
            ),
            _run().scripts[1],
        ],
        duration_s=6.0,
        server="Prosody 0.12.3",
        validated=True,
    )
    return MatrixResult(
        [reference, prosody], datetime(2026, 1, 2, 3, 4, tzinfo=UTC), duration_s=6.1
    )


def test_matrix_json_holds_one_single_target_report_per_target() -> None:
    matrix = _matrix()
    report = json.loads(json.dumps(matrix_to_json(matrix)))
    assert list(report) == ["tool", "version", "targets", "runs"]
    assert report["targets"] == [
        {"name": "reference", "server": "scansion-py reference server 0.1.0"},
        {"name": "prosody", "server": "Prosody 0.12.3"},
    ]
    assert report["runs"] == [json.loads(json.dumps(to_json(run))) for run in matrix.runs]
    prosody = report["runs"][1]
    assert list(prosody) == ["tool", "version", "target", "summary", "scripts", "errors"]
    assert prosody["summary"]["invalid_stanzas"] == 1
    assert prosody["scripts"][0]["invalid_stanzas"] == [
        {
            "line": 9,
            "step": 0,
            "actor": "Romeo",
            "stanza": "<presence type='x'/>",
            "problems": ["/presence/@type: bad"],
        }
    ]
    assert prosody["scripts"][1]["status"] == "failed"


def test_json_writes_the_matrix_shape_for_a_matrix(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    write_json(_matrix(), path)
    assert json.loads(path.read_text(encoding="utf-8"))["runs"][0]["target"] == "reference"


def test_junit_has_one_suite_per_target() -> None:
    root = etree.fromstring(to_junit(_matrix()))
    suites = root.findall("testsuite")
    assert [suite.get("name") for suite in suites] == [
        "scansion-py against reference",
        "scansion-py against prosody",
    ]
    assert (root.get("tests"), root.get("failures")) == ("4", "1")
    assert [suite.get("failures") for suite in suites] == ["0", "1"]
    server = suites[1].find("properties/property[@name='server']")
    assert server is not None and server.get("value") == "Prosody 0.12.3"
    cases = [(case.get("classname"), case.get("name")) for case in suites[1].findall("testcase")]
    assert cases == [("prosody", "specs.basic.scs"), ("prosody", "specs.muc.leave.scs")]
    err = suites[1].find("testcase/system-err")
    assert err is not None and "/presence/@type: bad" in err.text


def test_console_matrix_table_and_totals() -> None:
    out, err = io.StringIO(), io.StringIO()
    report = MatrixConsoleReport(
        Console(file=out, force_terminal=False, width=60), Console(file=err, force_terminal=False)
    )
    report.start(4)
    report.finish(_matrix())
    text = out.getvalue()
    assert "\x1b[" not in text
    lines = text.splitlines()
    row = next(line for line in lines if "specs/muc/leave.scs" in line and "PASS" in line)
    assert row.split() == ["specs/muc/leave.scs", "PASS", "FAIL"]
    basic = next(line for line in lines if line.split()[:1] == ["specs/basic.scs"])
    assert basic.split() == ["specs/basic.scs", "PASS", "PASS", "⚠1"]
    assert any(line.split()[:3] == ["passed", "2/2", "1/2"] for line in lines)
    assert "Prosody 0.12.3" in text, "the server each target runs heads its column"
    assert "── prosody ──" in text and "specs/muc/leave.scs:42: Juliet receives" in text
    assert "/presence/@type: bad" in text
    assert lines[-1] == summary_text(_matrix().runs[1])
    assert lines[-1].endswith("; 1 schema-invalid stanza received")


def test_markdown_summary() -> None:
    text = to_markdown(_matrix(), regenerate="scansion-py report")
    assert text.startswith("# Conformance summary\n")
    assert "Generated 2026-01-02 03:04 UTC by scansion-py" in text
    assert "`scansion-py report` regenerates it" in text
    assert "| prosody | Prosody 0.12.3 | 1/2 | 1 | 0 | 1 |" in text
    assert "| script | reference | prosody |" in text
    assert "| Leaving a room<br>`specs/muc/leave.scs` | ✅ pass | ❌ fail |" in text
    assert "| Basic login<br>`specs/basic.scs` | ✅ pass | ✅ pass ⚠ 1 |" in text
    assert (
        "- **prosody** `specs/muc/leave.scs:42` Juliet receives: no matching stanza within 5 s "
        "(/presence/@type: expected 'unavailable', got 'available')"
    ) in text


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.prosody
@pytest.mark.ejabberd
@pytest.mark.long  # starts Prosody and ejabberd and runs every spec on both
def test_report_command_writes_index_and_summary_and_stops_the_servers(
    shared_dir: Path, tmp_path: Path
) -> None:
    """`scansion-py report` with the start scripts kept in reports/targets/."""
    if shutil.which("apt-get") is None and shutil.which("prosodyctl") is None:
        pytest.skip("Prosody is not installed and apt-get is absent")
    script = tmp_path / "echo.scs"
    script.write_text(
        "# Presence comes back\n\n[Client] Romeo\n\tjid: romeo@localhost\n\tpassword: pw\n\n"
        "---\n\nRomeo connects\n\nRomeo sends:\n\t<presence/>\n\n"
        "Romeo receives:\n\t<presence/>\n\nRomeo disconnects\n"
    )
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "harness", "report", str(script), "--output", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    ports = [int(port) for port in re.findall(r"started \w+ on 127\.0\.0\.1:(\d+)", done.stderr)]
    assert len(ports) == 2, done.stderr
    assert not any(_listening(port) for port in ports), "both servers are stopped"
    summary = (out / "SUMMARY.md").read_text()
    assert "| prosody | Prosody 0.12.3 | 1/1 |" in summary
    assert re.search(r"\| ejabberd \| ejabberd 23\.01\S* \| 1/1 \|", summary), summary
    assert "| reference | scansion-py reference server" in summary
    page = (out / "index.html").read_text()
    assert 'id="matrix"' in page and "Prosody 0.12.3" in page
