"""Fixtures shared by the test suite: the `../shared` material and real servers.

Real servers (Prosody 0.12.3, ejabberd 23.01) come from the start scripts in
`../shared`; tests that need them skip with the reason when they are absent.
`--long` adds the slow cases (marked `long`) to the run.
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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--long",
        action="store_true",
        help="also run the slow cases (marked `long`): every corpus script broken against "
        "Prosody, 5,000 idle connections",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--long"):
        return
    skip = pytest.mark.skip(reason="a slow case: run with --long")
    for item in items:
        if "long" in item.keywords:
            item.add_marker(skip)


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


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[list[str]]:
    """Chromium's command line with a fresh profile; skips when Debian's package is absent."""
    from tests.support_chromium import CHROMIUM, FLAGS

    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian package 'chromium')")
    profile = tmp_path / "profile"
    profile.mkdir()
    yield [CHROMIUM, *FLAGS, f"--user-data-dir={profile}"]
