"""What a reference server instance is: its names, its listener, its limits, its accounts.

Filled from CLI flags or a TOML file (`load_config`). The defaults give the test
mode scripts expect: host `localhost`, MUC at `conference.localhost`, any user
with any password over PLAIN, an ephemeral port on loopback.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from protocol.xmlstream import DEFAULT_MAX_STANZA_BYTES
from reference.contact_info import KINDS


class ConfigError(Exception):
    """A configuration or accounts file the server cannot use; the message says how to fix it."""


@dataclass
class ServerConfig:
    domain: str = "localhost"
    muc_host: str | None = "conference.localhost"
    admins: frozenset[str] = frozenset({"admin@localhost"})
    host: str = "127.0.0.1"
    port: int = 0  # 0: the system picks a free port (read it back from server.port)
    # TLS: STARTTLS is offered unless disabled; a self-signed certificate for
    # `domain` is made on first use when none is configured.
    starttls: bool = True
    require_tls: bool = False
    direct_tls_port: int | None = None  # None: no direct-TLS listener; 0: ephemeral
    certificate: Path | None = None
    private_key: Path | None = None
    # Limits that keep one hostile stream from hurting the others.
    max_stanza_bytes: int = DEFAULT_MAX_STANZA_BYTES
    max_unauthenticated_bytes: int = 64 * 1024
    max_write_buffer_bytes: int = 32 * 1024 * 1024
    # A stream must be authenticated and bound within this many seconds of the
    # TCP connect: slow or idle peers cannot hold sockets and parsers forever.
    negotiation_timeout: float = 30.0
    # Fairness: stanzas one connection may have handled per event-loop turn
    # before the others get theirs (its socket is not read in the meantime).
    max_stanzas_per_turn: int = 32
    # Per-connection rate limit on what a client sends, in bytes a second with
    # a burst (Prosody's mod_limits); 0: unlimited (the embedded target).
    # `scansion-py serve` turns it on (SERVE_LIMITS).
    c2s_rate_bytes: int = 0
    c2s_burst_bytes: int = 0
    # Failed logins: a connection gets this many attempts before its stream is
    # closed; a source address gets `auth_failures_per_address` a window
    # (0: no per-address limit).
    max_auth_failures_per_connection: int = 3
    auth_failures_per_address: int = 0
    auth_failure_window: float = 60.0
    # None: test mode, any user logs in with any password (PLAIN only).
    # A mapping localpart -> password: real checking, SCRAM offered.
    accounts: dict[str, str] | None = None
    # XEP-0077: clients may create accounts before they log in (offered as a
    # stream feature); with `accounts`, a taken name is a conflict.
    allow_registration: bool = False
    database: Path | None = None
    log_stanzas: bool = False
    # XEP-0157 addresses (kind -> URIs) that the server and its MUC service add
    # to disco#info; the default is what the Prosody test configuration announces.
    contact_info: dict[str, list[str]] = field(default_factory=lambda: dict(TEST_CONTACT_INFO))


TEST_CONTACT_INFO: dict[str, list[str]] = {
    "abuse": ["mailto:abuse@localhost", "xmpp:abuse@localhost"],
    "admin": ["mailto:admin@localhost", "xmpp:admin@localhost"],
    "feedback": [
        "http://localhost/feedback.html",
        "mailto:feedback@localhost",
        "xmpp:feedback@localhost",
    ],
    "sales": ["xmpp:sales@localhost"],
    "security": ["xmpp:security@localhost"],
    "status": ["gopher://status.localhost"],
    "support": ["https://localhost/support.html", "xmpp:support@localhost"],
}


_PATH_KEYS = {"certificate", "private_key", "database"}

# What `scansion-py serve` adds to the defaults: a server people connect to
# gets rate and login limits (Prosody's example configuration: 10 kB/s, 25 kB burst).
SERVE_LIMITS: dict[str, Any] = {
    "c2s_rate_bytes": 10 * 1024,
    "c2s_burst_bytes": 25 * 1024,
    "auth_failures_per_address": 10,
}


def load_accounts(path: Path, domain: str) -> dict[str, str]:
    """Read `user = "password"` lines (TOML); keys may be localparts or `user@domain`."""
    table = _read_toml(path)
    accounts: dict[str, str] = {}
    for key, password in table.items():
        if not isinstance(password, str):
            raise ConfigError(f"{path}: the password of {key!r} must be a string")
        local, at, host = key.partition("@")
        if at and host.lower() != domain:
            raise ConfigError(f"{path}: account {key!r} is not on this server's domain {domain!r}")
        if not local:
            raise ConfigError(f"{path}: account names must not be empty")
        accounts[local.lower()] = password
    return accounts


def load_config(path: Path, defaults: dict[str, Any] | None = None) -> ServerConfig:
    """Build a ServerConfig from a TOML file whose keys are ServerConfig's field names.

    `accounts_file = "accounts.toml"` (relative to the config file) loads accounts;
    `muc_host = ""` disables the MUC service."""
    table = _read_toml(path)
    known = {f.name for f in fields(ServerConfig)} - {"accounts"}
    config = ServerConfig(**(defaults or {}))
    accounts_file = table.pop("accounts_file", None)
    for key, value in table.items():
        if key not in known:
            raise ConfigError(
                f"{path}: unknown setting {key!r} (known: {', '.join(sorted(known))})"
            )
        if key in _PATH_KEYS and value is not None:
            value = (path.parent / value).resolve()
        elif key == "admins":
            value = frozenset(value)
        elif key == "muc_host" and value == "":
            value = None
        elif key == "contact_info":
            value = _contact_info(path, value)
        setattr(config, key, value)
    if accounts_file is not None:
        config.accounts = load_accounts((path.parent / accounts_file).resolve(), config.domain)
    return config


def _contact_info(path: Path, table: object) -> dict[str, list[str]]:
    """`[contact_info]` with `kind = ["uri", ...]` entries, kinds as XEP-0157 names them."""
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: contact_info must be a table of address lists")
    unknown = sorted(set(table) - set(KINDS))
    if unknown:
        raise ConfigError(
            f"{path}: unknown contact_info kind {unknown[0]!r} (known: {', '.join(KINDS)})"
        )
    if not all(
        isinstance(uris, list) and all(isinstance(u, str) for u in uris) for uris in table.values()
    ):
        raise ConfigError(f"{path}: each contact_info entry must be a list of URI strings")
    return {kind: list(uris) for kind, uris in table.items()}


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
