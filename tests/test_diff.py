"""The differential view: the first step where two targets' outcomes part, with what
each target delivered there; from hand-made results, then `scansion-py diff` against
the reference server and a real Prosody.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import pytest

from harness.reporting.divergence import NOT_REACHED, first_divergence
from harness.results import Failure, ScriptResult, Status, TrafficEntry
from tests.conftest import ROOT
from tests.support_results import romeo_steps
from tests.test_matrix import ECHO, SOFTWARE, SOFTWARE_RECEIVES_LINE

PATH = Path("specs/x.scs")
MATCHED = '<iq type="result" id="v1"/>'
CLOSEST = '<iq type="error" id="v1"/>'


steps = functools.partial(romeo_steps, received=MATCHED, first_line=10, line_gap=2, duration_s=0.1)


PASSING = ScriptResult(PATH, "X", Status.PASSED, 1.0, steps(*[Status.PASSED] * 4))
FAILING = ScriptResult(
    PATH,
    "X",
    Status.FAILED,
    1.0,
    steps(Status.PASSED, Status.PASSED, Status.FAILED),
    Failure(14, 2, "Romeo", "receives", "no matching stanza", "<iq/>", CLOSEST, "why not", 1),
    traffic=(
        TrafficEntry(0.1, "Romeo", "received", "<message/>", step=1),
        TrafficEntry(0.2, "Romeo", "received", CLOSEST, step=2),
        TrafficEntry(0.3, "Juliet", "received", "<presence/>", step=2),
    ),
)


def test_the_first_step_whose_outcome_differs() -> None:
    divergence = first_divergence(PASSING, FAILING, "a", "b")
    assert divergence is not None
    assert (divergence.step, divergence.line, divergence.actor, divergence.action) == (
        2,
        14,
        "Romeo",
        "receives",
    )
    assert divergence.expected == "<iq/>"
    left, right = divergence.left, divergence.right
    assert (left.target, left.outcome, left.stanzas) == ("a", "passed", (MATCHED,))
    assert (right.target, right.outcome, right.stanzas) == ("b", "failed", (CLOSEST,))
    assert right.explanation == "why not" and right.message == "no matching stanza"
    assert right.received == (CLOSEST,), "only Romeo's stanzas from that step"


def test_sides_keep_their_order() -> None:
    divergence = first_divergence(FAILING, PASSING, "b", "a")
    assert divergence is not None
    assert (divergence.left.outcome, divergence.right.outcome) == ("failed", "passed")


def test_a_step_one_target_never_reached() -> None:
    early = ScriptResult(
        PATH,
        "X",
        Status.ERRORED,
        0.1,
        steps(Status.ERRORED),
        Failure(10, 0, "Romeo", "connects", "refused"),
    )
    divergence = first_divergence(early, FAILING, "a", "b")
    assert divergence is not None and divergence.step == 0
    assert divergence.left.outcome == "errored" and divergence.right.outcome == "passed"
    shorter = ScriptResult(PATH, "X", Status.PASSED, 1.0, steps(Status.PASSED))
    beyond = first_divergence(shorter, PASSING, "a", "b")
    assert beyond is not None and beyond.step == 1
    assert beyond.left.outcome == NOT_REACHED and beyond.right.outcome == "passed"


def test_no_divergence_when_every_step_turns_out_the_same() -> None:
    assert first_divergence(PASSING, PASSING, "a", "b") is None
    assert first_divergence(FAILING, FAILING, "a", "b") is None


def diff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", "diff", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


@pytest.mark.prosody
def test_diff_command_shows_both_targets_at_the_diverging_step(
    prosody: tuple[str, int], tmp_path: Path
) -> None:
    software, echo = tmp_path / "software.scs", tmp_path / "echo.scs"
    software.write_text(SOFTWARE)
    echo.write_text(ECHO)
    done = diff(
        str(echo),
        str(software),
        "--target",
        f"prosody={prosody[0]}:{prosody[1]}",
        "--target",
        "reference",
        "--timeout",
        "1",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert f"same    {echo}  PASS on prosody, PASS on reference" in out
    assert f"differ  {software}  PASS on prosody, FAIL on reference" in out
    assert f"line {SOFTWARE_RECEIVES_LINE}: Romeo receives" in out
    assert "expected:" in out
    header = next(line for line in out.splitlines() if "prosody  passed" in line)
    assert header.index("prosody  passed") < header.index("reference  failed"), "side by side"
    assert "<name>Prosody</name>" in out, "what Prosody sent at that step"
    assert "scansion-py reference server" in out, "what the reference server sent instead"
    assert "1 of 2 scripts diverge between prosody and reference" in out


@pytest.mark.prosody
def test_diff_command_exit_0_when_the_targets_agree(
    prosody: tuple[str, int], tmp_path: Path
) -> None:
    echo = tmp_path / "echo.scs"
    echo.write_text(ECHO)
    done = diff(str(echo), "-t", "reference", "-t", f"prosody={prosody[0]}:{prosody[1]}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 of 1 script diverge between reference and prosody" in done.stdout


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        (["-t", "reference"], "give exactly two --target options (got 1)"),
        (["-t", "reference", "-t", "a=reference", "-t", "b=reference"], "(got 3)"),
        (["-t", "reference", "-t", "reference"], "given twice"),
    ],
)
def test_diff_command_usage_errors(targets: list[str], message: str, tmp_path: Path) -> None:
    echo = tmp_path / "echo.scs"
    echo.write_text(ECHO)
    done = diff(str(echo), *targets)
    assert done.returncode == 2
    assert message in done.stderr
