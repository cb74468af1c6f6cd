"""Where two targets part ways on the same script, and what each one sent there.

A script that passes on one server and fails on another is most useful read at
the first step whose outcome differs: the step both targets were asked to
satisfy, with what each actually delivered side by side. The console diff and
the HTML report both read `first_divergence`.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.results import Mark, ScriptResult, Status, StepResult

NOT_REACHED = "not reached"


@dataclass(frozen=True)
class Side:
    """One target at the diverging step.

    `stanzas`: what decided the step there, i.e. the stanzas a `receives` matched
    or, on a failure, the closest stanza received (or the unexpected one for
    `receives: nothing`); `received`: everything the step's actor received while
    the step ran (with traffic recorded), for context; `marks`: where the closest
    stanza departs from the expected one, as the matcher counted it.
    """

    target: str
    outcome: str  # a Status value, or NOT_REACHED
    message: str
    stanzas: tuple[str, ...]
    explanation: str = ""
    received: tuple[str, ...] = ()
    marks: tuple[Mark, ...] = ()


@dataclass(frozen=True)
class Divergence:
    step: int
    line: int
    actor: str
    action: str
    expected: str | None  # the expected stanza, when a side failed a `receives`
    left: Side
    right: Side

    @property
    def expected_marks(self) -> tuple[Mark, ...]:
        """What the failing side's closest stanza lacks, to mark in the expected one."""
        return tuple(m for side in (self.left, self.right) for m in side.marks)


def first_divergence(
    left: ScriptResult, right: ScriptResult, left_target: str, right_target: str
) -> Divergence | None:
    """The first step whose outcome differs between the two results; None if none does."""
    for index in range(max(len(left.steps), len(right.steps))):
        left_step = _step(left, index)
        right_step = _step(right, index)
        left_outcome = left_step.status.value if left_step else NOT_REACHED
        right_outcome = right_step.status.value if right_step else NOT_REACHED
        if left_outcome == right_outcome:
            continue
        known = left_step or right_step
        assert known is not None  # the loop runs only up to the longer of the two
        expected = next(
            (
                r.failure.expected
                for r in (left, right)
                if r.failure is not None and r.failure.step == index
            ),
            None,
        )
        return Divergence(
            step=index,
            line=known.line,
            actor=known.actor,
            action=known.action,
            expected=expected,
            left=_side(left, left_step, index, left_target),
            right=_side(right, right_step, index, right_target),
        )
    return None


def _step(result: ScriptResult, index: int) -> StepResult | None:
    return result.steps[index] if index < len(result.steps) else None


def _side(result: ScriptResult, step: StepResult | None, index: int, target: str) -> Side:
    if step is None:
        where = f"line {result.failure.line}" if result.failure else "an earlier step"
        return Side(target, NOT_REACHED, f"the script stopped at {where}", ())
    received = tuple(
        entry.text
        for entry in result.traffic
        if entry.step == index and entry.actor == step.actor and entry.direction == "received"
    )
    failure = result.failure
    if step.status is not Status.PASSED and failure is not None and failure.step == index:
        closest = (failure.closest,) if failure.closest is not None else ()
        # `receives nothing`: the one stanza that came is the difference, all of it.
        marks = failure.marks if failure.expected is not None else (Mark("received", ()),)
        return Side(
            target,
            step.status.value,
            failure.message,
            closest,
            failure.explanation,
            received,
            marks if closest else (),
        )
    return Side(target, step.status.value, step.detail, step.received, "", received)
