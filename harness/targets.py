"""Where a run connects: a target string turned into endpoints.

A target says where to connect; its profile (harness.profile) says what the
server is called (`${domain}`, `${muc}`) and how actors get accounts. Forms:

- `HOST:PORT` (plain TCP, STARTTLS as `--tls` says), `[::1]:PORT` for IPv6;
- `tls://HOST:PORT` (direct TLS, XEP-0368 style);
- `reference` (a fresh embedded reference server for every script, so scripts
  never see each other's state and may run concurrently), or the name of any
  other embedded server registered under the `scansion_py.targets` entry-point
  group;
- `NAME=ADDRESS` (any of the above, labelled NAME in reports).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, replace
from importlib.metadata import entry_points

from harness.profile import LOCALHOST, Profile
from protocol.endpoint import Endpoint

REFERENCE = "reference"
TARGET_ENTRY_POINTS = "scansion_py.targets"
_FORMS = "HOST:PORT, tls://HOST:PORT, reference, or NAME=ADDRESS"
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


class TargetError(ValueError):
    """A target string that names no usable endpoint; the message says what to write."""


EmbeddedServer = Callable[..., AbstractAsyncContextManager[Endpoint]]
"""What a registered target provides: a fresh server per call, alive inside the block.

It is called with keyword arguments `domain` and `muc`: the names the profile
gives, which the server must serve."""


def embedded_target_names() -> list[str]:
    """Names registered under the `scansion_py.targets` entry-point group."""
    return sorted(entry.name for entry in entry_points(group=TARGET_ENTRY_POINTS))


def load_embedded(name: str) -> EmbeddedServer:
    """The server factory registered as NAME; TargetError when nothing is registered so."""
    found = entry_points(group=TARGET_ENTRY_POINTS, name=name)
    if not found:
        raise TargetError(
            f"no embedded target named {name!r} is registered "
            f"(entry-point group {TARGET_ENTRY_POINTS}); is scansion-py installed?"
        )
    factory: EmbeddedServer = next(iter(found)).load()
    return factory


REMOTE_QUIET_PERIOD = 1.0
EMBEDDED_QUIET_PERIOD = 0.2


@dataclass(frozen=True)
class Target:
    """A parsed target. `host`/`port` are unused for the embedded reference server."""

    label: str
    host: str = ""
    port: int = 0
    direct_tls: bool = False
    embedded: bool = False
    provider: str = REFERENCE
    profile: Profile = LOCALHOST

    @property
    def quiet_period(self) -> float:
        """How long `receives: nothing` listens by default, after a ping round trip.

        The embedded server routes synchronously: once the actor's ping is
        answered, whatever earlier steps made it send has already arrived, so a
        short margin is enough. A remote server may defer work (storage,
        timers), so it gets the original tool's full second."""
        return EMBEDDED_QUIET_PERIOD if self.embedded else REMOTE_QUIET_PERIOD

    @property
    def independent(self) -> bool:
        """True when every script gets its own server, so scripts may run concurrently."""
        return self.embedded

    @asynccontextmanager
    async def endpoint(self) -> AsyncIterator[Endpoint]:
        """Where one script connects; an embedded target gives a server alive for the block."""
        if not self.embedded:
            yield Endpoint(self.host, self.port, self.direct_tls)
            return
        factory = load_embedded(self.provider)
        async with factory(domain=self.profile.domain, muc=self.profile.muc) as endpoint:
            yield endpoint

    def __str__(self) -> str:
        return self.label


def parse_target(text: str) -> Target:
    """Parse a `--target` value; raises TargetError with the accepted forms on bad input."""
    text = text.strip()
    if not text:
        raise TargetError(f"empty target; expected {_FORMS}")
    name, sep, address = text.partition("=")
    if sep:
        if not _NAME.match(name):
            raise TargetError(
                f"bad target name {name!r} in {text!r}: use letters, digits, '.', '_' or '-'"
            )
        if "=" in address:
            raise TargetError(f"bad target {text!r}: only one '=' (NAME=ADDRESS)")
        if not address.strip():
            raise TargetError(f"empty target address after {name}=; expected {_FORMS}")
        target = _parse_address(address.strip(), text)
        return replace(target, label=name)
    return _parse_address(text, text)


def _parse_address(address: str, whole: str) -> Target:
    if address == REFERENCE or address in embedded_target_names():
        return Target(address, embedded=True, provider=address)
    direct_tls = False
    scheme = _SCHEME.match(address)
    if scheme:
        if scheme[1] != "tls":
            raise TargetError(
                f"unknown scheme {scheme[1]!r} in target {whole!r}; "
                f"use HOST:PORT for plain TCP or tls://HOST:PORT for direct TLS"
            )
        direct_tls = True
        address = address[scheme.end() :]
    host, port = _split_host_port(address, whole)
    return Target(whole, host, port, direct_tls)


def _split_host_port(address: str, whole: str) -> tuple[str, int]:
    if address.startswith("["):
        host, bracket, rest = address[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            raise TargetError(f"bad target {whole!r}: write an IPv6 address as [ADDRESS]:PORT")
        port_text = rest[1:]
    else:
        host, colon, port_text = address.rpartition(":")
        if not colon:
            raise TargetError(
                f"target {whole!r} has no port; expected {_FORMS} (e.g. localhost:5222)"
            )
        if ":" in host:
            raise TargetError(f"bad target {whole!r}: write an IPv6 address as [ADDRESS]:PORT")
    if not host:
        raise TargetError(f"target {whole!r} has no host; expected {_FORMS}")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise TargetError(f"bad port {port_text!r} in target {whole!r}: expected 1-65535")
    return host, int(port_text)
