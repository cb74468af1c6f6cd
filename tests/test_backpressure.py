"""A client that stops reading is cut off at a bounded buffer; the room's other occupants
keep getting every message while it is being flooded."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

from lxml import etree
from test_server_support import Closed, RawClient, q

from reference.config import ServerConfig
from reference.server import ReferenceServer

ROOM = "flood@conference.localhost"
MUC = "http://jabber.org/protocol/muc"
CAP = 256 * 1024
BODY = "x" * 2000
BYSTANDERS = 5


async def _join(client: RawClient, nick: str) -> None:
    await client.send(f"<presence to='{ROOM}/{nick}'><x xmlns='{MUC}'/></presence>")
    await client.wait_for(
        lambda e: e.get("from") == f"{ROOM}/{nick}" and e.tag == q("presence"), timeout=10
    )


async def _create_room(owner: RawClient) -> None:
    await _join(owner, "owner")
    await owner.send(
        f"<iq type='set' id='create' to='{ROOM}'><query xmlns='{MUC}#owner'>"
        "<x xmlns='jabber:x:data' type='submit'/></query></iq>"
    )
    answer = await owner.wait_for(lambda e: e.get("id") == "create")
    assert answer.get("type") == "result", etree.tostring(answer)


async def _slow_consumer(port: int) -> RawClient:
    """A client with a tiny receive buffer, so the server's buffer is what fills."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock)
    client = RawClient(reader, writer)
    await client.login("sleeper")
    return client


async def _record_latencies(client: RawClient, latencies: list[float]) -> None:
    """Read until the stream ends, keeping each flood message's age on arrival."""
    with contextlib.suppress(Closed, TimeoutError):
        while True:
            stanza = await client.element(timeout=30)
            sent = stanza.get("id", "")
            if stanza.get("type") == "groupchat" and sent.startswith("t"):
                latencies.append(time.monotonic() - float(sent[1:]))


def test_slow_consumer_is_cut_off_and_others_stay_fast() -> None:
    async def main() -> None:
        config = ServerConfig(max_write_buffer_bytes=CAP)
        async with ReferenceServer(config) as server:
            owner = await RawClient.logged_in(server.port, "owner")
            await _create_room(owner)
            sleeper = await _slow_consumer(server.port)
            await _join(sleeper, "sleeper")
            session = server.hub.sessions[sleeper.full_jid]
            bystanders = [
                await RawClient.logged_in(server.port, f"b{i}") for i in range(BYSTANDERS)
            ]
            for index, bystander in enumerate(bystanders):
                await _join(bystander, f"b{index}")
            latencies: list[list[float]] = [[] for _ in bystanders]
            readers = [
                asyncio.create_task(_record_latencies(b, seen))
                for b, seen in zip(bystanders, latencies, strict=True)
            ]
            # The owner floods the room until the server gives up on the sleeper.
            largest_buffer = 0
            sent = 0
            while sleeper.full_jid in server.hub.sessions:
                assert sent < 20_000, "the sleeper was never cut off"
                stanza = (
                    f"<message to='{ROOM}' type='groupchat' id='t{time.monotonic()}'>"
                    f"<body>{BODY}</body></message>"
                )
                await owner.send(stanza * 10)
                sent += 10
                largest_buffer = max(largest_buffer, session.transport.get_write_buffer_size())
                await asyncio.sleep(0.005)
            occupants = server.hub.components["conference.localhost"].rooms[ROOM].occupants
            assert f"{ROOM}/sleeper" not in occupants
            # The owner keeps talking for a while after the cut: the others still follow.
            for _ in range(50):
                await owner.send(
                    f"<message to='{ROOM}' type='groupchat' id='t{time.monotonic()}'>"
                    "<body>after</body></message>"
                )
                await asyncio.sleep(0.01)
            for bystander in bystanders:
                await bystander.close()
            await asyncio.gather(*readers)
            # Whoever wakes up within the linger period reads the reason last.
            assert await sleeper.stream_error(timeout=10) == "policy-violation"
            await sleeper.close()
            await owner.close()
        # Buffer bound: the cap plus what one write call added on top of it.
        assert largest_buffer <= CAP + 10 * (len(BODY) + 500), largest_buffer
        p99s = [sorted(seen)[int(len(seen) * 0.99)] for seen in latencies]
        print(
            f"flood: {sent} messages of {len(BODY)} bytes; sleeper's buffer peaked at "
            f"{largest_buffer} bytes (cap {CAP}); bystanders' p99 latency: "
            + ", ".join(f"{p99 * 1000:.0f} ms" for p99 in p99s)
        )
        for seen in latencies:  # every message reached every bystander (their speed: bench/)
            assert len(seen) >= sent, (len(seen), sent)

    asyncio.run(asyncio.wait_for(main(), 120))
