"""`run --validate`: every stanza the target sends is checked against the schemas; a
script can pass and still have received schema-invalid stanzas, and reports show both.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.parser import parse_text
from harness.results import RunResult, Status
from harness.runner import RunOptions, run_scripts
from harness.targets import parse_target
from tests.conftest import ROOT

pytest.importorskip("reference.server", reason="the reference server is not built yet")


# Romeo sends Juliet a chat message carrying a MUC user item with a role no schema
# allows; the server relays payloads as they are, so Juliet receives an invalid stanza.
RELAYED_INVALID = """# An invalid payload relayed

[Client] Romeo
\tjid: romeo@localhost/orchard
\tpassword: pw

[Client] Juliet
\tjid: juliet@localhost/balcony
\tpassword: pw

---

Romeo connects

Juliet connects

Romeo sends:
\t<message to="${Juliet's full JID}" type="chat">
\t\t<body>hi</body>
\t\t<x xmlns="http://jabber.org/protocol/muc#user"><item role="bogus"/></x>
\t</message>

Juliet receives:
\t<message type="chat"><body>hi</body></message>

Romeo disconnects

Juliet disconnects
"""


SCRIPT = parse_text(RELAYED_INVALID, Path("relayed.scs"))
SENDS, RECEIVES = 2, 3  # the step indexes of Romeo's send and Juliet's receive


def run(validate: bool) -> RunResult:
    script = SCRIPT
    options = RunOptions(timeout=3.0, quiet_period=0.2, validate=validate)
    return asyncio.run(run_scripts([script], parse_target("reference"), options))


def test_a_passing_script_can_receive_an_invalid_stanza() -> None:
    result = run(validate=True)
    (script,) = result.scripts
    assert script.status is Status.PASSED, script.failure
    (invalid,) = script.invalid
    assert invalid.actor == "Juliet"
    # It arrives while Romeo's send completes or once Juliet listens: either step is right.
    assert invalid.step in (SENDS, RECEIVES)
    assert invalid.line == SCRIPT.steps[invalid.step].line
    assert 'role="bogus"' in invalid.stanza
    assert any(
        problem.startswith("/message/x[muc#user]/item/@role:") for problem in invalid.problems
    ), invalid.problems
    assert result.validated and result.invalid_stanzas == 1


def test_without_validate_nothing_is_checked() -> None:
    result = run(validate=False)
    assert result.scripts[0].invalid == () and not result.validated


def test_cli_reports_invalid_stanzas_in_console_json_and_html(tmp_path: Path) -> None:
    path = tmp_path / "relayed.scs"
    path.write_text(RELAYED_INVALID)
    report, page = tmp_path / "report.json", tmp_path / "report.html"
    command = [sys.executable, "-m", "harness", "run", str(path), "--validate"]
    done = subprocess.run(
        [*command, "--json", str(report), "--html", str(page)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, "schema findings do not fail a run: " + done.stdout + done.stderr
    assert f"PASS   {path}" in done.stdout
    lines = {SCRIPT.steps[SENDS].line, SCRIPT.steps[RECEIVES].line}
    assert any(
        f"{path}:{line}: Juliet received a schema-invalid stanza:" in done.stdout for line in lines
    ), done.stdout
    assert "/message/x[muc#user]/item/@role:" in done.stdout
    assert "; 1 schema-invalid stanza received" in done.stdout
    data = json.loads(report.read_text())
    assert data["summary"]["invalid_stanzas"] == 1
    (invalid,) = data["scripts"][0]["invalid_stanzas"]
    assert invalid["actor"] == "Juliet" and invalid["line"] in lines
    html = page.read_text()
    assert f"Schema-invalid stanza received by Juliet (line {invalid['line']})" in html
    assert "/message/x[muc#user]/item/@role:" in html
