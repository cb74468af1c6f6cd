"""Who may log in: test mode (anyone, any password) or a fixed set of accounts.

Test mode offers only PLAIN: a SCRAM exchange needs a stored secret to prove,
and scripts log in with arbitrary passwords. With accounts, SCRAM credentials
are derived once per account and hash (PBKDF2 is the slow part of a login).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from functools import cache

from protocol.sasl import StoredCredentials, derive_credentials

SCRAM_ITERATIONS = 4096


class Accounts:
    def __init__(self, passwords: dict[str, str] | None) -> None:
        self._passwords = passwords
        self._salt = os.urandom(16)
        self.mechanisms: tuple[str, ...] = (
            ("PLAIN",) if passwords is None else ("SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN")
        )

    @property
    def test_mode(self) -> bool:
        return self._passwords is None

    def exists(self, local: str) -> bool:
        return self._passwords is None or local in self._passwords

    def register(self, local: str, password: str) -> bool:
        """Create an account (XEP-0077); False when the name is taken. Test mode: always True."""
        if self._passwords is None:
            return True
        if local in self._passwords:
            return False
        self._passwords[local] = password
        Accounts._credentials.cache_clear()  # a lookup before registering cached "unknown"
        return True

    def check_plain(self, local: str, password: str) -> bool:
        if self._passwords is None:
            return True
        expected = self._passwords.get(local)
        return expected is not None and hmac.compare_digest(
            expected.encode("utf-8"), password.encode("utf-8")
        )

    def scram_lookup(self, hash_name: str) -> Callable[[str], StoredCredentials | None]:
        """The `lookup(username)` ScramServer wants, for one hash."""
        return lambda local: self._credentials(hash_name, local.lower())

    @cache  # noqa: B019 - one Accounts per server; the cache lives exactly as long
    def _credentials(self, hash_name: str, local: str) -> StoredCredentials | None:
        if self._passwords is None or local not in self._passwords:
            return None
        return derive_credentials(hash_name, self._passwords[local], self._salt, SCRAM_ITERATIONS)
