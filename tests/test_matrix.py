"""Several targets in one run: the reference server and a real Prosody 0.12.3, with one
script that only Prosody passes (it asks the server's software version and expects
Prosody's name), seen through the API, the console table, JSON, JUnit and the exit code.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from harness.parser import parse_text
from harness.results import MatrixResult, Status
from harness.runner import RunOptions, run_matrix
from harness.targets import parse_target
from tests.conftest import ROOT

pytestmark = pytest.mark.prosody
pytest.importorskip("reference.server", reason="the reference server is not built yet")


HEADER = (
    "[Client] Romeo\n\tjid: romeo@localhost/orchard\n\tpassword: pw\n\n---\n\nRomeo connects\n\n"
)
SOFTWARE = (
    "# The server says it is Prosody\n\n"
    + HEADER
    + "Romeo sends:\n"
    + '\t<iq type="get" id="v1" to="localhost"><query xmlns="jabber:iq:version"/></iq>\n\n'
    + "Romeo receives:\n"
    + '\t<iq type="result" id="v1" from="localhost">\n'
    + '\t\t<query xmlns="jabber:iq:version"><name>Prosody</name>'
    + "<version>{scansion:any}</version></query>\n"
    + "\t</iq>\n\n"
    + "Romeo disconnects\n"
)
SOFTWARE_RECEIVES_LINE = 14
ECHO = (
    "# Presence comes back\n\n"
    + HEADER
    + "Romeo sends:\n\t<presence/>\n\n"
    + 'Romeo receives:\n\t<presence from="${Romeo\'s full JID}"/>\n\n'
    + "Romeo disconnects\n"
)


@pytest.fixture
def scripts(tmp_path: Path) -> list[Path]:
    paths = [tmp_path / "a_echo.scs", tmp_path / "b_software.scs"]
    for path, text in zip(paths, (ECHO, SOFTWARE), strict=True):
        path.write_text(text)
    return paths


def run_both(paths: list[Path], prosody: tuple[str, int]) -> MatrixResult:
    scripts = [parse_text(path.read_text(), path) for path in paths]
    targets = [parse_target("reference"), parse_target(f"prosody={prosody[0]}:{prosody[1]}")]
    options = RunOptions(timeout=5.0, quiet_period=0.2, ask_version=True, record_traffic=True)
    return asyncio.run(run_matrix(scripts, targets, options, jobs=2))


def test_matrix_cells(scripts: list[Path], prosody: tuple[str, int]) -> None:
    matrix = run_both(scripts, prosody)
    assert matrix.targets == ["reference", "prosody"]
    assert matrix.paths == scripts
    echo, software = scripts
    assert matrix.cell(echo, "reference").status is Status.PASSED
    assert matrix.cell(echo, "prosody").status is Status.PASSED
    assert matrix.cell(software, "prosody").status is Status.PASSED
    failed = matrix.cell(software, "reference")
    assert failed.status is Status.FAILED
    assert failed.failure.line == SOFTWARE_RECEIVES_LINE
    assert not matrix.ok
    reference, prosody_run = matrix.runs
    assert prosody_run.server == "Prosody 0.12.3", "asked with XEP-0092 before the scripts"
    assert reference.server is not None and reference.server.startswith("scansion-py")
    assert (reference.passed, prosody_run.passed) == (1, 2)


def test_cli_with_two_targets(
    scripts: list[Path], prosody: tuple[str, int], tmp_path: Path
) -> None:
    report, junit = tmp_path / "report.json", tmp_path / "junit.xml"
    targets = ["--target", "reference", "--target", f"prosody={prosody[0]}:{prosody[1]}"]
    outputs = ["--json", str(report), "--junit", str(junit)]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            *map(str, scripts),
            "--timeout",
            "5",
            *targets,
            *outputs,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 1, "one failing cell fails the run: " + done.stdout + done.stderr
    lines = done.stdout.splitlines()
    echo, software = scripts
    assert next(line for line in lines if line.split()[:1] == [str(echo)]).split() == [
        str(echo),
        "PASS",
        "PASS",
    ]
    assert next(line for line in lines if line.split()[:1] == [str(software)]).split() == [
        str(software),
        "FAIL",
        "PASS",
    ]
    assert any(line.split()[:3] == ["passed", "1/2", "2/2"] for line in lines)
    assert "Prosody 0.12.3" in done.stdout
    assert f"{software}:{SOFTWARE_RECEIVES_LINE}: Romeo receives" in done.stdout
    data = json.loads(report.read_text())
    assert list(data) == ["tool", "version", "targets", "runs"]
    assert [t["name"] for t in data["targets"]] == ["reference", "prosody"]
    assert data["targets"][1]["server"] == "Prosody 0.12.3"
    for run, name in zip(data["runs"], ("reference", "prosody"), strict=True):
        assert list(run) == ["tool", "version", "target", "summary", "scripts", "errors"]
        assert run["target"] == name
        assert [s["path"] for s in run["scripts"]] == [str(echo), str(software)]
    assert [s["status"] for s in data["runs"][0]["scripts"]] == ["passed", "failed"]
    assert [s["status"] for s in data["runs"][1]["scripts"]] == ["passed", "passed"]
    suites = etree.parse(str(junit)).getroot().findall("testsuite")
    assert [(s.get("tests"), s.get("failures")) for s in suites] == [("2", "1"), ("2", "0")]


def test_cli_rejects_the_same_target_twice(scripts: list[Path]) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            str(scripts[0]),
            "-t",
            "reference",
            "-t",
            "reference",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 2
    assert "target 'reference' is given twice; name them apart with NAME=ADDRESS" in done.stderr
