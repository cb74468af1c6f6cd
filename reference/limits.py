"""Limits that keep one client from starving or hammering the others.

- `TokenBucket`: a rate with a burst, as Prosody's util.throttle. The stanza
  rate limit spends the bytes a connection sends (Prosody's mod_limits: the
  connection stops being read until its balance is positive again; nothing is
  dropped), and failed logins spend one token each per source address.
- `AuthFailures`: failed authentications per source address; an address over
  its allowance gets `temporary-auth-failure` without its password being
  checked, until the bucket refills.
- `Tally`: counts frequent events (streams timed out, logins refused) and logs
  one line a second at most, so a mass disconnect never waits on the log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable

# Per-address records kept at most; past it, addresses whose bucket refilled are forgotten.
_MAX_ADDRESSES = 10_000


class TokenBucket:
    """`rate` units a second accrue, up to `burst`; spending may go into debt."""

    __slots__ = ("balance", "burst", "clock", "rate", "stamp")

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.balance = burst
        self.stamp = clock()

    def spend(self, amount: float) -> float:
        """Take `amount`; the seconds until the balance is back to zero (0.0: not in debt)."""
        now = self.clock()
        self.balance = min(self.burst, self.balance + (now - self.stamp) * self.rate) - amount
        self.stamp = now
        return 0.0 if self.balance >= 0 else -self.balance / self.rate

    @property
    def full(self) -> bool:
        return self.balance + (self.clock() - self.stamp) * self.rate >= self.burst


class AuthFailures:
    """At most `allowed` failed logins per source address per `window` seconds."""

    def __init__(self, allowed: int, window: float, tally: Tally) -> None:
        self.allowed, self.window, self.tally = allowed, window, tally
        self._buckets: dict[str, TokenBucket] = {}

    def blocked(self, address: str) -> bool:
        if self.allowed <= 0:
            return False
        bucket = self._buckets.get(address)
        if bucket is None:
            return False
        bucket.spend(0)  # brings the balance up to date
        blocked = bucket.balance < 1
        if blocked:
            self.tally.count(f"logins refused unchecked from {address} (too many failures)")
        return blocked

    def failed(self, address: str, username: str) -> None:
        """Record (and log, at most once a second per address) one failed login."""
        self.tally.count(f"failed logins from {address} (last tried: {username or '?'})")
        if self.allowed <= 0:
            return
        bucket = self._buckets.get(address)
        if bucket is None:
            if len(self._buckets) >= _MAX_ADDRESSES:
                self._forget_refilled()
            bucket = self._buckets[address] = TokenBucket(self.allowed / self.window, self.allowed)
        bucket.spend(1)

    def _forget_refilled(self) -> None:
        for address in [a for a, bucket in self._buckets.items() if bucket.full]:
            del self._buckets[address]


class Tally:
    """Log how often each event happened, one line per event kind a second at most."""

    def __init__(self, logger: logging.Logger, level: int = logging.INFO) -> None:
        self.logger, self.level = logger, level
        self._counts: Counter[str] = Counter()
        self._flush: asyncio.TimerHandle | None = None

    def count(self, what: str) -> None:
        self._counts[what] += 1
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(1.0, self.flush)

    def flush(self) -> None:
        self._flush = None
        counts, self._counts = self._counts, Counter()
        for what, times in counts.items():
            self.logger.log(self.level, "%d x %s", times, what)

    def close(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
        self.flush()
