"""A wheel built from the repository, installed in a fresh virtual environment outside the
checkout: the bundled suites run with no path, and `verify` checks the embedded reference
server and Prosody 0.12.3 in one line."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
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


def check_bundled_run(done: subprocess.CompletedProcess[str], report: Path) -> None:
    """Every bundled script ran: the Prosody-likeness suites pass, the XEP-0045 suite gives
    verdicts (the servers under test break some MUSTs, so the run exits 1 and names them)."""
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["summary"]["total"] == SUITE_SCRIPTS
    assert data["summary"]["errored"] == 0
    likeness = [s for s in data["scripts"] if "/xep0045/" not in s["path"]]
    assert likeness and all(s["status"] == "passed" for s in likeness), [
        (s["path"], s["failure"]) for s in likeness if s["status"] != "passed"
    ]
    (verdicts,) = data["requirements_summary"].values()
    assert verdicts["passed"] > 0 and verdicts["must_failed"] > 0
    assert "MUST failed" in done.stdout


def test_the_bundled_suites_run_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    report = tmp_path / "run.json"
    done = scansion(installed, "run", "--json", str(report), cwd=tmp_path)
    assert "site-packages/harness/suites/" in done.stdout
    check_bundled_run(done, report)
    done = scansion(installed, "verify", "reference", "--json", str(report), cwd=tmp_path)
    check_bundled_run(done, report)


def test_verify_names_the_fields_it_needs(installed: Path, tmp_path: Path) -> None:
    done = scansion(installed, "verify", "xmpp.example.org", cwd=tmp_path)
    assert done.returncode == 2
    assert "Give --domain DOMAIN (profile field 'domain')" in done.stderr


@pytest.mark.prosody
def test_verify_prosody_from_the_wheel(
    installed: Path, tmp_path: Path, prosody: tuple[str, int]
) -> None:
    host, port = prosody
    report = tmp_path / "verify.json"
    done = scansion(
        installed,
        "verify",
        f"{host}:{port}",
        "--domain",
        "localhost",
        "--json",
        str(report),
        cwd=tmp_path,
    )
    check_bundled_run(done, report)


def test_every_package_of_the_repository_is_listed_for_the_wheel() -> None:
    """pyproject lists packages by hand (to map specs/ to harness.suites): none may be missed."""
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("protocol", "harness", "reference")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert listed == found | {"harness.suites"}
