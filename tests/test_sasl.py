"""SASL: RFC test vectors, client/server round trips, and hostile input on the server side."""

from __future__ import annotations

import base64
import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scramp import ScramException
from scramp.utils import saslprep as rfc4013_saslprep

from protocol.sasl import (
    SaslFailure,
    ScramClient,
    ScramServer,
    StoredCredentials,
    b64decode,
    channel_binding,
    choose_mechanism,
    derive_credentials,
    parse_plain,
    plain_message,
    saslprep,
)

# RFC 5802 section 5 (SCRAM-SHA-1) and RFC 7677 section 3 (SCRAM-SHA-256).
VECTORS = {
    "SHA-1": {
        "client_nonce": "fyko+d2lbbFgONRv9qkxdawL",
        "server_nonce": "3rfcNHYJY1ZVvWVs7j",
        "salt": "QSXCR+Q6sek8bf92",
        "client_first": b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
        "server_first": b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
        "client_final": b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
        b"p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
        "server_final": b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
    },
    "SHA-256": {
        "client_nonce": "rOprNGfwEbeRWgbNEkqO",
        "server_nonce": "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        "salt": "W22ZaJ0SNY7soEsUEjb6gQ==",
        "client_first": b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
        "server_first": b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        "client_final": b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        "server_final": b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
    },
}


def _credentials(hash_name: str, password: str = "pencil") -> StoredCredentials:
    salt = base64.b64decode(VECTORS[hash_name]["salt"])
    return derive_credentials(hash_name, password, salt, 4096)


@pytest.mark.parametrize("hash_name", list(VECTORS))
def test_client_reproduces_rfc_vector(hash_name: str) -> None:
    vec = VECTORS[hash_name]
    client = ScramClient(hash_name, "user", "pencil", nonce=vec["client_nonce"])
    assert client.first_message() == vec["client_first"]
    assert client.final_message(vec["server_first"]) == vec["client_final"]
    client.verify(vec["server_final"])


@pytest.mark.parametrize("hash_name", list(VECTORS))
def test_server_reproduces_rfc_vector(hash_name: str) -> None:
    vec = VECTORS[hash_name]
    creds = _credentials(hash_name)
    server = ScramServer(hash_name, {"user": creds}.get, nonce=vec["server_nonce"])
    assert server.first(vec["client_first"]) == vec["server_first"]
    assert server.final(vec["client_final"]) == vec["server_final"]
    assert server.username == "user"
    assert server.authzid is None


@pytest.mark.parametrize("hash_name", ["SHA-1", "SHA-256", "SCRAM-SHA-256", "sha1"])
def test_round_trip(hash_name: str) -> None:
    creds = derive_credentials(hash_name, "s3cr=t,ü", b"salty-salt-salty", 4096)
    server = ScramServer(hash_name, {"jul,iet=": creds}.get)
    client = ScramClient(hash_name, "jul,iet=", "s3cr=t,ü")
    server_first = server.first(client.first_message())
    client.verify(server.final(client.final_message(server_first)))
    assert server.username == "jul,iet="


@pytest.mark.parametrize("hash_name", list(VECTORS))
def test_wrong_password_is_rejected(hash_name: str) -> None:
    server = ScramServer(hash_name, {"user": _credentials(hash_name)}.get)
    client = ScramClient(hash_name, "user", "pen")
    server_first = server.first(client.first_message())
    with pytest.raises(SaslFailure) as err:
        server.final(client.final_message(server_first))
    assert err.value.condition == "not-authorized"
    assert server.username is None


def test_tampered_proof_is_rejected() -> None:
    vec = VECTORS["SHA-1"]
    server = ScramServer("SHA-1", {"user": _credentials("SHA-1")}.get, nonce=vec["server_nonce"])
    server.first(vec["client_first"])
    proof = bytearray(base64.b64decode(vec["client_final"].rsplit(b"p=", 1)[1]))
    proof[0] ^= 1
    forged = vec["client_final"].rsplit(b"p=", 1)[0] + b"p=" + base64.b64encode(bytes(proof))
    with pytest.raises(SaslFailure) as err:
        server.final(forged)
    assert err.value.condition == "not-authorized"


