"""Offline replay: every recorded Prosody run passes, and the replay itself is exact."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.replay import (
    RecordingError,
    describe_failures,
    load_recording,
    recordings,
    replay,
    replay_file,
)
from tests.conftest import TRACES

RUNS = ("run0", "run1", "run2", "run3")
SCRIPTS_PER_RUN = 36

needs_traces = pytest.mark.skipif(
    not TRACES.is_dir(), reason=f"{TRACES} is absent (set SCANSION_SHARED to the shared material)"
)


@needs_traces
def test_all_recordings_are_present() -> None:
    assert len(recordings(TRACES)) == len(RUNS) * SCRIPTS_PER_RUN


@needs_traces
@pytest.mark.parametrize("run", RUNS)
def test_every_receives_step_of_a_run_passes(run: str) -> None:
    paths = sorted((TRACES / run).glob("*.json"))
    assert len(paths) == SCRIPTS_PER_RUN
    failures = []
    steps = 0
    for path in paths:
        recording = load_recording(path)
        outcomes = replay(recording)
        steps += len(outcomes)
        if not all(outcome.ok for outcome in outcomes):
            failures.append(describe_failures(recording, outcomes))
    assert not failures, "\n".join(failures)
    assert steps > 300  # the runs hold 326 receives steps each


def write_recording(tmp_path: Path, steps: list[dict[str, Any]], received: list[Any]) -> Path:
    data = {
        "title": "synthetic",
        "clients": {
            "Romeo": {
                "bare": "romeo@localhost",
                "full": "romeo@localhost/r1",
                "received": [
                    {"step": step, "t": index / 100, "xml": xml}
                    for index, (step, xml) in enumerate(received)
                ],
            }
        },
        "steps": [
            {"index": index, "line": index + 10, "actor": "Romeo", **step}
            for index, step in enumerate(steps)
        ],
        "events": [],
    }
    path = tmp_path / "synthetic.json"
    path.write_text(json.dumps(data))
    return path


def message(ident: str) -> str:
    return f"<message xmlns='jabber:client' id='{ident}' to='romeo@localhost/r1'/>"


def test_a_stanza_is_available_only_from_the_step_it_arrived_in(tmp_path: Path) -> None:
    path = write_recording(
        tmp_path,
        [
            {"verb": "connects"},
            {"verb": "receives", "template": "<message id='late'/>"},
            {"verb": "sends", "xml": "<presence/>"},
            {"verb": "receives", "template": "<message id='late'/>"},
        ],
        [(2, message("late"))],
    )
    outcomes = replay_file(path)
    assert [outcome.ok for outcome in outcomes] == [False, True]
    assert "the buffer is empty" in outcomes[0].explanation


def test_a_stanza_is_consumed_once(tmp_path: Path) -> None:
    path = write_recording(
        tmp_path,
        [
            {"verb": "sends", "xml": "<presence/>"},
            {"verb": "receives", "template": "<message/>"},
            {"verb": "receives", "template": "<message/>"},
        ],
        [(0, message("only"))],
    )
    outcomes = replay_file(path)
    assert [outcome.ok for outcome in outcomes] == [True, False]
    assert len(outcomes[0].available) == 1
    assert outcomes[1].available == ()


def test_variables_use_the_recorded_jids(tmp_path: Path) -> None:
    path = write_recording(
        tmp_path,
        [
            {"verb": "sends", "xml": "<presence/>"},
            {"verb": "receives", "template": '<message to="${Romeo\'s full JID}"/>'},
            {"verb": "receives", "template": '<message to="${Romeo\'s JID}"/>'},
        ],
        [(0, message("one"))],
    )
    assert [outcome.ok for outcome in replay_file(path)] == [True, False]


@pytest.mark.parametrize(
    "nothing",
    [{"verb": "receives nothing"}, {"verb": "receives", "template": "nothing"}],
    ids=["verb", "template"],
)
def test_receives_nothing_looks_back_one_step(tmp_path: Path, nothing: dict[str, str]) -> None:
    path = write_recording(
        tmp_path,
        [
            {"verb": "sends", "xml": "<presence/>"},
            {"verb": "sends", "xml": "<presence/>"},
            nothing,
            {"verb": "sends", "xml": "<presence/>"},
            nothing,
        ],
        [(0, message("leftover")), (3, message("provoked"))],
    )
    outcomes = replay_file(path)
    assert [outcome.ok for outcome in outcomes] == [True, False]
    assert "provoked" in outcomes[1].explanation


def test_unknown_actor_in_a_template_is_a_clear_error(tmp_path: Path) -> None:
    path = write_recording(
        tmp_path,
        [{"verb": "receives", "template": '<message from="${Tybalt\'s JID}"/>'}],
        [],
    )
    with pytest.raises(RecordingError, match="no recorded JID for actor 'Tybalt'"):
        replay(load_recording(path))
