"""Every spec (core, MUC, and Prosody's seeds) against both the reference server and real Prosody.

A script is a claim about Prosody's behaviour: it must pass against Prosody
0.12.3 (the claim is true) and against the reference server (it behaves the
same). A script that passes on one target only shows where the two differ.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from harness.parser import parse_file
from harness.results import ScriptResult, Status
from harness.runner import RunOptions, run_on_target
from harness.targets import parse_target
from tests.conftest import ROOT

pytestmark = pytest.mark.prosody

CORE_SPECS = sorted((ROOT / "specs" / "core").glob("*.scs"))
MUC_SPECS = sorted((ROOT / "specs" / "muc").glob("*.scs"))
SEED_COPIES = sorted((ROOT / "specs" / "prosody").glob("muc_*.scs"))
OPTIONS = RunOptions(timeout=3.0, quiet_period=0.5)


def _run(path: Path, target: str) -> ScriptResult:
    return asyncio.run(run_on_target(parse_file(path), parse_target(target), OPTIONS))


def _explain(label: str, result: ScriptResult) -> str:
    failure = result.failure
    if failure is None:
        return f"{label}: {result.status}"
    where = f"{result.path}:{failure.line}: {failure.actor} {failure.action}"
    return f"{label}: {result.status} at {where}: {failure.message}\n{failure.explanation}"


def test_there_is_a_script_per_behaviour() -> None:
    assert len(MUC_SPECS) >= 12
    assert len(SEED_COPIES) == 5


@pytest.mark.parametrize("path", CORE_SPECS + MUC_SPECS + SEED_COPIES, ids=lambda p: p.stem)
def test_script_holds_on_prosody_and_reference(path: Path, prosody: tuple[str, int]) -> None:
    host, port = prosody
    on_prosody = _run(path, f"{host}:{port}")
    on_reference = _run(path, "reference")
    report = "\n".join((_explain("prosody", on_prosody), _explain("reference", on_reference)))
    assert on_prosody.status == Status.PASSED, "the script is wrong about Prosody\n" + report
    assert on_reference.status == Status.PASSED, "the reference server differs\n" + report
