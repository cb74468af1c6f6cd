"""An independent client (slixmpp) against the reference server: login, messages, presence, iq."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from reference.config import ServerConfig, load_accounts
from reference.server import ReferenceServer

slixmpp = pytest.importorskip("slixmpp")


async def _login(
    jid: str, password: str, port: int, mechanism: str | None = None
) -> slixmpp.ClientXMPP:
    client = slixmpp.ClientXMPP(jid, password, sasl_mech=mechanism, loop=asyncio.get_running_loop())
    client.register_plugin("xep_0030")
    client.register_plugin("xep_0199")
    # The server's certificate is self-signed: STARTTLS still runs, without verification.
    client.ssl_context.check_hostname = False
    client.ssl_context.verify_mode = ssl.CERT_NONE
    started = asyncio.Event()
    failed: list[str] = []
    client.add_event_handler("session_start", lambda _: started.set())
    client.add_event_handler("failed_all_auth", lambda _: failed.append("auth failed"))
    client.connect("127.0.0.1", port)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not started.is_set():
        assert not failed, f"{jid}: {failed[0]}"
        assert loop.time() < deadline, f"{jid} did not log in"
        await asyncio.wait([asyncio.ensure_future(started.wait())], timeout=0.05)
    return client


async def _disconnect(client: slixmpp.ClientXMPP) -> None:
    client.disconnect()
    await asyncio.wait_for(client.disconnected, 5)


async def _sessions_gone(server: ReferenceServer) -> None:
    for _ in range(200):
        if not server.hub.sessions and not server.hub.connections:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"sessions left after disconnect: {list(server.hub.sessions)}")


def test_slixmpp_plain_messages_presence_and_iq() -> None:
    async def main() -> None:
        async with ReferenceServer(ServerConfig(muc_host=None)) as server:
            romeo = await _login("romeo@localhost/orchard", "any", server.port)
            juliet = await _login("juliet@localhost/balcony", "thing", server.port)
            assert set(server.hub.sessions) == {
                "romeo@localhost/orchard",
                "juliet@localhost/balcony",
            }

            messages: asyncio.Queue = asyncio.Queue()
            juliet.add_event_handler("message", messages.put_nowait)
            romeo.send_message(
                mto="juliet@localhost/balcony", mbody="O, she doth teach", mtype="chat"
            )
            message = await asyncio.wait_for(messages.get(), 5)
            assert message["body"] == "O, she doth teach"
            assert str(message["from"]) == "romeo@localhost/orchard"

            presences: asyncio.Queue = asyncio.Queue()
            juliet.add_event_handler("presence_available", presences.put_nowait)
            romeo.send_presence(pto="juliet@localhost/balcony", pstatus="here")
            presence = await asyncio.wait_for(presences.get(), 5)
            assert str(presence["from"]) == "romeo@localhost/orchard"
            assert presence["status"] == "here"

            info = await romeo.plugin["xep_0030"].get_info(
                jid="juliet@localhost/balcony", timeout=5
            )
            assert "http://jabber.org/protocol/disco#info" in info["disco_info"]["features"]
            rtt = await romeo.plugin["xep_0199"].ping(jid="localhost", timeout=5)
            assert rtt >= 0

            await _disconnect(romeo)
            await _disconnect(juliet)
            await _sessions_gone(server)

    asyncio.run(main())


def test_slixmpp_scram_sha_256_with_accounts_file(tmp_path: Path) -> None:
    accounts_file = tmp_path / "accounts.toml"
    accounts_file.write_text('romeo = "s3cret"\n"juliet@localhost" = "n1ght"\n')
    config = ServerConfig(muc_host=None, accounts=load_accounts(accounts_file, "localhost"))

    async def main() -> None:
        async with ReferenceServer(config) as server:
            romeo = await _login("romeo@localhost", "s3cret", server.port, "SCRAM-SHA-256")
            juliet = await _login("juliet@localhost", "n1ght", server.port, "SCRAM-SHA-256")
            messages: asyncio.Queue = asyncio.Queue()
            romeo.add_event_handler("message", messages.put_nowait)
            juliet.send_message(mto=romeo.boundjid.full, mbody="wherefore")
            assert (await asyncio.wait_for(messages.get(), 5))["body"] == "wherefore"
            await _disconnect(romeo)
            await _disconnect(juliet)
            with pytest.raises(AssertionError, match="auth failed"):
                await _login("romeo@localhost", "wrong", server.port, "SCRAM-SHA-256")
            await _sessions_gone(server)

    asyncio.run(main())