def test_unknown_user_gets_a_stable_challenge_then_fails() -> None:
    def challenge() -> bytes:
        server = ScramServer("SHA-256", lambda _name: None, nonce="N")
        return server.first(b"n,,n=ghost,r=abc")

    first = challenge()
    assert first == challenge(), "the fake salt must not reveal that the user is unknown"
    server = ScramServer("SHA-256", lambda _name: None)
    client = ScramClient("SHA-256", "ghost", "anything")
    server_first = server.first(client.first_message())
    with pytest.raises(SaslFailure) as err:
        server.final(client.final_message(server_first))
    assert err.value.condition == "not-authorized"


def test_client_rejects_forged_server_signature() -> None:
    vec = VECTORS["SHA-256"]
    client = ScramClient("SHA-256", "user", "pencil", nonce=vec["client_nonce"])
    client.final_message(vec["server_first"])
    with pytest.raises(SaslFailure, match="server signature mismatch"):
        client.verify(b"v=" + base64.b64encode(b"\0" * 32))
    with pytest.raises(SaslFailure) as err:
        client.verify(b"e=invalid-proof")
    assert err.value.condition == "invalid-proof"


@pytest.mark.parametrize(
    "server_first",
    [
        b"r=someone-elses-nonce,s=QSXCR+Q6sek8bf92,i=4096",
        b"r=fyko+d2lbbFgONRv9qkxdawL,s=QSXCR+Q6sek8bf92,i=4096",  # not extended
        b"r=fyko+d2lbbFgONRv9qkxdawLX,s=QSXCR+Q6sek8bf92,i=0",
        b"r=fyko+d2lbbFgONRv9qkxdawLX,s=QSXCR+Q6sek8bf92,i=99999999999",
        b"r=fyko+d2lbbFgONRv9qkxdawLX,s=QSXCR+Q6sek8bf92,i=-1",
        b"r=fyko+d2lbbFgONRv9qkxdawLX,s=not base64!,i=4096",
        b"m=ext,r=fyko+d2lbbFgONRv9qkxdawLX,s=QSXCR+Q6sek8bf92,i=4096",
        b"s=QSXCR+Q6sek8bf92,r=fyko+d2lbbFgONRv9qkxdawLX,i=4096",
        b"\xff\xfe",
        b"",
    ],
)
def test_client_rejects_malformed_server_first(server_first: bytes) -> None:
    client = ScramClient("SHA-1", "user", "pencil", nonce="fyko+d2lbbFgONRv9qkxdawL")
    with pytest.raises(SaslFailure):
        client.final_message(server_first)


@pytest.mark.parametrize(
    ("client_first", "condition"),
    [
        (b"", "malformed-request"),
        (b"n,,", "malformed-request"),
        (b"x,,n=user,r=abc", "malformed-request"),
        (b"p=tls-unique,,n=user,r=abc", "malformed-request"),
        (b"n,,r=abc,n=user", "malformed-request"),
        (b"n,,n=us=ZZer,r=abc", "malformed-request"),
        (b"n,,m=x,n=user,r=abc", "malformed-request"),
        (b"n,,n=user,r=", "malformed-request"),
        (b"n,,n=,r=abc", "malformed-request"),
        (b"n,,n=user,r=a\x01b", "malformed-request"),
        (b"n,,n=\xff,r=abc", "incorrect-encoding"),
    ],
)
def test_server_rejects_malformed_client_first(client_first: bytes, condition: str) -> None:
    server = ScramServer("SHA-1", {"user": _credentials("SHA-1")}.get)
    with pytest.raises(SaslFailure) as err:
        server.first(client_first)
    assert err.value.condition == condition


@pytest.mark.parametrize(
    "client_final",
    [
        b"",
        b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j",  # no proof
        b"c=eSws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
        b"c=biws,r=fyko+d2lbbFgONRv9qkxdawLother,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
        b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=!!!",
        b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=AAAA",
        b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,c=biws,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
    ],
)
def test_server_rejects_malformed_client_final(client_final: bytes) -> None:
    vec = VECTORS["SHA-1"]
    server = ScramServer("SHA-1", {"user": _credentials("SHA-1")}.get, nonce=vec["server_nonce"])
    server.first(vec["client_first"])
    with pytest.raises(SaslFailure):
        server.final(client_final)
    assert server.username is None


