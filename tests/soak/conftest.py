"""`--soak-long` (or SCANSION_SOAK_SECONDS) turns the CI soak into a long one."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak-long",
        action="store_true",
        help="run the soak for 600 s instead of the CI profile (SCANSION_SOAK_SECONDS overrides)",
    )
