"""SASL mechanisms for XMPP: PLAIN (RFC 4616) and SCRAM-SHA-1/SHA-256 (RFC 5802, RFC 7677).

The client side of SCRAM is the `scramp` library: full RFC 4013 SASLprep,
strict message checks, and channel binding (SCRAM-*-PLUS) with tls-unique or
tls-server-end-point taken from the TLS connection. `ScramClient` adapts it to
bytes and to SaslFailure; `channel_binding` and `choose_mechanism` decide when
to bind. tls-exporter (RFC 9266) is out of reach: Python's ssl module cannot
export keying material.

The server side is written here, because scramp's server refuses an authzid in
the GS2 header (RFC 5802 allows one, XMPP clients send it, Prosody 0.12.3
accepts it). It offers no -PLUS. Both sides prepare strings with scramp's
SASLprep (in `scramp.utils`, outside its documented API: tests/test_sasl.py
pins what it does), and are tested against each other and the RFC vectors.

The server side never raises anything but SaslFailure on bad input, whatever
the bytes, so a hostile client cannot crash it. Secrets are compared in constant
time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import ssl
from collections.abc import Callable, Collection
from dataclasses import dataclass

import scramp
from scramp.utils import ServerError
from scramp.utils import saslprep as rfc4013_saslprep

MECHANISMS_BY_STRENGTH = ("SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN")
PLUS_MECHANISMS_BY_STRENGTH = ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS")
# The types scramp can take from Python's ssl module, by preference up to TLS 1.2.
CHANNEL_BINDING_TYPES = ("tls-unique", "tls-server-end-point")
_NONCE_BYTES = 18

_HASHES = {"SHA-1": "sha1", "SHA-256": "sha256", "SHA1": "sha1", "SHA256": "sha256"}
_SCRAMP_MECHANISMS = {"sha1": "SCRAM-SHA-1", "sha256": "SCRAM-SHA-256"}

ChannelBinding = tuple[str, ssl.SSLObject | bytes]
"""(channel binding type, the TLS connection or the binding data itself)."""


class SaslFailure(Exception):
    """An authentication failure, named by its RFC 6120 section 6.5 condition."""

    def __init__(self, condition: str, text: str = "") -> None:
        super().__init__(f"{condition}: {text}" if text else condition)
        self.condition = condition
        self.text = text


@dataclass(frozen=True, slots=True)
class StoredCredentials:
    """What a server keeps for a SCRAM account (never the password itself)."""

    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes


def hash_for(name: str) -> str:
    """The hashlib name for "SHA-1"/"SHA-256", also accepting "SCRAM-SHA-256(-PLUS)" or "sha256"."""
    key = name.upper().removeprefix("SCRAM-").removesuffix("-PLUS")
    if key in _HASHES:
        return _HASHES[key]
    if name.lower() in _HASHES.values():
        return name.lower()
    raise ValueError(f"unsupported SCRAM hash {name!r} (use SHA-1 or SHA-256)")


def _failure(exc: scramp.ScramException, condition: str, context: str = "") -> SaslFailure:
    """scramp's exception as a SaslFailure, keeping its explanation."""
    if exc.server_error is ServerError.INVALID_ENCODING:
        condition = "incorrect-encoding"
    reason = str(exc.args[0]).rstrip(".")
    return SaslFailure(condition, f"{context} ({reason})" if context else reason)


def saslprep(text: str) -> str:
    """Prepare a username or password (RFC 4013, unassigned code points refused)."""
    if text.isascii() and text.isprintable():
        return text  # unchanged by every SASLprep step; skips a table walk per character
    try:
        return rfc4013_saslprep(text)
    except scramp.ScramException as exc:
        raise _failure(exc, "malformed-request") from None


def plain_message(username: str, password: str, authzid: str = "") -> bytes:
    """The single PLAIN message: `authzid NUL authcid NUL password`."""
    return b"\0".join(part.encode("utf-8") for part in (authzid, saslprep(username), password))


def parse_plain(message: bytes) -> tuple[str, str, str]:
    """Split a PLAIN message into (authzid, username, password) for the server to check."""
    parts = message.split(b"\0")
    if len(parts) != 3 or not parts[1]:
        raise SaslFailure("malformed-request", "PLAIN needs authzid NUL username NUL password")
    try:
        authzid, username, password = (part.decode("utf-8") for part in parts)
    except UnicodeDecodeError:
        raise SaslFailure("incorrect-encoding", "PLAIN message is not UTF-8") from None
    return authzid, saslprep(username), password


def b64decode(data: bytes | str) -> bytes:
    """Strict base64 as XMPP requires; SaslFailure('incorrect-encoding') otherwise."""
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise SaslFailure("incorrect-encoding", "invalid base64") from None


