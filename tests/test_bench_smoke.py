"""The bench's load generator: tiny runs of each scenario on the reference server,
and its correctness counting fed with wrong deliveries."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.loadgen import Address, Connection
from bench.muc import Occupant, Tally
from bench.results import Measurement, combine, percentile_ms
from bench.scenarios import (
    FanOut,
    Joins,
    Limits,
    Logins,
    RunContext,
    Scenario,
    ScenarioError,
    parse_scenario,
)
from bench.targets import TargetServer

ROOT = Path(__file__).resolve().parents[1]

try:
    import reference.server  # noqa: F401

    REFERENCE_MISSING = ""
except ImportError as exc:
    REFERENCE_MISSING = f"the reference server cannot be imported yet ({exc})"

needs_reference = pytest.mark.skipif(bool(REFERENCE_MISSING), reason=REFERENCE_MISSING)
SMALL = Limits(run_timeout=30.0, idle_timeout=5.0, step_timeout=10.0)


async def _run_on_reference(scenario: Scenario) -> Measurement:
    server = TargetServer("reference")
    await server.start(None)
    try:
        context = RunContext(
            Address("127.0.0.1", server.port), server.name, server.cpu_seconds, SMALL
        )
        return await scenario.run(context)
    finally:
        await server.stop()


@needs_reference
@pytest.mark.parametrize(
    "scenario",
    [FanOut(occupants=4, messages=25, rooms=2), Joins(joins=8), Logins(logins=20, concurrency=5)],
    ids=["fanout", "joins", "logins"],
)
def test_scenario_on_reference_is_complete_and_correct(scenario: Scenario) -> None:
    measured = asyncio.run(_run_on_reference(scenario))
    assert measured.errors == {}
    assert measured.done == measured.expected > 0
    assert measured.lost == 0
    assert measured.duplicated in (0, None)
    assert measured.out_of_order in (0, None)
    assert measured.throughput > 0
    assert measured.p50_ms is not None and measured.p99_ms is not None
    assert measured.server_cpu_s is not None  # read from the server's own process


@needs_reference
def test_command_line_without_shared_runs_reference_only(tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    finished = subprocess.run(
        [
            sys.executable,
            "bench/run.py",
            "--targets",
            "reference,prosody",
            "--baseline",
            str(ROOT),
            "--scenarios",
            "fanout:occupants=3:messages=5,logins:n=5:concurrency=2",
            "--repeat",
            "2",
            "--json",
            str(results),
        ],
        cwd=ROOT,
        env={**os.environ, "SCANSION_SHARED": str(tmp_path / "absent")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    stderr = " ".join(finished.stderr.split())
    assert "absent, so Prosody and ejabberd cannot run" in stderr
    assert "fan-out: 3 occupants, 5 messages" in finished.stdout
    assert "µs/delivery" in finished.stdout and "ms/login" in finished.stdout
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert [line["kind"] for line in lines].count("run") == 8  # 2 scenarios x 2 targets x 2
    pids = re.findall(r"(?:reference|baseline) on 127\.0\.0\.1:\d+ \(pid (\d+)\)", stderr)
    assert len(pids) == len(set(pids)) == 8, "a fresh server process for every run"
    medians = [line for line in lines if line["kind"] == "median"]
    assert {(m["scenario"], m["target"]) for m in medians} == {
        (scenario, target)
        for scenario in ("fan-out: 3 occupants, 5 messages", "logins: 5, 2 at a time")
        for target in ("reference", "baseline")
    }
    assert all(m["runs"] == 2 and m["lost"] == 0 and m["done"] == m["expected"] for m in medians)


@needs_reference
def test_round_trips_and_processes_measure_passing_runs() -> None:
    scripts = ["specs/core/login.scs", "specs/core/software_version.scs"]
    for command in (
        ["bench/round_trips.py", "--target", "reference", "--repeat", "1", *scripts],
        ["bench/processes.py", "--repeat", "1", *scripts],
    ):
        finished = subprocess.run(
            [sys.executable, *command], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert finished.returncode == 0, finished.stderr
        assert "2 scripts" in finished.stdout or "2/2" in finished.stdout, finished.stdout


@pytest.fixture
def occupant_with_tally() -> Iterator[tuple[Occupant, Connection, Tally]]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    async def make() -> tuple[Occupant, Connection, Tally]:
        conn = Connection("n1")
        tally = Tally()
        occupant = Occupant(conn, "room@conference.localhost", 1, tally, messages=4, peers=3)
        return occupant, conn, tally

    try:
        yield loop.run_until_complete(make())
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def _message(seq: int) -> bytes:
    return f"<message type='groupchat'><body>fo:{seq}:0</body></message>".encode()


def test_duplicated_reordered_and_missing_messages_are_counted(occupant_with_tally) -> None:
    _, conn, tally = occupant_with_tally
    tally.expect(4)
    stream = _message(0) + _message(2) + _message(1) + _message(2)
    conn.data_received(stream[:30])  # a marker split across reads is still seen once
    conn.data_received(stream[30:])
    assert (tally.unique, tally.duplicated, tally.out_of_order, tally.lost) == (3, 1, 1, 1)
    assert not tally.complete.is_set()


def test_deferred_counting_finds_the_same_faults_with_arrival_times(occupant_with_tally) -> None:
    occupant, conn, tally = occupant_with_tally
    occupant.joined.set_result(0)
    tally.expect(4)
    occupant.defer_counting()
    conn.data_received(_message(0) + _message(2) + _message(1))
    arrived = time.perf_counter_ns()
    assert tally.unique == 0 and not tally.complete.is_set()  # recorded, not checked yet
    conn.data_received(_message(2))
    assert tally.complete.is_set()  # four markers for four expected: stop waiting, then check
    occupant.count_deferred()
    assert (tally.unique, tally.duplicated, tally.out_of_order, tally.lost) == (3, 1, 1, 1)
    assert tally.arrived == 0
    assert max(tally.latencies_ns) <= arrived  # timed when they arrived, not when checked
    tally.complete.clear()  # as the fan-out does when duplicates made it look complete
    conn.data_received(_message(3))  # checked live again
    assert (tally.unique, tally.lost) == (4, 0) and tally.complete.is_set()


def test_presences_after_own_join_must_come_in_join_order(occupant_with_tally) -> None:
    occupant, conn, tally = occupant_with_tally

    def presence(nick: str, extra: str = "") -> bytes:
        return f"<presence from='room@conference.localhost/{nick}'{extra}><x/></presence>".encode()

    conn.data_received(presence("n0") + presence("n1"))
    assert occupant.joined.done()
    conn.data_received(presence("n2") + presence("n0") + presence("n9", " type='unavailable'"))
    assert (tally.unique, tally.duplicated, tally.out_of_order) == (3, 1, 0)


def test_deferred_join_is_confirmed_on_arrival_and_checked_afterwards(occupant_with_tally) -> None:
    occupant, conn, tally = occupant_with_tally
    occupant.defer_counting()

    def presence(nick: str) -> bytes:
        return f"<presence from='room@conference.localhost/{nick}'><x/></presence>".encode()

    conn.data_received(presence("n2") + presence("n0"))  # the occupant list: any order
    assert not occupant.joined.done()
    conn.data_received(presence("n1") + presence("n0"))  # our own presence, then a duplicate
    assert occupant.joined.done() and tally.unique == 0
    occupant.count_deferred()
    assert (tally.unique, tally.duplicated, tally.out_of_order) == (3, 1, 0)


def test_refused_join_reports_the_condition(occupant_with_tally) -> None:
    occupant, conn, _ = occupant_with_tally
    conn.data_received(
        b"<presence from='room@conference.localhost/n1' type='error'><error type='cancel'>"
        b"<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
    )
    with pytest.raises(Exception, match="join refused: service-unavailable"):
        occupant.joined.result()


def test_scenario_forms() -> None:
    assert parse_scenario("fanout-50") == FanOut(occupants=50, messages=200)
    assert parse_scenario("fanout:occupants=3:messages=7:rooms=2") == FanOut(3, 7, 2)
    assert parse_scenario("logins:n=9") == Logins(9, 50)
    for bad in ("fanout:occupants=3", "joins:n=x", "logins:n=5:speed=2", "flood", "joins:n=0"):
        with pytest.raises(ScenarioError):
            parse_scenario(bad)


def test_medians_never_hide_a_bad_run() -> None:
    def run(throughput: float, lost: int) -> Measurement:
        return Measurement(
            "s", "t", "u", 10 - lost, 10, 1.0, throughput, 1.0, 2.0, 0.5, 0.1, lost, 0, 0
        )

    combined = combine([run(100.0, 0), run(300.0, 2), run(200.0, 0)])
    assert combined.throughput == 200.0
    assert combined.lost == 2 and not combined.correct
    assert percentile_ms([1_000_000, 2_000_000, 3_000_000, 4_000_000], 0.5) == 2.0
    assert percentile_ms([1_000_000, 2_000_000, 3_000_000, 4_000_000], 0.99) == 4.0


@needs_reference
def test_harness_overhead_measures_a_script_both_ways() -> None:
    finished = subprocess.run(
        [sys.executable, "bench/harness_overhead.py", "--repeat", "1", "specs/core/login.scs"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    row = next(line for line in finished.stdout.splitlines() if "login.scs" in line)
    cells = [cell.strip() for cell in row.split("│") if cell.strip()]
    assert cells[1:3] == ["passed", "6"]  # status, steps: the script ran in split mode
    assert float(cells[5]) > 0  # harness CPU, measured apart from the server's
    assert "total: 6 steps" in " ".join(finished.stderr.split())
