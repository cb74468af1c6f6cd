"""Embedding the reference server: fast start/stop, separate instances, TLS, configuration."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

import pytest
from test_server_support import RawClient

from harness.client import Client
from reference.config import ConfigError, ServerConfig, load_config
from reference.server import ReferenceServer


@pytest.mark.parametrize("muc_host", [None, "conference.localhost"], ids=["core", "with-muc"])
def test_start_and_stop_repeatedly(muc_host: str | None) -> None:
    async def measure() -> list[float]:
        timings = []
        for _ in range(30):
            started = time.perf_counter()
            async with ReferenceServer(ServerConfig(muc_host=muc_host)) as server:
                assert server.port > 0
            timings.append(time.perf_counter() - started)
        return timings

    timings = asyncio.run(measure())
    median = statistics.median(timings)
    print(
        f"\nembedded start+stop ({muc_host or 'no MUC'}): median {median * 1000:.2f} ms, "
        f"max {max(timings) * 1000:.2f} ms"
    )
    assert len(timings) == 30  # how long it takes is bench material, not a test


def test_instances_have_their_own_state() -> None:
    async def main() -> None:
        async with (
            ReferenceServer(ServerConfig(muc_host=None)) as first,
            ReferenceServer(ServerConfig(muc_host=None)) as second,
        ):
            assert first.port != second.port
            client = await RawClient.logged_in(first.port, "romeo", resource="r")
            assert list(first.hub.sessions) == ["romeo@localhost/r"]
            assert second.hub.sessions == {}
            await client.close()

    asyncio.run(main())


def test_stop_ends_sessions_with_system_shutdown() -> None:
    async def main() -> None:
        server = ReferenceServer(ServerConfig(muc_host=None))
        await server.start()
        client = await RawClient.logged_in(server.port, "romeo")
        await server.stop()
        assert await client.stream_error() == "system-shutdown"
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", server.port)

    asyncio.run(main())


@pytest.mark.parametrize("direct_tls", [False, True], ids=["starttls", "direct-tls"])
def test_harness_client_over_tls(direct_tls: bool) -> None:
    async def main() -> None:
        config = ServerConfig(muc_host=None, direct_tls_port=0, require_tls=True)
        async with ReferenceServer(config) as server:
            received = []
            port = server.direct_tls_port if direct_tls else server.port
            client = Client(
                "romeo@localhost",
                "pw",
                host="127.0.0.1",
                port=port,  # type: ignore[arg-type]
                tls="require",
                direct_tls=direct_tls,
                insecure=True,
                on_stanza=received.append,
            )
            await client.connect(timeout=10)
            assert client.encrypted and client.full_jid in server.hub.sessions
            await client.send_raw(
                "<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
            )
            for _ in range(200):
                if received:
                    break
                await asyncio.sleep(0.01)
            assert received and received[0].get("type") == "result"
            await client.close()

    asyncio.run(main())


def test_require_tls_refuses_plain_authentication() -> None:
    async def main() -> None:
        async with ReferenceServer(ServerConfig(muc_host=None, require_tls=True)) as server:
            client = await RawClient.connect(server.port)
            features = await client.open_stream()
            assert (
                features.find(
                    "{urn:ietf:params:xml:ns:xmpp-tls}starttls/{urn:ietf:params:xml:ns:xmpp-tls}required"
                )
                is not None
            )
            assert features.find("{urn:ietf:params:xml:ns:xmpp-sasl}mechanisms") is None
            await client.close()

    asyncio.run(main())


def test_load_config_from_toml(tmp_path: Path) -> None:
    (tmp_path / "accounts.toml").write_text('romeo = "secret"\n"juliet@example.org" = "n"\n')
    (tmp_path / "server.toml").write_text(
        'domain = "example.org"\nport = 5333\nmuc_host = ""\nadmins = ["boss@example.org"]\n'
        'accounts_file = "accounts.toml"\n'
    )
    config = load_config(tmp_path / "server.toml")
    assert (config.domain, config.port, config.muc_host) == ("example.org", 5333, None)
    assert config.admins == frozenset({"boss@example.org"})
    assert config.accounts == {"romeo": "secret", "juliet": "n"}


def test_contact_addresses_come_from_the_config(tmp_path: Path) -> None:
    (tmp_path / "server.toml").write_text('[contact_info]\nabuse = ["mailto:abuse@example.org"]\n')
    config = load_config(tmp_path / "server.toml")
    assert config.contact_info == {"abuse": ["mailto:abuse@example.org"]}
    assert ServerConfig().contact_info["support"][-1] == "xmpp:support@localhost"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prot = 1\n", "unknown setting 'prot'"),
        ("port = \n", "not valid TOML"),
        ('[contact_info]\nbilling = ["x"]\n', "unknown contact_info kind 'billing'"),
        ("[contact_info]\nabuse = 1\n", "must be a list of URI strings"),
    ],
)
def test_load_config_errors_are_clear(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "server.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")