def _decode_text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SaslFailure("incorrect-encoding", "SCRAM message is not UTF-8") from None


def channel_binding(
    tls: ssl.SSLObject | None, advertised: Collection[str] = ()
) -> ChannelBinding | None:
    """How a client binds SCRAM to `tls`; None without TLS or without a type in common.

    `advertised` lists the server's types (XEP-0440). A server that lists none
    gets tls-unique, RFC 5802's mandatory type and the only one Prosody 0.12.3
    and ejabberd 23.01 implement. On TLS 1.3, where tls-unique is undefined
    (RFC 9266), an advertised tls-server-end-point comes first.
    """
    if tls is None:
        return None
    if not advertised:
        return ("tls-unique", tls)
    ranked = CHANNEL_BINDING_TYPES[::-1] if tls.version() == "TLSv1.3" else CHANNEL_BINDING_TYPES
    chosen = next((name for name in ranked if name in advertised), None)
    return None if chosen is None else (chosen, tls)


def choose_mechanism(offered: Collection[str], *, can_bind: bool) -> str | None:
    """The strongest offered mechanism the client supports; -PLUS ones only if it can bind."""
    ranked = (*PLUS_MECHANISMS_BY_STRENGTH, *MECHANISMS_BY_STRENGTH)
    return next((m for m in ranked if m in offered and (can_bind or "-PLUS" not in m)), None)


class ScramClient:
    """Client side of one SCRAM exchange: first_message, final_message, verify.

    `mechanism` names the hash ("SHA-256") or the mechanism; a -PLUS one binds
    the exchange to `channel_binding`. Given channel binding, a mechanism
    without -PLUS sends the GS2 flag "y", so a server that does bind sees that
    someone stripped its -PLUS offer, and fails the login.
    """

    def __init__(
        self,
        mechanism: str,
        username: str,
        password: str,
        *,
        nonce: str | None = None,
        channel_binding: ChannelBinding | None = None,
    ) -> None:
        self.hash_name = hash_for(mechanism)
        plus = mechanism.upper().endswith("-PLUS")
        if plus and channel_binding is None:
            raise ValueError(f"{mechanism} needs channel binding")
        name = _SCRAMP_MECHANISMS[self.hash_name] + ("-PLUS" if plus else "")
        try:
            self._scram = scramp.ScramClient(
                [name], username, password, channel_binding=channel_binding, c_nonce=nonce
            )
            self._first = str(self._scram.get_client_first()).encode()
        except scramp.ScramException as exc:
            raise _failure(exc, "malformed-request") from None

    def first_message(self) -> bytes:
        return self._first

    def final_message(self, server_first: bytes) -> bytes:
        """Answer the server's challenge with our proof; SaslFailure if it is malformed."""
        text = _decode_text(server_first)
        try:
            self._scram.set_server_first(text)
            return str(self._scram.get_client_final()).encode()
        except scramp.ScramException as exc:
            raise _failure(exc, "malformed-request") from None

    def verify(self, server_final: bytes) -> None:
        """Check the server proved it knows the password; SaslFailure otherwise."""
        text = _decode_text(server_final)
        if text.startswith("e="):  # any condition, not just the ones scramp knows
            raise SaslFailure(text[2:] or "not-authorized", "server rejected the proof")
        try:
            self._scram.set_server_final(text)
        except scramp.ScramException as exc:
            raise _failure(exc, "not-authorized", "server signature mismatch") from None


def derive_credentials(
    hash_name: str, password: str, salt: bytes, iterations: int
) -> StoredCredentials:
    """Derive what the server stores for `password` (RFC 5802 section 3)."""
    algo = hash_for(hash_name)
    salted = hashlib.pbkdf2_hmac(algo, saslprep(password).encode("utf-8"), salt, iterations)
    stored_key = hashlib.new(algo, _hmac(algo, salted, b"Client Key")).digest()
    return StoredCredentials(salt, iterations, stored_key, _hmac(algo, salted, b"Server Key"))


def _hmac(hash_name: str, key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hash_name).digest()


def _xor(left: bytes, right: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(left, right, strict=True))


_FAKE_SALT_KEY = os.urandom(32)


def _fake_salt(username: str) -> bytes:
    """A salt for an unknown user that stays the same across attempts, like a real one."""
    return _hmac("sha256", _FAKE_SALT_KEY, username.encode("utf-8"))[:16]


def _new_nonce() -> str:
    return base64.b64encode(os.urandom(_NONCE_BYTES)).decode("ascii")


def _unescape_name(name: str) -> str:
    out, i = [], 0
    while i < len(name):
        if name[i] == "=":
            code = name[i : i + 3]
            if code not in ("=2C", "=3D"):
                raise SaslFailure("malformed-request", "bad escape in SCRAM username")
            out.append("," if code == "=2C" else "=")
            i += 3
        else:
            out.append(name[i])
            i += 1
    return "".join(out)


