"""SASL mechanisms for XMPP: PLAIN (RFC 4616) and SCRAM-SHA-1/SHA-256 (RFC 5802, RFC 7677).

Client and server sides live together so they are tested against each other and
against the RFC test vectors. No channel binding: the client sends the `n,,`
header and the server never offers the -PLUS variants.

Strings are prepared with "saslprep-lite" instead of full RFC 4013 SASLprep:
non-ASCII spaces become U+0020, characters RFC 3454 maps to nothing are removed,
then NFKC; control characters are refused. This equals SASLprep for every name
and password a test would use, without a stringprep table walk.

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
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

MECHANISMS_BY_STRENGTH = ("SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN")
MIN_ITERATIONS = 1
# A server asking for more makes every login a CPU burn; refuse rather than hang.
MAX_ITERATIONS = 1_000_000
_NONCE_BYTES = 18

_HASHES = {"SHA-1": "sha1", "SHA-256": "sha256", "SHA1": "sha1", "SHA256": "sha256"}
# RFC 3454 table B.1: "commonly mapped to nothing".
_MAPPED_TO_NOTHING = dict.fromkeys(
    [
        0xAD,
        0x34F,
        0x1806,
        0x180B,
        0x180C,
        0x180D,
        0x200B,
        0x200C,
        0x200D,
        0x2060,
        0xFEFF,
        *range(0xFE00, 0xFE10),
    ]
)


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
    """The hashlib name for "SHA-1"/"SHA-256", also accepting "SCRAM-SHA-256" or "sha256"."""
    key = name.upper().removeprefix("SCRAM-")
    if key in _HASHES:
        return _HASHES[key]
    if name.lower() in _HASHES.values():
        return name.lower()
    raise ValueError(f"unsupported SCRAM hash {name!r} (use SHA-1 or SHA-256)")


def saslprep(text: str) -> str:
    """Prepare a username or password (see the module docstring for what is left out)."""
    mapped = "".join(" " if ch != " " and unicodedata.category(ch) == "Zs" else ch for ch in text)
    prepared = unicodedata.normalize("NFKC", mapped.translate(_MAPPED_TO_NOTHING))
    if any(unicodedata.category(ch) == "Cc" for ch in prepared):
        raise SaslFailure("malformed-request", "control characters are not allowed")
    return prepared


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


def _hmac(hash_name: str, key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hash_name).digest()


def _xor(left: bytes, right: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(left, right, strict=True))


@lru_cache(maxsize=64)
def _salted_password(hash_name: str, password: bytes, salt: bytes, iterations: int) -> bytes:
    # Cached: a scenario logs the same accounts in again and again, and PBKDF2
    # is by design the slowest step of a connection.
    return hashlib.pbkdf2_hmac(hash_name, password, salt, iterations)


def _keys(hash_name: str, salted: bytes) -> tuple[bytes, bytes, bytes]:
    client_key = _hmac(hash_name, salted, b"Client Key")
    stored_key = hashlib.new(hash_name, client_key).digest()
    server_key = _hmac(hash_name, salted, b"Server Key")
    return client_key, stored_key, server_key


def derive_credentials(
    hash_name: str, password: str, salt: bytes, iterations: int
) -> StoredCredentials:
    """Derive what the server stores for `password` (RFC 5802 section 3)."""
    algo = hash_for(hash_name)
    salted = _salted_password(algo, saslprep(password).encode("utf-8"), salt, iterations)
    _, stored_key, server_key = _keys(algo, salted)
    return StoredCredentials(salt, iterations, stored_key, server_key)


_FAKE_SALT_KEY = os.urandom(32)


def _fake_salt(username: str) -> bytes:
    """A salt for an unknown user that stays the same across attempts, like a real one."""
    return _hmac("sha256", _FAKE_SALT_KEY, username.encode("utf-8"))[:16]


def _new_nonce() -> str:
    return base64.b64encode(os.urandom(_NONCE_BYTES)).decode("ascii")


def _escape_name(name: str) -> str:
    return name.replace("=", "=3D").replace(",", "=2C")


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


def _decode_text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SaslFailure("incorrect-encoding", "SCRAM message is not UTF-8") from None


class ScramClient:
    """Client side of one SCRAM exchange: first_message, final_message, verify."""

    def __init__(
        self, hash_name: str, username: str, password: str, *, nonce: str | None = None
    ) -> None:
        self.hash_name = hash_for(hash_name)
        self._username = saslprep(username)
        self._password = saslprep(password)
        self._nonce = nonce or _new_nonce()
        self._gs2_header = "n,,"
        self._first_bare = f"n={_escape_name(self._username)},r={self._nonce}"
        self._server_signature: bytes | None = None

    def first_message(self) -> bytes:
        return f"{self._gs2_header}{self._first_bare}".encode()

    def final_message(self, server_first: bytes) -> bytes:
        """Answer the server's challenge with our proof; SaslFailure if it is malformed."""
        text = _decode_text(server_first)
        attrs = _attributes(text, "rsi")
        nonce, salt_b64, iterations_text = attrs["r"], attrs["s"], attrs["i"]
        if not nonce.startswith(self._nonce) or len(nonce) == len(self._nonce):
            raise SaslFailure("malformed-request", "server nonce does not extend ours")
        salt = b64decode(salt_b64)
        if not iterations_text.isdigit():
            raise SaslFailure("malformed-request", f"bad iteration count {iterations_text!r}")
        iterations = int(iterations_text)
        if not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
            raise SaslFailure("malformed-request", f"iteration count {iterations} out of range")
        salted = _salted_password(self.hash_name, self._password.encode(), salt, iterations)
        client_key, stored_key, server_key = _keys(self.hash_name, salted)
        channel = base64.b64encode(self._gs2_header.encode()).decode("ascii")
        final_bare = f"c={channel},r={nonce}"
        auth_message = f"{self._first_bare},{text},{final_bare}".encode()
        proof = _xor(client_key, _hmac(self.hash_name, stored_key, auth_message))
        self._server_signature = _hmac(self.hash_name, server_key, auth_message)
        return f"{final_bare},p={base64.b64encode(proof).decode('ascii')}".encode()

    def verify(self, server_final: bytes) -> None:
        """Check the server proved it knows the password; SaslFailure otherwise."""
        if self._server_signature is None:
            raise SaslFailure("malformed-request", "server-final before client-final")
        text = _decode_text(server_final)
        if text.startswith("e="):
            raise SaslFailure(text[2:] or "not-authorized", "server rejected the proof")
        attrs = _attributes(text, "v")
        if not hmac.compare_digest(b64decode(attrs["v"]), self._server_signature):
            raise SaslFailure("not-authorized", "server signature mismatch")


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
