"""Each expectation form, step and annotation, on the embedded reference and on Prosody 0.12.3:
a script that passes and one that must fail (or be not applicable), with the reason shown.

The scripts are in tests/forms/ (docs/matching.md points at them); they use fresh
names, so they run on one Prosody without a restart in between.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from harness.parser import parse_file
from harness.reporting import failure_text
from harness.results import RunResult, Status
from harness.runner import RunOptions, run_scripts
from harness.targets import Target, parse_target

FORMS = Path(__file__).with_name("forms")
# answer_contradicts: only a step that fails at once says "answered ... with"; waiting for
# the timeout says "no matching stanza within 2 s".
OPTIONS = RunOptions(timeout=2.0)

# script -> (status, text the failure must show: the reason a user reads)
EXPECTED: dict[str, tuple[Status, str]] = {
    "order_any_pass": (Status.PASSED, ""),
    "order_any_fail": (Status.FAILED, "unexpected child <status code='110'/> (order any)"),
    "one_of_value_pass": (Status.PASSED, ""),
    "one_of_value_fail": (
        Status.FAILED,
        "/message/error/@type: expected one of 'auth', 'wait', received 'cancel'",
    ),
    "one_of_element_pass": (Status.PASSED, ""),
    "one_of_element_fail": (Status.FAILED, "no partner for one of <forbidden/>, <not-allowed/>"),
    "optional_pass": (Status.PASSED, ""),
    "optional_fail": (
        Status.FAILED,
        "/presence/x[muc#user]/item/@affiliation: expected 'none', received 'owner'",
    ),
    "in_order_pass": (Status.PASSED, ""),
    "in_order_fail": (Status.FAILED, "stanza 2 of 3 arrived before stanza 1"),
    "must_not_receive_pass": (Status.PASSED, ""),
    "must_not_receive_fail": (Status.FAILED, "Romeo received a stanza it must not receive"),
    "answer_contradicts": (
        Status.FAILED,
        "the server answered iq 'config1' with 'error', not 'result'",
    ),
    "needs_feature_pass": (Status.PASSED, ""),
    "needs_feature_unmet": (
        Status.NOT_APPLICABLE,
        "does not advertise urn:example:no-such-feature",
    ),
    "needs_fact_unmet": (
        Status.NOT_APPLICABLE,
        "the target profile does not state the fact 'registration'",
    ),
    "needs_config": (
        Status.NOT_APPLICABLE,
        "needs_config.scs:57: Romeo sends\n"
        "the room configuration form has no field 'muc#roomconfig_no_such_field'",
    ),
}


def run_forms(target: Target) -> RunResult:
    scripts = [parse_file(FORMS / f"{name}.scs") for name in EXPECTED]
    return asyncio.run(run_scripts(scripts, target, OPTIONS, jobs=4))


def check(run: RunResult) -> None:
    assert run.unreachable is None, run.unreachable
    seen = {result.path.stem: result for result in run.scripts}
    assert set(seen) == set(EXPECTED)
    for name, (status, reason) in EXPECTED.items():
        result = seen[name]
        assert result.status is status, f"{name}: {failure_text(result)}"
        assert reason in failure_text(result), f"{name}: {failure_text(result)}"


def test_forms_on_the_reference_server() -> None:
    check(run_forms(parse_target("reference")))


def test_every_form_script_is_listed() -> None:
    assert {path.stem for path in FORMS.glob("*.scs")} == set(EXPECTED)


@pytest.mark.prosody
def test_forms_on_prosody(prosody: tuple[str, int]) -> None:
    check(run_forms(parse_target(f"prosody={prosody[0]}:{prosody[1]}")))