def test_server_refuses_steps_out_of_order() -> None:
    vec = VECTORS["SHA-1"]
    server = ScramServer("SHA-1", {"user": _credentials("SHA-1")}.get, nonce=vec["server_nonce"])
    with pytest.raises(SaslFailure):
        server.final(vec["client_final"])
    server.first(vec["client_first"])
    with pytest.raises(SaslFailure):
        server.first(vec["client_first"])
    server.final(vec["client_final"])
    with pytest.raises(SaslFailure):
        server.final(vec["client_final"])


def test_server_reports_authzid() -> None:
    creds = derive_credentials("SHA-256", "pw", b"salt", 4096)
    server = ScramServer("SHA-256", {"user": creds}.get, nonce="S")
    server.first(b"n,a=admin@localhost,n=user,r=C")
    assert server.authzid == "admin@localhost"


@settings(max_examples=300, deadline=None)
@given(first=st.binary(max_size=80) | st.text(max_size=80).map(str.encode))
def test_server_never_crashes_on_arbitrary_client_first(first: bytes) -> None:
    server = ScramServer("SHA-1", {"user": _credentials("SHA-1")}.get)
    with contextlib.suppress(SaslFailure):
        server.first(first)


@settings(max_examples=300, deadline=None)
@given(
    final=st.binary(max_size=120)
    | st.text(max_size=60).map(lambda tail: VECTORS["SHA-1"]["client_final"][:60] + tail.encode())
)
def test_server_never_crashes_on_arbitrary_client_final(final: bytes) -> None:
    vec = VECTORS["SHA-1"]
    server = ScramServer("SHA-1", {"user": _credentials("SHA-1")}.get, nonce=vec["server_nonce"])
    server.first(vec["client_first"])
    with pytest.raises(SaslFailure):
        server.final(final)


def test_plain_round_trip_and_errors() -> None:
    assert plain_message("juliet", "pw") == b"\0juliet\0pw"
    assert parse_plain(b"admin@localhost\0juliet\0pw") == ("admin@localhost", "juliet", "pw")
    for bad in (b"", b"juliet\0pw", b"\0\0pw", b"a\0b\0c\0d"):
        with pytest.raises(SaslFailure) as err:
            parse_plain(bad)
        assert err.value.condition == "malformed-request"
    with pytest.raises(SaslFailure) as err:
        parse_plain(b"\0\xff\0pw")
    assert err.value.condition == "incorrect-encoding"


def test_saslprep_lite() -> None:
    assert saslprep("I\u00adX") == "IX"  # soft hyphen mapped to nothing
    assert saslprep("a\u00a0b") == "a b"  # non-ASCII space mapped to space
    assert saslprep("\u2168") == "IX"  # NFKC
    with pytest.raises(SaslFailure):
        saslprep("a\x07b")


def test_strict_base64() -> None:
    assert b64decode("cGVuY2ls") == b"pencil"
    with pytest.raises(SaslFailure) as err:
        b64decode("cGVuY2ls!")
    assert err.value.condition == "incorrect-encoding"


def test_unknown_hash_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported SCRAM hash"):
        ScramClient("MD5", "user", "pencil")


def test_saslprep_is_full_rfc_4013() -> None:
    with pytest.raises(SaslFailure, match="unassigned"):
        saslprep("\u0221")  # assigned after Unicode 3.2, so unassigned for SASLprep
    with pytest.raises(SaslFailure, match="bidi"):
        saslprep("\u0627\u0031")  # right-to-left text must also end right-to-left
    with pytest.raises(SaslFailure):
        ScramClient("SHA-256", "user", "pass\ue000word")  # private use


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=30))
def test_saslprep_shortcut_for_ascii_agrees_with_rfc_4013(text: str) -> None:
    try:
        expected: str | None = rfc4013_saslprep(text)
    except ScramException:
        expected = None
    if expected is None:
        with pytest.raises(SaslFailure):
            saslprep(text)
    else:
        assert saslprep(text) == expected


