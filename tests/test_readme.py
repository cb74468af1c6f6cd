"""The README's example script runs as written, on the embedded server and on Prosody."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from harness.parser import parse_text
from harness.results import Status
from harness.runner import RunOptions, run_scripts
from harness.targets import parse_target
from tests.conftest import ROOT

SECTION = "## A script, line by line"


def readme_script() -> str:
    """The first fenced block after the section heading, as a user would copy it."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert SECTION in text, "the README lost its example section"
    fenced = text.split(SECTION, 1)[1].split("```", 2)
    assert len(fenced) == 3, "the example section has no fenced block"
    return fenced[1].removeprefix("\n").removeprefix("text\n")


def run_readme_script(target: str) -> None:
    script = parse_text(readme_script(), Path("README.md#example"))
    result = asyncio.run(run_scripts([script], parse_target(target), RunOptions()))
    (outcome,) = result.scripts
    assert outcome.status is Status.PASSED, outcome.failure
    assert [step.action for step in outcome.steps][-2:] == ["receives nothing", "disconnects"]


def test_the_readme_example_passes_on_the_embedded_server() -> None:
    run_readme_script("reference")


@pytest.mark.prosody
def test_the_readme_example_passes_on_prosody(prosody: tuple[str, int]) -> None:
    run_readme_script(f"{prosody[0]}:{prosody[1]}")