def _attributes(message: str, required: str) -> dict[str, str]:
    """Parse `k=v,k=v`: single-letter keys, no repeats, starting with `required` in order."""
    attrs: dict[str, str] = {}
    for item in message.split(","):
        key, eq, value = item.partition("=")
        if len(key) != 1 or not eq or not key.isalpha() or key in attrs:
            raise SaslFailure("malformed-request", f"bad SCRAM attribute {item[:20]!r}")
        attrs[key] = value
    if list(attrs)[: len(required)] != list(required):
        raise SaslFailure("malformed-request", f"SCRAM message must start with {required!r}")
    if "m" in attrs:
        raise SaslFailure("malformed-request", "unsupported mandatory SCRAM extension")
    return attrs


class ScramServer:
    """Server side of one SCRAM exchange: `first` answers the client, `final` checks its proof.

    `lookup(username)` returns the stored credentials or None; an unknown user
    gets a plausible challenge and fails at the proof, so accounts cannot be
    probed. After `final` succeeds, `username` and `authzid` say who logged in.
    """

    def __init__(
        self,
        hash_name: str,
        lookup: Callable[[str], StoredCredentials | None],
        *,
        nonce: str | None = None,
    ) -> None:
        self.hash_name = hash_for(hash_name)
        self._lookup = lookup
        self._server_nonce = nonce or _new_nonce()
        self.username: str | None = None
        self.authzid: str | None = None
        # (GS2 header, auth message so far, combined nonce, username, credentials)
        self._state: tuple[str, str, str, str, StoredCredentials | None] | None = None
        self._done = False

    def first(self, client_first: bytes) -> bytes:
        if self._state is not None or self._done:
            raise SaslFailure("malformed-request", "client-first sent twice")
        text = _decode_text(client_first)
        gs2_flag, _, rest = text.partition(",")
        authzid_field, sep, first_bare = rest.partition(",")
        if not sep:
            raise SaslFailure("malformed-request", "missing GS2 header")
        if gs2_flag.startswith("p="):
            raise SaslFailure("malformed-request", "channel binding is not offered")
        if gs2_flag not in ("n", "y"):
            raise SaslFailure("malformed-request", "bad GS2 channel binding flag")
        if authzid_field and not authzid_field.startswith("a="):
            raise SaslFailure("malformed-request", "bad GS2 authzid field")
        attrs = _attributes(first_bare, "nr")
        username = saslprep(_unescape_name(attrs["n"]))
        client_nonce = attrs["r"]
        if not username or not client_nonce or not client_nonce.isprintable():
            raise SaslFailure("malformed-request", "empty username or nonce")
        credentials = self._lookup(username)
        shown = credentials or StoredCredentials(_fake_salt(username), 4096, b"", b"")
        nonce = client_nonce + self._server_nonce
        server_first = (
            f"r={nonce},s={base64.b64encode(shown.salt).decode('ascii')},i={shown.iterations}"
        )
        gs2_header = f"{gs2_flag},{authzid_field},"
        self._state = (gs2_header, f"{first_bare},{server_first}", nonce, username, credentials)
        self.authzid = _unescape_name(authzid_field[2:]) if authzid_field else None
        return server_first.encode()

    def final(self, client_final: bytes) -> bytes:
        """Check the client's proof; return server-final or raise SaslFailure."""
        if self._state is None or self._done:
            raise SaslFailure("malformed-request", "client-final out of order")
        self._done = True
        gs2_header, first_part, nonce, username, credentials = self._state
        text = _decode_text(client_final)
        without_proof, sep, proof_b64 = text.rpartition(",p=")
        if not sep:
            raise SaslFailure("malformed-request", "client proof must come last")
        attrs = _attributes(without_proof, "cr")
        if b64decode(attrs["c"]) != gs2_header.encode():
            raise SaslFailure("malformed-request", "channel binding data does not match")
        if not hmac.compare_digest(attrs["r"].encode(), nonce.encode()):
            raise SaslFailure("malformed-request", "nonce does not match")
        proof = b64decode(proof_b64)
        if credentials is None:
            raise SaslFailure("not-authorized")
        auth_message = f"{first_part},{without_proof}".encode()
        client_signature = _hmac(self.hash_name, credentials.stored_key, auth_message)
        if len(proof) != len(client_signature):
            raise SaslFailure("not-authorized")
        client_key = _xor(proof, client_signature)
        stored_key = hashlib.new(self.hash_name, client_key).digest()
        if not hmac.compare_digest(stored_key, credentials.stored_key):
            raise SaslFailure("not-authorized")
        self.username = username
        signature = _hmac(self.hash_name, credentials.server_key, auth_message)
        return f"v={base64.b64encode(signature).decode('ascii')}".encode()
