"""Hand-made results shared by the report tests: one actor's steps with chosen outcomes."""

from __future__ import annotations

from harness.results import Status, StepResult

ACTIONS = ("connects", "sends", "receives", "disconnects")


def romeo_steps(
    *statuses: Status, received: str, first_line: int, line_gap: int, duration_s: float
) -> tuple[StepResult, ...]:
    """Romeo connects, sends, receives and disconnects, one step per status given; a
    `receives` step that passed holds `received`."""
    return tuple(
        StepResult(
            i,
            first_line + line_gap * i,
            "Romeo",
            ACTIONS[i],
            status,
            duration_s,
            received=(received,) if ACTIONS[i] == "receives" and status is Status.PASSED else (),
        )
        for i, status in enumerate(statuses)
    )
