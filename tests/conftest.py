"""Fixtures shared by the test suite: the `../shared` material and real servers.

Real servers (Prosody 0.12.3, ejabberd 23.01) come from the start scripts in
`../shared`; tests that need them skip with the reason when they are absent.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SCANSION_SHARED", ROOT.parent / "shared"))
SEEDS = SHARED / "specs" / "seeds"
CORPUS = SHARED / "prosody" / "corpus"
TRACES = SHARED / "prosody" / "traces"

# Scripts that must fail or be not applicable: test_forms.py and test_requirements.py run
# them and check the outcome, so pytest must not collect them as tests of their own.
collect_ignore = ["forms", "requirements"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (set SCANSION_SHARED to the shared material)")
    return SHARED


def _start_real_server(script: Path, name: str) -> Iterator[tuple[str, int]]:
    if not script.exists():
        pytest.skip(f"{script} is absent")
    if shutil.which("apt-get") is None and shutil.which("prosodyctl") is None:
        pytest.skip(f"{name} is not installed and apt-get is absent")
    port = free_port()
    started = subprocess.run(
        [str(script), "start", str(port)], capture_output=True, text=True, timeout=600
    )
    if started.returncode != 0:
        pytest.fail(f"{name} did not start: {started.stderr.strip()}")
    try:
        yield ("127.0.0.1", port)
    finally:
        subprocess.run([str(script), "stop", str(port)], capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def prosody() -> Iterator[tuple[str, int]]:
    """A real Prosody 0.12.3 on loopback with fresh state: (host, port)."""
    yield from _start_real_server(SHARED / "prosody" / "prosody-oracle", "Prosody")


@pytest.fixture(scope="session")
def ejabberd() -> Iterator[tuple[str, int]]:
    """A real ejabberd 23.01 on loopback (STARTTLS offered, self-signed): (host, port)."""
    yield from _start_real_server(SHARED / "ejabberd" / "ejabberd-target", "ejabberd")
