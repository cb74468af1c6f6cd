"""`--differential-sessions N` (or SCANSION_DIFFERENTIAL_SESSIONS): a long differential run."""

from __future__ import annotations

import os

import pytest

CI_SESSIONS = 3
SECONDS_PER_SESSION = 15.0  # recording, two replays, on two busy cores


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--differential-sessions",
        type=int,
        default=None,
        metavar="N",
        help=f"random MUC sessions to check against Prosody (default {CI_SESSIONS})",
    )


def session_count(config: pytest.Config) -> int:
    if "SCANSION_DIFFERENTIAL_SESSIONS" in os.environ:
        return int(os.environ["SCANSION_DIFFERENTIAL_SESSIONS"])
    return config.getoption("--differential-sessions") or CI_SESSIONS


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A long run outlasts the suite's per-test timeout: give it its own."""
    limit = 120.0 + session_count(config) * SECONDS_PER_SESSION
    for item in items:
        if item.path.parent.name == "differential":
            item.add_marker(pytest.mark.timeout(limit))


@pytest.fixture(scope="session")
def differential_sessions(request: pytest.FixtureRequest) -> int:
    return session_count(request.config)
