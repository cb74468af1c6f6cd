"""Faults on the target's side: each fails its step with a clear reason, quickly, and the run
goes on to the next script without leaking a task or a socket.

The targets are fake servers on loopback ephemeral ports that log the client in
and then misbehave as the user name says (`after` each first stanza), or break
the TLS upgrade. Everything runs in asyncio debug mode and fails on a
ResourceWarning (an unclosed socket or transport).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import socket
import struct
from pathlib import Path

import pytest
from lxml import etree

from harness.parser import parse_text
from harness.results import RunResult, Status
from harness.runner import RunOptions, run_scripts
from harness.targets import parse_target
from protocol import namespaces as ns
from protocol.xmlstream import StreamClosed, StreamError, StreamOpened, XMLStreamParser
from tests.support_leaks import no_leaked_sockets  # noqa: F401 (autouse: fails a test that leaks)

OPTIONS = RunOptions(timeout=2.0, quiet_period=0.2, connect_timeout=2.0)
HEADER = (
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' id='fake' from='localhost' version='1.0'>"
)
TEN_MB = 10 * 1024 * 1024
LONG_TIMEOUT = 60.0


class FakeServer:
    """Logs clients in (PLAIN, bind), then does what the user's name says."""

    def __init__(self, *, tls_fault: str | None = None) -> None:
        self.tls_fault = tls_fault  # "reset": RST after <proceed/>; "garbage": not TLS at all
        self.writers: set[asyncio.StreamWriter] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        parser = XMLStreamParser()
        user = ""
        try:
            while data := await reader.read(65536):
                for event in parser.feed(data):
                    if isinstance(event, StreamOpened):
                        writer.write((HEADER + self._features(user)).encode())
                    elif isinstance(event, StreamClosed):
                        writer.write(b"</stream:stream>")
                        writer.close()
                    elif event.tag == f"{{{ns.TLS}}}starttls":
                        writer.write(f"<proceed xmlns='{ns.TLS}'/>".encode())
                        await writer.drain()
                        self._break_tls(writer)
                        return
                    elif event.tag == f"{{{ns.SASL}}}auth":
                        user = base64.b64decode(event.text or "").split(b"\0")[1].decode()
                        writer.write(f"<success xmlns='{ns.SASL}'/>".encode())
                        parser.reset()
                    elif event.find(f"{{{ns.BIND}}}bind") is not None:
                        writer.write(
                            f"<iq type='result' id='{event.get('id')}'><bind xmlns='{ns.BIND}'>"
                            f"<jid>{user}@localhost/fake</jid></bind></iq>".encode()
                        )
                    elif await self._misbehave(user, event, writer):
                        return
                await writer.drain()
        except (StreamError, ConnectionError):
            pass
        finally:
            writer.close()
            self.writers.discard(writer)

    def _features(self, user: str) -> str:
        if user:
            return f"<stream:features><bind xmlns='{ns.BIND}'/></stream:features>"
        tls = f"<starttls xmlns='{ns.TLS}'/>" if self.tls_fault else ""
        return (
            f"<stream:features>{tls}<mechanisms xmlns='{ns.SASL}'>"
            "<mechanism>PLAIN</mechanism></mechanisms></stream:features>"
        )

    def _break_tls(self, writer: asyncio.StreamWriter) -> None:
        if self.tls_fault == "garbage":
            writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n" * 20)
            writer.close()
        else:
            _reset(writer)

    async def _misbehave(
        self, user: str, stanza: etree._Element, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer the client's first stanza as `user` says; True when the connection is done."""
        if user == "good":
            writer.write(b"<presence from='good@localhost/fake'/>")
        elif user == "closer":  # half a stanza, then the connection goes
            writer.write(b"<presence from='x@localhost/y'><sta")
            await writer.drain()
            _reset(writer)
            return True
        elif user == "erroneous":
            writer.write(
                f"<stream:error><internal-server-error xmlns='{ns.STREAMS_ERRORS}'/>"
                "</stream:error></stream:stream>".encode()
            )
        elif user == "huge":
            writer.write(b"<message><body>" + b"A" * TEN_MB + b"</body></message>")
        elif user == "garbage":  # then silence: the client must not wait for more bytes
            writer.write(b"<presence><<<garbage")
        elif user == "control":
            writer.write(b"<presence>\x00\x01")
        # "staller": says nothing ever again, and keeps the connection open.
        return False

    async def close(self) -> None:
        for writer in list(self.writers):
            writer.transport.abort()


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _script(user: str) -> str:
    return (
        f"# {user}\n\n[Client] Romeo\n\tjid: {user}@localhost\n\tpassword: pw\n\n---\n\n"
        "Romeo connects\n\nRomeo sends:\n\t<presence/>\n\nRomeo receives:\n\t<presence/>\n\n"
        "Romeo disconnects\n"
    )


def _run(server: FakeServer, users: list[str], options: RunOptions = OPTIONS) -> RunResult:
    async def main() -> RunResult:
        listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        address = f"127.0.0.1:{listener.sockets[0].getsockname()[1]}"
        try:
            scripts = [parse_text(_script(u), Path(f"{u}.scs")) for u in users]
            result = await run_scripts(scripts, parse_target(address), options)
        finally:
            listener.close()
            await server.close()
            await listener.wait_closed()
        await asyncio.sleep(0)  # let the handlers see their aborted connections
        leftover = {
            t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()
        }
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*leftover, return_exceptions=True), 2)
        runner_tasks = [t for t in leftover if "handle" not in repr(t.get_coro())]
        assert not runner_tasks, runner_tasks
        return result

    return asyncio.run(main(), debug=True)


