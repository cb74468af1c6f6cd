"""Ctrl-C during `scansion-py run`: connections close cleanly and the partial reports are
written, saying the run was interrupted.

The target is a reference server in a process of its own, so what the interrupted
run leaves behind (sessions, sockets) can be counted after it is gone.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "soak"))

from server_process import ServerProcess  # noqa: E402

# The installed command when there is one, else the same entry point through this Python.
_SCRIPT = Path(sys.executable).with_name("scansion-py")
SCANSION_PY = (
    [str(_SCRIPT)]
    if _SCRIPT.exists()
    else [sys.executable, "-c", "import sys; from harness.cli import main; sys.exit(main())"]
)

QUICK = """# quick

[Client] Romeo
\tjid: romeo@localhost
\tpassword: pw

---

Romeo connects

Romeo sends:
\t<presence/>

Romeo receives:
\t<presence/>
"""

# Waits for a message nobody sends: with --timeout 60, it is still waiting at Ctrl-C.
HANGING = """# hanging

[Client] Juliet
\tjid: juliet@localhost
\tpassword: pw

[Client] Nurse
\tjid: nurse@localhost
\tpassword: pw

---

Juliet connects

Nurse connects

Juliet receives:
\t<message from='${Nurse's full JID}'><body>never sent</body></message>
"""


def _wait_for(predicate, seconds: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_ctrl_c_writes_partial_reports_and_closes_connections(tmp_path: Path) -> None:
    (tmp_path / "a_quick.scs").write_text(QUICK)
    (tmp_path / "b_hanging.scs").write_text(HANGING)
    (tmp_path / "c_never_started.scs").write_text(QUICK)
    json_path, junit_path = tmp_path / "out.json", tmp_path / "out.xml"
    server = ServerProcess()
    try:
        run = subprocess.Popen(
            [
                *SCANSION_PY,
                "run",
                str(tmp_path),
                "--target",
                f"127.0.0.1:{server.port}",
                "--timeout",
                "60",
                "--tls",
                "off",
                "--json",
                str(json_path),
                "--junit",
                str(junit_path),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # Interrupt once both actors of the hanging script are logged in.
        _wait_for(lambda: server.stats()["sessions"] == 2, 30, "the hanging script's logins")
        run.send_signal(signal.SIGINT)
        stdout, stderr = run.communicate(timeout=90)  # a deadline for a loaded machine
        assert run.returncode == 130, (run.returncode, stdout, stderr)
        assert "Traceback" not in stdout + stderr, stdout + stderr
        _wait_for(lambda: server.stats()["connections"] == 0, 30, "the connections to close")
        stats = server.stats()
        assert stats["sessions"] == 0
        assert not stats["problems"], stats["problems"]
    finally:
        server_log = server.stop()
    assert "Traceback" not in server_log, server_log

    report = json.loads(json_path.read_text())
    assert report["summary"]["interrupted"] is True, report["summary"]
    statuses = {Path(s["path"]).name: s["status"] for s in report["scripts"]}
    assert statuses["a_quick.scs"] == "passed"
    assert statuses["b_hanging.scs"] == "errored"  # cut short: neither passed nor failed
    assert "c_never_started.scs" not in statuses
    hanging = next(s for s in report["scripts"] if s["path"].endswith("b_hanging.scs"))
    assert "interrupted" in hanging["failure"]["message"]

    suite = etree.parse(str(junit_path)).getroot().find("testsuite")
    assert suite is not None
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties.get("interrupted") == "true", properties
    assert suite.get("tests") == "2" and suite.get("errors") == "1"
