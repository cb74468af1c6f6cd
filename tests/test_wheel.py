"""A wheel built from the repository, installed in a fresh virtual environment outside the
checkout: the bundled suites run with no path, and `verify` checks the embedded reference
server and Prosody 0.12.3 in one line."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

SUITE_SCRIPTS = len(list((ROOT / "specs").rglob("*.scs")))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The `scansion-py` command of a fresh venv holding only the wheel and its dependencies."""
    work = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip"]
    built = subprocess.run(
        [*pip, "wheel", str(ROOT), "--no-deps", "-q", "-w", str(work / "dist")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next((work / "dist").glob("scansion_py-*.whl"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    done = subprocess.run(
        [*pip, "--python", str(venv / "bin" / "python"), "install", "-q", "--no-compile", wheel],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    yield venv / "bin" / "scansion-py"


def scansion(command: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(command), *args], capture_output=True, text=True, timeout=600, cwd=cwd
    )


def test_the_bundled_suites_run_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    done = scansion(installed, "run", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "site-packages/harness/suites/" in done.stdout
    summary = f"{SUITE_SCRIPTS} scripts: {SUITE_SCRIPTS} passed"
    assert summary in done.stdout
    done = scansion(installed, "verify", "reference", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    assert summary in done.stdout


def test_verify_names_the_fields_it_needs(installed: Path, tmp_path: Path) -> None:
    done = scansion(installed, "verify", "xmpp.example.org", cwd=tmp_path)
    assert done.returncode == 2
    assert "Give --domain DOMAIN (profile field 'domain')" in done.stderr


@pytest.mark.prosody
def test_verify_prosody_from_the_wheel(
    installed: Path, tmp_path: Path, prosody: tuple[str, int]
) -> None:
    host, port = prosody
    done = scansion(installed, "verify", f"{host}:{port}", "--domain", "localhost", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    assert f"{SUITE_SCRIPTS} scripts: {SUITE_SCRIPTS} passed" in done.stdout
