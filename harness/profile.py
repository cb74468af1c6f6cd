"""A target profile: what scripts need to know about one server to run on it.

A TOML file (`--profile FILE`) or CLI flags give the server's address, TLS
choice, XMPP domain, MUC service, how actors get accounts, and facts about the
server that `@needs fact NAME` can ask for:

    name = "example"                      # label in reports
    address = "xmpp.example.org:5222"     # HOST:PORT, tls://HOST:PORT or reference
    tls = "auto"                          # require | auto | off
    insecure = false                      # accept any certificate
    domain = "example.org"                # ${domain}
    muc = "conference.example.org"        # ${muc}

    [accounts]
    mode = "any"                          # any | given | register
    [accounts.actors.Romeo]               # mode "given": an account per actor name
    jid = "romeo@example.org"
    password = "secret"

    [facts]
    registration = true                   # @needs fact registration
    software = "Prosody"                  # strings are shown in reports
    version = "0.12.3"

Account modes: `any` (the default) logs in with the JID and password the script
declares, for servers that accept any password (test set-ups); `register`
first creates that account with in-band registration (XEP-0077), where the
server allows it (an account that exists already is kept); `given` uses the
profile's account for each actor name. The defaults are the localhost
set-up the scripts were written for.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

DEFAULT_DOMAIN = "localhost"


class ProfileError(ValueError):
    """A profile the harness cannot use; the message names the file and the key."""


class AccountMode(StrEnum):
    ANY = "any"
    GIVEN = "given"
    REGISTER = "register"


@dataclass(frozen=True)
class Account:
    jid: str
    password: str


@dataclass(frozen=True)
class Profile:
    """One server as scripts see it. `muc` defaults to `conference.` + the domain."""

    name: str | None = None
    address: str | None = None
    tls: Literal["require", "auto", "off"] | None = None
    insecure: bool | None = None
    domain: str = DEFAULT_DOMAIN
    muc_service: str | None = None
    accounts: AccountMode = AccountMode.ANY
    given: MappingProxyType[str, Account] = field(default_factory=lambda: MappingProxyType({}))
    facts: MappingProxyType[str, bool | str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def muc(self) -> str:
        return self.muc_service or f"conference.{self.domain}"

    def fact(self, name: str) -> bool:
        """Whether the fact holds: true, or a non-empty string."""
        value = self.facts.get(name, False)
        return bool(value) and value != "false"

    def account_for(self, actor: str) -> Account | None:
        """The given account of an actor (mode `given`), or None."""
        return self.given.get(actor)


def load_profile(path: Path) -> Profile:
    """Read a profile file; raises ProfileError naming the file and what is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read the profile: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: not a TOML file: {exc}") from None
    return profile_from(data, str(path))


_STRINGS = ("name", "address", "tls", "domain", "muc")


def profile_from(data: dict[str, Any], where: str) -> Profile:
    known = {*_STRINGS, "insecure", "accounts", "facts"}
    unknown = sorted(set(data) - known)
    if unknown:
        keys = ", ".join(sorted(known))
        raise ProfileError(f"{where}: unknown key {unknown[0]!r}; keys are {keys}")
    values: dict[str, Any] = {}
    for key in _STRINGS:
        if key in data:
            if not isinstance(data[key], str) or not data[key]:
                raise ProfileError(f"{where}: {key} must be a non-empty string")
            values["muc_service" if key == "muc" else key] = data[key]
    if values.get("tls") not in (None, "require", "auto", "off"):
        raise ProfileError(f"{where}: tls must be 'require', 'auto' or 'off'")
    if "insecure" in data:
        if not isinstance(data["insecure"], bool):
            raise ProfileError(f"{where}: insecure must be true or false")
        values["insecure"] = data["insecure"]
    accounts = data.get("accounts", {})
    if not isinstance(accounts, dict):
        raise ProfileError(f"{where}: [accounts] must be a table")
    mode_text = accounts.get("mode", AccountMode.ANY.value)
    try:
        values["accounts"] = AccountMode(mode_text)
    except ValueError:
        raise ProfileError(
            f"{where}: accounts.mode must be 'any', 'given' or 'register', not {mode_text!r}"
        ) from None
    given: dict[str, Account] = {}
    for actor, account in accounts.get("actors", {}).items():
        if not isinstance(account, dict) or not {"jid", "password"} <= set(account):
            raise ProfileError(f"{where}: accounts.actors.{actor} needs jid and password")
        given[actor] = Account(str(account["jid"]), str(account["password"]))
    if values["accounts"] is AccountMode.GIVEN and not given:
        raise ProfileError(f"{where}: accounts.mode 'given' needs [accounts.actors.NAME] tables")
    values["given"] = MappingProxyType(given)
    facts = data.get("facts", {})
    if not isinstance(facts, dict) or not all(isinstance(v, bool | str) for v in facts.values()):
        raise ProfileError(f"{where}: [facts] holds names = true/false or strings")
    values["facts"] = MappingProxyType(dict(facts))
    return Profile(**values)


def with_overrides(profile: Profile, **overrides: Any) -> Profile:
    """The profile with the CLI flags that were given (None: not given) applied."""
    names = {f.name for f in fields(Profile)}
    given = {key: value for key, value in overrides.items() if value is not None}
    if "muc" in given:
        given["muc_service"] = given.pop("muc")
    unknown = set(given) - names
    if unknown:
        raise ProfileError(f"unknown profile field {sorted(unknown)[0]!r}")
    if "facts" in given:
        given["facts"] = MappingProxyType({**profile.facts, **given["facts"]})
    return Profile(**{**{f.name: getattr(profile, f.name) for f in fields(Profile)}, **given})


LOCALHOST = Profile()
"""The set-up scripts were written for: localhost, conference.localhost, any password."""
