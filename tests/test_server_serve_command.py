"""`scansion-py serve` in a real process: it serves, logs stanzas with -v, and Ctrl-C stops it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from test_server_support import RawClient

from tests.conftest import ROOT, free_port

LAUNCH = (
    "import argparse, sys\n"
    "from reference import serve_command\n"
    "parser = argparse.ArgumentParser()\n"
    "serve_command.register(parser.add_subparsers())\n"
    "args = parser.parse_args(sys.argv[1:])\n"
    "sys.exit(args.func(args))\n"
)


def _start(*arguments: str) -> subprocess.Popen[str]:
    env = {**os.environ, "COLUMNS": "300", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", LAUNCH, "serve", *arguments],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for_port(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()  # type: ignore[union-attr]
        try:
            asyncio.run(asyncio.open_connection("127.0.0.1", port))
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the server did not start listening")


def test_serve_runs_logs_stanzas_and_stops_on_ctrl_c() -> None:
    port = free_port()
    process = _start("--port", str(port), "--no-muc", "-v")
    try:
        _wait_for_port(port, process)

        async def chat() -> None:
            client = await RawClient.logged_in(port, "romeo")
            await client.send(
                "<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
            )
            assert (await client.element()).get("type") == "result"
            await client.close()

        asyncio.run(chat())
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert f"127.0.0.1:{port}" in output
    assert "urn:xmpp:ping" in output  # -v logs the stanza
    assert "stopped" in output
    assert "Traceback" not in output


def test_serve_reports_a_bad_config_clearly(tmp_path: Path) -> None:
    config = tmp_path / "server.toml"
    config.write_text("porrt = 5222\n")
    process = _start("--config", str(config))
    output, _ = process.communicate(timeout=20)
    assert process.returncode == 2
    assert "unknown setting 'porrt'" in output and "Traceback" not in output
