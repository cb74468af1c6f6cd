"""`scansion-py serve` in a real process: it serves, logs stanzas with -v, and Ctrl-C stops it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
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
    deadline = time.monotonic() + 60
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
        output, _ = process.communicate(timeout=90)
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
    output, _ = process.communicate(timeout=90)
    assert process.returncode == 2
    assert "unknown setting 'porrt'" in output and "Traceback" not in output


def test_serve_names_a_database_path_it_cannot_create(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    config = tmp_path / "server.toml"
    config.write_text(f'database = "{blocker}/rooms.sqlite"\nport = {free_port()}\n')
    process = _start("--config", str(config))
    output, _ = process.communicate(timeout=90)
    assert process.returncode == 2, output
    assert f"cannot use the room database {blocker}/rooms.sqlite" in output
    assert "cannot listen" not in output and "Traceback" not in output


def test_serve_skips_a_corrupted_room_record_and_loads_the_others(tmp_path: Path) -> None:
    database = tmp_path / "rooms.sqlite"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE muc_rooms (jid TEXT PRIMARY KEY, record TEXT NOT NULL)")
        good = {"data": {"persistent": True, "name": "Good"}, "affiliations": {}}
        good["affiliation_data"] = {}
        db.execute(
            "INSERT INTO muc_rooms VALUES (?, ?)", ("good@conference.localhost", json.dumps(good))
        )
        db.execute("INSERT INTO muc_rooms VALUES (?, ?)", ("bad@conference.localhost", "{trunc"))
    port = free_port()
    config = tmp_path / "server.toml"
    config.write_text(f'database = "{database}"\nport = {port}\n')
    process = _start("--config", str(config))
    try:
        _wait_for_port(port, process)

        async def list_rooms() -> list[str]:
            client = await RawClient.logged_in(port, "romeo")
            await client.send(
                "<iq type='get' id='d' to='conference.localhost'>"
                "<query xmlns='http://jabber.org/protocol/disco#items'/></iq>"
            )
            reply = await client.element()
            await client.close()
            return [item.get("jid") for item in reply.iter("{*}item")]

        rooms = asyncio.run(list_rooms())
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
    assert rooms == ["good@conference.localhost"]
    assert "room bad@conference.localhost skipped: its stored record is unreadable" in output
    assert "Traceback" not in output