@pytest.mark.parametrize(
    ("user", "step", "reason", "quick"),
    [
        ("closer", 2, "stream is closed (the server closed the connection", True),
        ("erroneous", 2, "stream error from the server: internal-server-error", True),
        ("huge", 2, "invalid XML: policy-violation (stanza too large)", True),
        ("garbage", 2, "invalid XML: not-well-formed", True),
        ("control", 2, "invalid XML: not-well-formed", True),
        ("staller", 2, "no matching stanza within 2 s", False),
    ],
)
def test_fault_fails_the_step_clearly_and_the_next_script_runs(
    user: str, step: int, reason: str, quick: bool
) -> None:
    # A dead stream fails the step at once: with a long timeout, finishing before it
    # shows the step did not wait for it (a deadline, not a speed claim).
    options = dataclasses.replace(OPTIONS, timeout=LONG_TIMEOUT) if quick else OPTIONS
    result = _run(FakeServer(), [user, "good"], options)
    broken, healthy = result.scripts
    assert broken.status is Status.FAILED, broken
    assert broken.failure is not None
    assert broken.failure.step == step, broken.failure
    assert reason in broken.failure.message, broken.failure.message
    if quick:
        assert broken.duration_s < LONG_TIMEOUT, broken.duration_s
    else:
        assert broken.duration_s >= OPTIONS.timeout
    assert healthy.status is Status.PASSED, healthy.failure


@pytest.mark.parametrize(
    ("fault", "reason"),
    [("reset", "TLS handshake with localhost failed"), ("garbage", "TLS handshake")],
)
def test_broken_tls_upgrade_fails_the_login_clearly(fault: str, reason: str) -> None:
    result = _run(FakeServer(tls_fault=fault), ["good", "good"])
    for script in result.scripts:
        assert script.status is Status.FAILED
        assert script.failure is not None
        assert (script.failure.step, script.failure.action) == (0, "connects")
        assert reason in script.failure.message, script.failure.message
        assert "timed out" not in script.failure.message  # the fault failed it, not a timeout


@pytest.mark.parametrize(
    ("tail", "condition"),
    [
        (b"<<<garbage", "not-well-formed"),
        (b"<presence/>< ", "not-well-formed"),
        (b"<presence>\x00", "not-well-formed"),
        (b"<presence>\x1b[31m", "not-well-formed"),
        (b"<!-- silence", "restricted-xml"),
    ],
)
def test_parser_reports_bad_input_without_waiting_for_more(tail: bytes, condition: str) -> None:
    parser = XMLStreamParser()
    parser.feed(HEADER.encode())
    with pytest.raises(StreamError) as raised:
        parser.feed(tail)
    assert raised.value.condition == condition


def test_parser_still_accepts_cdata_and_split_input() -> None:
    stanza = b"<message><body><![CDATA[a < b & \x09 ]] > c]]></body><x a='&amp;'/></message>"
    whole = HEADER.encode() + stanza
    for size in (1, 2, 3, 7, len(whole)):
        parser = XMLStreamParser()
        events = []
        for start in range(0, len(whole), size):
            events += parser.feed(whole[start : start + size])
        assert isinstance(events[0], StreamOpened)
        (message,) = events[1:]
        assert message.findtext(f"{{{ns.CLIENT}}}body") == "a < b & \t ]] > c"
