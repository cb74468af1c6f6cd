"""Headless Chromium for the HTML report tests: a page's DOM after its scripts ran,
its console messages, and screenshots kept in tests/artifacts/ for a person to look at.
"""

from __future__ import annotations

import re
import shutil
import subprocess

from tests.conftest import ROOT

ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
]
_CONSOLE = re.compile(r":CONSOLE[:(]\d+\)?\] (?P<message>.*)")


def browse(chromium: list[str], *args: str) -> tuple[str, list[str]]:
    """Run Chromium; its stdout and the page's console messages."""
    done = subprocess.run(
        [*chromium, *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    console = [m["message"] for m in map(_CONSOLE.search, done.stderr.splitlines()) if m]
    return done.stdout, console


def screenshot(chromium: list[str], url: str, name: str, size: str = "1440,2600") -> None:
    """Save tests/artifacts/NAME for a person to look at; checks that something was drawn."""
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / name
    shot.unlink(missing_ok=True)
    browse(chromium, f"--screenshot={shot}", f"--window-size={size}", "--hide-scrollbars", url)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000, "a rendered page, not a blank one"
