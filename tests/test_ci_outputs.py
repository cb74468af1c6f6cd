"""What CI sees: JUnit named as pytest names it, GitHub annotations, colour on request,
and never a progress frame in a log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from tests.conftest import ROOT

PASSING = ROOT / "specs" / "core" / "software_version.scs"
ANSI = "\x1b["


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """specs/ with one passing script and one that fails at a known line."""
    root = tmp_path_factory.mktemp("ci")
    (root / "specs" / "core").mkdir(parents=True)
    text = PASSING.read_text(encoding="utf-8")
    (root / "specs" / "core" / "version.scs").write_text(text, encoding="utf-8")
    wrong = text.replace('type="result"', 'type="error"', 1)
    assert wrong != text
    (root / "specs" / "wrong.scs").write_text(wrong, encoding="utf-8")
    return root


def run(
    workdir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ("GITHUB_ACTIONS", "FORCE_COLOR", "NO_COLOR")
    }
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=180,
        env=environment,
        check=False,
    )


def cases(path: Path) -> list[tuple[str, str, str | None]]:
    found = []
    for case in etree.parse(str(path)).iter("testcase"):
        title = case.find("properties/property[@name='title']")
        found.append(
            (case.get("classname"), case.get("name"), None if title is None else title.get("value"))
        )
    return sorted(found)


def test_junit_names_equal_pytest_junitxml(workdir: Path) -> None:
    run(
        workdir,
        "-m",
        "pytest",
        "specs",
        "--junitxml=pytest.xml",
        "-p",
        "no:cacheprovider",
        "--scansion-timeout=0.5",
    )
    run(workdir, "-m", "harness", "run", "specs", "--junit", "run.xml", "--timeout", "0.5")
    from_pytest = cases(workdir / "pytest.xml")
    assert [name for _, name, _ in from_pytest] == ["specs.core.version.scs", "specs.wrong.scs"]
    assert cases(workdir / "run.xml") == from_pytest


def test_github_annotations_point_at_the_failing_line(workdir: Path) -> None:
    done = run(
        workdir, "-m", "harness", "run", "specs", "--timeout", "0.5", env={"GITHUB_ACTIONS": "true"}
    )
    errors = [line for line in done.stdout.splitlines() if line.startswith("::error ")]
    assert len(errors) == 1, done.stdout
    head, _, message = errors[0].removeprefix("::error ").partition("::")
    assert head.startswith("file=specs/wrong.scs,line=")
    line = int(head.split("line=")[1].split(",")[0])
    assert "receives" in (workdir / "specs" / "wrong.scs").read_text().splitlines()[line - 1]
    assert "%0Awhy: " in message and "\n" not in message
    quiet = run(workdir, "-m", "harness", "run", "specs", "--timeout", "0.5")
    assert "::error" not in quiet.stdout


def test_color_on_request_and_no_progress_in_a_log(workdir: Path) -> None:
    script = "specs/core/version.scs"
    always = run(workdir, "-m", "harness", "run", script, "--color", "always")
    assert ANSI in always.stdout, "coloured although stdout is a pipe"
    never = run(
        workdir, "-m", "harness", "run", script, "--color", "never", env={"FORCE_COLOR": "1"}
    )
    assert ANSI not in never.stdout and "PASS" in never.stdout
    forced = run(workdir, "-m", "harness", "run", script, env={"FORCE_COLOR": "1"})
    for done in (always, forced):
        assert ANSI not in done.stderr and "\r" not in done.stderr, "no progress frames"
