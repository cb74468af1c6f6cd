"""Scripts against the embedded reference server: our core specs and Prosody's own scripts
that need only c2s, routing, presence and roster."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from harness.parser import parse_file
from harness.results import ScriptResult, Status
from harness.runner import RunOptions, run_script
from harness.targets import Endpoint
from reference.config import ServerConfig
from reference.server import ReferenceServer
from tests.conftest import CORPUS, ROOT

CORE_SPECS = sorted((ROOT / "specs" / "core").glob("*.scs"))
CORPUS_SCRIPTS = [
    "basic.scs",
    "basic_message.scs",
    "basic_roster.scs",
    "presence_preapproval.scs",
    "keep_full_sub_req.scs",
]


def _run(path: Path) -> ScriptResult:
    """A fresh server per script, as `--target reference` gives, without the MUC service."""
    script = parse_file(path)
    options = RunOptions(timeout=3.0, quiet_period=0.3)

    async def main() -> ScriptResult:
        async with ReferenceServer(ServerConfig(muc_host=None, starttls=False)) as server:
            return await run_script(script, Endpoint("127.0.0.1", server.port, False), options)

    return asyncio.run(main())


def _explain(result: ScriptResult) -> str:
    failure = result.failure
    if failure is None:
        return result.status
    return f"{result.path}:{failure.line}: {failure.action}: {failure.message}"


def test_core_specs_exist() -> None:
    assert len(CORE_SPECS) >= 5


@pytest.mark.parametrize("path", CORE_SPECS, ids=lambda p: p.stem)
def test_core_spec_passes_on_reference(path: Path) -> None:
    result = _run(path)
    assert result.status == Status.PASSED, _explain(result)


@pytest.mark.parametrize("name", CORPUS_SCRIPTS)
def test_prosody_corpus_script_passes_on_reference(name: str, shared_dir: Path) -> None:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"{path} is absent")
    result = _run(path)
    assert result.status == Status.PASSED, _explain(result)
