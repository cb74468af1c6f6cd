"""`receives: nothing` with the target's default quiet period still catches what arrives.

On the embedded server the quiet period is short because a ping round trip
first proves that everything sent so far was processed; these scripts make a
stanza arrive for the listening actor from itself and from another actor.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from harness.parser import parse_text
from harness.results import Status
from harness.runner import RunOptions, run_on_target
from harness.targets import EMBEDDED_QUIET_PERIOD, parse_target

HEADER = """# quiet period

[Client] Romeo
\tjid: romeo@localhost
\tpassword: password

[Client] Juliet
\tjid: juliet@localhost
\tpassword: password

-----

Romeo connects

Juliet connects

"""

FROM_ANOTHER_ACTOR = """Juliet sends:
\t<message to="${Romeo's full JID}" type="chat"><body>psst</body></message>

Romeo receives: nothing
"""

FROM_ITSELF = """Romeo sends:
\t<message to="${Romeo's full JID}" type="chat"><body>echo</body></message>

Romeo receives: nothing
"""

NOTHING_SENT = """Juliet sends:
\t<message to="${Juliet's full JID}" type="chat"><body>to herself</body></message>

Romeo receives: nothing
"""


def run(body: str) -> tuple[Status, int | None, float]:
    script = parse_text(HEADER + body, Path("quiet.scs"))
    result = asyncio.run(run_on_target(script, parse_target("reference"), RunOptions()))
    line = result.failure.line if result.failure else None
    return result.status, line, result.duration_s


@pytest.mark.parametrize("body", [FROM_ANOTHER_ACTOR, FROM_ITSELF], ids=["another", "itself"])
def test_a_stanza_for_the_listening_actor_fails_the_step(body: str) -> None:
    status, line, _ = run(body)
    assert status is Status.FAILED
    assert line == HEADER.count("\n") + 4  # the `receives: nothing` line


def test_nothing_for_the_listening_actor_passes_after_the_short_default() -> None:
    status, _, duration = run(NOTHING_SENT)
    assert status is Status.PASSED
    assert duration >= EMBEDDED_QUIET_PERIOD
