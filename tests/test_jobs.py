"""`--jobs`: scripts on the embedded reference server run side by side, results stay in
script order, and a shared (remote) server still gets its scripts one at a time.

Overlap is shown with each script's start and end times, never with wall-clock limits.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from harness.model import Script
from harness.parser import parse_text
from harness.results import RunResult, ScriptResult, Status
from harness.runner import RunOptions, run_scripts
from harness.targets import parse_target

pytest.importorskip("reference.server", reason="the reference server is not built yet")

OPTIONS = RunOptions(timeout=2.0, quiet_period=0.3)


def script(name: str, quiet_steps: int = 1, *, fail: bool = False) -> Script:
    """A script that logs in and listens `quiet_steps` times for nothing (0.3 s each)."""
    steps = "\n\n".join("Romeo receives: nothing" for _ in range(quiet_steps))
    failing = "\n\nRomeo receives:\n\t<message/>" if fail else ""
    text = (
        f"# {name}\n\n[Client] Romeo\n\tjid: romeo@localhost\n\tpassword: pw\n\n---\n\n"
        f"Romeo connects\n\n{steps}{failing}\n\nRomeo disconnects\n"
    )
    return parse_text(text, Path(f"{name}.scs"))


class Recorder:
    """An observer that keeps the order of its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def script_started(self, script: Script) -> None:
        self.calls.append(("started", script.path.stem))

    def script_finished(self, result: ScriptResult) -> None:
        self.calls.append(("finished", result.path.stem))


def run(scripts: list[Script], target: str, jobs: int, **kwargs: object) -> RunResult:
    return asyncio.run(run_scripts(scripts, parse_target(target), OPTIONS, jobs=jobs, **kwargs))


def interval(result: ScriptResult) -> tuple[float, float]:
    return result.started_s, result.started_s + result.duration_s


def overlaps(a: ScriptResult, b: ScriptResult) -> bool:
    (a_start, a_end), (b_start, b_end) = interval(a), interval(b)
    return a_start < b_end and b_start < a_end


def test_reference_scripts_overlap_and_report_in_script_order() -> None:
    # The first script is the slowest: it ends last, yet it is reported first.
    scripts = [script("slow", 3), script("quick1"), script("quick2")]
    observer = Recorder()
    result = run(scripts, "reference", jobs=3, observer=observer)
    assert [s.path.stem for s in result.scripts] == ["slow", "quick1", "quick2"]
    assert all(s.status is Status.PASSED for s in result.scripts), [
        s.failure for s in result.scripts
    ]
    slow, quick1, quick2 = result.scripts
    assert overlaps(slow, quick1) and overlaps(slow, quick2) and overlaps(quick1, quick2)
    assert interval(quick1)[1] < interval(slow)[1], "the quick ones really ended first"
    finished = [name for kind, name in observer.calls if kind == "finished"]
    assert finished == ["slow", "quick1", "quick2"]


def test_jobs_bounds_how_many_run_at_once() -> None:
    result = run([script(f"s{i}") for i in range(5)], "reference", jobs=2)
    assert overlaps(result.scripts[0], result.scripts[1])
    for candidate in result.scripts:
        start = candidate.started_s
        running = [s for s in result.scripts if interval(s)[0] <= start < interval(s)[1]]
        assert len(running) <= 2, [interval(s) for s in result.scripts]


def test_one_job_runs_one_script_at_a_time() -> None:
    result = run([script("a"), script("b"), script("c")], "reference", jobs=1)
    a, b, c = result.scripts
    assert not overlaps(a, b) and not overlaps(b, c)


def test_a_shared_server_gets_its_scripts_one_by_one() -> None:
    from reference.server import ReferenceServer

    async def go() -> RunResult:
        async with ReferenceServer() as server:
            target = parse_target(f"shared=127.0.0.1:{server.port}")
            options = dataclasses.replace(OPTIONS, tls="off")
            scripts = [script("a"), script("b"), script("c")]
            return await run_scripts(scripts, target, options, jobs=4)

    result = asyncio.run(go())
    assert [s.status for s in result.scripts] == [Status.PASSED] * 3
    a, b, c = result.scripts
    assert not overlaps(a, b) and not overlaps(b, c)


def test_exitfirst_keeps_script_order_with_jobs() -> None:
    scripts = [script("ok1", 2), script("bad", fail=True), script("ok2"), script("ok3")]
    observer = Recorder()
    result = run(scripts, "reference", jobs=4, exitfirst=True, observer=observer)
    assert [(s.path.stem, s.status) for s in result.scripts] == [
        ("ok1", Status.PASSED),
        ("bad", Status.FAILED),
    ]
    assert [name for kind, name in observer.calls if kind == "finished"] == ["ok1", "bad"]


def test_cancelling_a_concurrent_run_keeps_what_finished_in_order() -> None:
    async def go() -> RunResult:
        scripts = [script("quick"), script("long", 40), script("also_long", 40)]
        observer = Recorder()
        task = asyncio.create_task(
            run_scripts(scripts, parse_target("reference"), OPTIONS, jobs=3, observer=observer)
        )
        async with asyncio.timeout(60):
            while ("finished", "quick") not in observer.calls:
                await asyncio.sleep(0.02)
        task.cancel()
        return await task

    result = asyncio.run(go())
    assert result.interrupted
    assert [(s.path.stem, s.status) for s in result.scripts] == [
        ("quick", Status.PASSED),
        ("long", Status.ERRORED),
        ("also_long", Status.ERRORED),
    ]
    assert all(s.failure.message == "interrupted" for s in result.scripts[1:])
