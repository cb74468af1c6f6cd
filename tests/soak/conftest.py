"""`--soak-long` (or SCANSION_SOAK_SECONDS) turns the CI soak into a long one."""

from __future__ import annotations

import os

import pytest

CI_SECONDS = 45.0
LONG_SECONDS = 600.0
SETUP_SECONDS = 240.0  # logins, settling, checks and teardown on two busy cores


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak-long",
        action="store_true",
        help="run the soak for 600 s instead of the CI profile (SCANSION_SOAK_SECONDS overrides)",
    )


def soak_seconds(config: pytest.Config) -> float:
    if "SCANSION_SOAK_SECONDS" in os.environ:
        return float(os.environ["SCANSION_SOAK_SECONDS"])
    return LONG_SECONDS if config.getoption("--soak-long", False) else CI_SECONDS


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The suite's per-test timeout would cut a long soak short: give it its own."""
    limit = soak_seconds(config) + SETUP_SECONDS
    for item in items:
        if item.path.parent.name == "soak":
            item.add_marker(pytest.mark.timeout(limit))


@pytest.fixture
def soak_duration(request: pytest.FixtureRequest) -> float:
    """Seconds of load: 45 (CI), 600 with --soak-long, or SCANSION_SOAK_SECONDS."""
    return soak_seconds(request.config)
