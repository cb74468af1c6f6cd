"""Leak checks shared by the client tests: a socket left for the garbage collector fails the test.

Test modules import `no_leaked_sockets` to turn it on for every test they hold (it is autouse).
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def no_leaked_sockets() -> Iterator[None]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, leaks