def test_client_refuses_weak_server_parameters() -> None:
    """RFC 7677 asks for 4096 iterations at least; a short salt is refused too."""
    client = ScramClient("SHA-1", "user", "pencil", nonce="fyko+d2lbbFgONRv9qkxdawL")
    with pytest.raises(SaslFailure, match="4096"):
        client.final_message(b"r=fyko+d2lbbFgONRv9qkxdawLX,s=QSXCR+Q6sek8bf92,i=1000")
    client = ScramClient("SHA-1", "user", "pencil", nonce="fyko+d2lbbFgONRv9qkxdawL")
    with pytest.raises(SaslFailure, match="at least 12 bytes"):
        client.final_message(b"r=fyko+d2lbbFgONRv9qkxdawLX,s=c2FsdA==,i=4096")


def test_client_reports_any_server_error() -> None:
    client = ScramClient("SHA-1", "user", "pencil", nonce="fyko+d2lbbFgONRv9qkxdawL")
    client.final_message(VECTORS["SHA-1"]["server_first"])
    with pytest.raises(SaslFailure) as err:
        client.verify(b"e=account-disabled")
    assert err.value.condition == "account-disabled"


def test_plus_client_binds_the_channel_data() -> None:
    """RFC 5802 section 7: c= carries the GS2 header followed by the binding data."""
    vec = VECTORS["SHA-1"]
    client = ScramClient(
        "SCRAM-SHA-1-PLUS",
        "user",
        "pencil",
        nonce=vec["client_nonce"],
        channel_binding=("tls-unique", b"finished"),
    )
    assert client.first_message() == b"p=tls-unique,," + vec["client_first"][3:]
    final = client.final_message(vec["server_first"])
    assert final.startswith(b"c=" + base64.b64encode(b"p=tls-unique,,finished") + b",r=")
    assert final != vec["client_final"]


def test_plus_needs_channel_binding() -> None:
    with pytest.raises(ValueError, match="needs channel binding"):
        ScramClient("SCRAM-SHA-256-PLUS", "user", "pencil")


def test_binding_client_says_y_and_our_server_accepts_it() -> None:
    """A client that could bind, offered no -PLUS, sends "y"; a server without binding accepts."""
    creds = _credentials("SHA-256")
    server = ScramServer("SHA-256", {"user": creds}.get)
    client = ScramClient("SHA-256", "user", "pencil", channel_binding=("tls-unique", b"data"))
    assert client.first_message().startswith(b"y,,n=user,r=")
    server_first = server.first(client.first_message())
    client.verify(server.final(client.final_message(server_first)))
    assert server.username == "user"


class _TLS:
    """Just what `channel_binding` asks of an ssl.SSLObject."""

    def __init__(self, version: str) -> None:
        self._version = version

    def version(self) -> str:
        return self._version


@pytest.mark.parametrize(
    ("version", "advertised", "expected"),
    [
        ("TLSv1.3", [], "tls-unique"),  # nothing advertised: RFC 5802's default
        ("TLSv1.2", ["tls-server-end-point", "tls-unique"], "tls-unique"),
        ("TLSv1.3", ["tls-unique", "tls-server-end-point"], "tls-server-end-point"),
        ("TLSv1.3", ["tls-exporter", "tls-unique"], "tls-unique"),
        ("TLSv1.3", ["tls-exporter"], None),  # Python cannot export keying material
    ],
)
def test_channel_binding_type(version: str, advertised: list[str], expected: str | None) -> None:
    tls = _TLS(version)
    binding = channel_binding(tls, advertised)  # type: ignore[arg-type]
    assert binding == (None if expected is None else (expected, tls))
    assert channel_binding(None, advertised) is None


def test_choose_mechanism() -> None:
    offered = ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"]
    assert choose_mechanism(offered, can_bind=True) == "SCRAM-SHA-256-PLUS"
    assert choose_mechanism(offered, can_bind=False) == "SCRAM-SHA-256"
    assert choose_mechanism(["SCRAM-SHA-1-PLUS", "PLAIN"], can_bind=False) == "PLAIN"
    assert (
        choose_mechanism(["SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"], can_bind=True) == "SCRAM-SHA-1-PLUS"
    )
    assert choose_mechanism(["SCRAM-SHA-256-PLUS", "DIGEST-MD5"], can_bind=False) is None
