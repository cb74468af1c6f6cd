"""SCRAM-*-PLUS over TLS against real servers, and the "y" flag against the reference server.

The shared targets log anyone in with PLAIN, so these fixtures start the same
servers with stored SCRAM accounts: ejabberd 23.01 (SCRAM-SHA-256-PLUS over
TLS 1.2 and 1.3, tls-unique) and Prosody 0.12.3 limited to TLS 1.2, the only
version on which it offers SCRAM-SHA-1-PLUS (tls-unique). Each has one account,
juliet / pencil. Forged binding data and a stripped -PLUS offer must fail: they
prove the binding is really sent and checked.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import harness.client
from harness.client import AuthFailed, Client, TLSMode
from protocol.sasl import ChannelBinding
from reference.config import ServerConfig
from reference.server import ReferenceServer
from tests.conftest import SHARED, _start_real_server, free_port
from tests.support_leaks import no_leaked_sockets  # noqa: F401 (autouse)
from tests.test_client import LOOPS, OPEN_CLIENTS, Recorder, run

ACCOUNT = ("juliet", "pencil")


def _edit(text: str, pattern: str, replacement: str) -> str:
    edited, count = re.subn(pattern, replacement, text, count=1, flags=re.MULTILINE)
    if count != 1:
        pytest.fail(f"the shared server configuration no longer contains {pattern!r}")
    return edited


@pytest.fixture(scope="module")
def ejabberd_scram(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """The shared ejabberd target, with stored SCRAM-SHA-256 accounts instead of extauth."""
    source = SHARED / "ejabberd"
    if not (source / "ejabberd-target").exists():
        pytest.skip(f"{source / 'ejabberd-target'} is absent")
    here = tmp_path_factory.mktemp("ejabberd-scram")
    shutil.copy(source / "ejabberd-target", here)
    shutil.copy(source / "extauth", here)
    config = (source / "ejabberd.yml").read_text()
    config = _edit(
        config,
        r"^auth_method: \[external\]$",
        "auth_method: [internal]\nauth_password_format: scram\nauth_scram_hash: sha256",
    )
    config = _edit(config, r"^disable_sasl_mechanisms: .*$", "disable_sasl_mechanisms: []")
    (here / "ejabberd.yml").write_text(config)
    server = _start_real_server(here / "ejabberd-target", "ejabberd")
    host, port = next(server)
    try:
        # The start script keeps its state and node name under these names.
        state = Path(f"/tmp/ejabberd-target-{port}")
        options = ["--config-dir", state, "--config", state / "ejabberd.yml"]
        options += ["--ctl-config", state / "ejabberdctl.cfg", "--logs", state / "logs"]
        options += ["--spool", state / "db", "--node", f"ejabberd-target-{port}@localhost"]
        register = ["ejabberdctl", *map(str, options), "register", ACCOUNT[0], "localhost"]
        subprocess.run([*register, ACCOUNT[1]], check=True, capture_output=True, timeout=60)
        yield host, port
    finally:
        server.close()


def _wait_until_listening(port: int, log: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)  # polls the daemon's port, bounded by the deadline
    tail = log.read_text()[-2000:] if log.exists() else "no log"
    pytest.fail(f"Prosody did not listen on {port}:\n{tail}")


@pytest.fixture(scope="module")
def prosody_scram_tls12() -> Iterator[tuple[str, int]]:
    """The oracle's Prosody 0.12.3 configuration with hashed accounts and TLS 1.2 only."""
    source = SHARED / "prosody" / "prosody.cfg.lua"
    if not source.exists():
        pytest.skip(f"{source} is absent")
    if shutil.which("prosodyctl") is None or shutil.which("openssl") is None:
        pytest.skip("prosodyctl or openssl is not installed")
    config = source.read_text()
    config = _edit(config, r'^authentication = "insecure"$', 'authentication = "internal_hashed"')
    config = _edit(config, r"^insecure_open_authentication = .*$", "")
    config = _edit(config, r'^storage = "memory"$', 'storage = "internal"')
    config = _edit(config, r'"saslauth";', '"saslauth"; "tls";')
    config = _edit(config, r"^certificates = state_dir$", r"\g<0>\nssl = { protocol = 'tlsv1_2' }")
    state = Path(tempfile.mkdtemp(prefix="scansion-prosody-scram-"))
    port = free_port()
    env = {**os.environ, "ORACLE_DIR": str(state), "ORACLE_PORT": str(port)}
    ctl = ["prosodyctl", "--config", str(state / "prosody.cfg.lua")]
    try:
        (state / "data").mkdir()
        (state / "prosody.cfg.lua").write_text(config)
        openssl = "openssl req -x509 -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1"
        certificate = [
            "-keyout",
            str(state / "localhost.key"),
            "-out",
            str(state / "localhost.crt"),
        ]
        subprocess.run(
            [*openssl.split(), "-days", "2", "-subj", "/CN=localhost", *certificate],
            check=True,
            capture_output=True,
            timeout=60,
        )
        state.chmod(0o755)
        subprocess.run(["chown", "-R", "prosody:prosody", str(state)], check=True, timeout=60)
        subprocess.run(
            [*ctl, "register", ACCOUNT[0], "localhost", ACCOUNT[1]],
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        subprocess.run([*ctl, "start"], env=env, capture_output=True, timeout=60)
        _wait_until_listening(port, state / "info.log", time.monotonic() + 20)
        yield "127.0.0.1", port
    finally:
        subprocess.run([*ctl, "stop"], env=env, capture_output=True, timeout=60)
        shutil.rmtree(state, ignore_errors=True)


def _client(
    server: tuple[str, int], log: Recorder, password: str = ACCOUNT[1], tls: TLSMode = "require"
) -> Client:
    host, port = server
    client = Client(
        f"{ACCOUNT[0]}@localhost",
        password,
        host=host,
        port=port,
        tls=tls,
        insecure=True,
        on_stanza=log.stanza,
        on_traffic=log.traffic,
    )
    OPEN_CLIENTS.append(client)
    return client


def _client_first(log: Recorder, mechanism: str) -> bytes:
    """The SCRAM client-first message the client sent for `mechanism`."""
    match = re.search(rf"mechanism='{mechanism}'>([^<]*)</auth>".encode(), log.sent)
    assert match, log.sent[-400:]
    return base64.b64decode(match[1])


def _login_fails(server: tuple[str, int], password: str = ACCOUNT[1]) -> AuthFailed:
    failures: list[AuthFailed] = []

    async def scenario() -> None:
        with pytest.raises(AuthFailed) as caught:
            await _client(server, Recorder(), password).connect(15)
        failures.append(caught.value)

    run(scenario)
    return failures[0]


def _forge_binding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the client bind to data that is not this connection's."""

    def forged(*_: object) -> ChannelBinding:
        return ("tls-unique", b"not this connection")

    monkeypatch.setattr(harness.client, "channel_binding", forged)


def _strip_plus(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the client choose as if someone had removed the -PLUS mechanisms from the offer."""
    choose = harness.client.choose_mechanism
    monkeypatch.setattr(
        harness.client,
        "choose_mechanism",
        lambda offered, can_bind: choose([m for m in offered if "-PLUS" not in m], can_bind=True),
    )


# -- ejabberd 23.01 ---------------------------------------------------------------------


@pytest.mark.ejabberd
@pytest.mark.parametrize("loop", LOOPS)
def test_ejabberd_scram_sha_256_plus(ejabberd_scram: tuple[str, int], loop: str) -> None:
    async def scenario() -> None:
        log = Recorder()
        client = _client(ejabberd_scram, log)
        await client.connect(15)
        assert client.full_jid and client.full_jid.startswith("juliet@localhost/")
        assert _client_first(log, "SCRAM-SHA-256-PLUS").startswith(b"p=tls-unique,,n=juliet,r=")
        await client.close()

    run(scenario, loop)


@pytest.mark.ejabberd
def test_ejabberd_refuses_a_wrong_password_over_plus(ejabberd_scram: tuple[str, int]) -> None:
    failure = _login_fails(ejabberd_scram, password="pen")
    assert (failure.mechanism, failure.condition) == ("SCRAM-SHA-256-PLUS", "not-authorized")


@pytest.mark.ejabberd
def test_ejabberd_refuses_forged_channel_binding(
    ejabberd_scram: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    _forge_binding(monkeypatch)
    failure = _login_fails(ejabberd_scram)
    assert (failure.mechanism, failure.condition) == ("SCRAM-SHA-256-PLUS", "not-authorized")
    assert "channel binding" in failure.text


@pytest.mark.ejabberd
def test_ejabberd_without_tls_uses_scram_without_binding(ejabberd_scram: tuple[str, int]) -> None:
    async def scenario() -> None:
        log = Recorder()
        client = _client(ejabberd_scram, log, tls="off")
        await client.connect(15)
        assert not client.encrypted
        assert _client_first(log, "SCRAM-SHA-256").startswith(b"n,,n=juliet,r=")
        await client.close()

    run(scenario)


# -- Prosody 0.12.3, TLS 1.2 -------------------------------------------------------------


@pytest.mark.prosody
def test_prosody_scram_sha_1_plus(prosody_scram_tls12: tuple[str, int]) -> None:
    async def scenario() -> None:
        log = Recorder()
        client = _client(prosody_scram_tls12, log)
        await client.connect(15)
        assert client.full_jid and client.full_jid.startswith("juliet@localhost/")
        assert _client_first(log, "SCRAM-SHA-1-PLUS").startswith(b"p=tls-unique,,n=juliet,r=")
        await client.close()

    run(scenario)


@pytest.mark.prosody
def test_prosody_refuses_a_wrong_password_over_plus(prosody_scram_tls12: tuple[str, int]) -> None:
    failure = _login_fails(prosody_scram_tls12, password="pen")
    assert (failure.mechanism, failure.condition) == ("SCRAM-SHA-1-PLUS", "not-authorized")


@pytest.mark.prosody
def test_prosody_refuses_forged_channel_binding(
    prosody_scram_tls12: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    _forge_binding(monkeypatch)
    failure = _login_fails(prosody_scram_tls12)
    assert (failure.mechanism, failure.condition) == ("SCRAM-SHA-1-PLUS", "malformed-request")
    assert "channel binding" in failure.text


@pytest.mark.prosody
def test_prosody_detects_a_stripped_plus_offer(
    prosody_scram_tls12: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client says "y" (I could bind); Prosody does bind here, so it knows -PLUS was removed."""
    _strip_plus(monkeypatch)
    failure = _login_fails(prosody_scram_tls12)
    assert (failure.mechanism, failure.condition) == ("SCRAM-SHA-1", "malformed-request")


# -- the reference server: SCRAM without -PLUS over STARTTLS ------------------------------


def test_reference_accepts_the_y_flag_over_tls() -> None:
    async def scenario() -> None:
        config = ServerConfig(muc_host=None, accounts=dict([ACCOUNT]))
        async with ReferenceServer(config) as server:
            log = Recorder()
            client = _client(("127.0.0.1", server.port), log)
            await client.connect(15)
            assert client.encrypted
            assert _client_first(log, "SCRAM-SHA-256").startswith(b"y,,n=juliet,r=")
            await client.close()
            wrong = _client(("127.0.0.1", server.port), Recorder(), password="pen")
            with pytest.raises(AuthFailed, match="not-authorized"):
                await wrong.connect(15)

    run(scenario)
