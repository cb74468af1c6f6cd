"""A misbehaving server fails the step, with a clear reason, and the run goes on.

The server here is a deliberately broken XMPP endpoint on an ephemeral loopback
port: it logs clients in (PLAIN, bind) and then, depending on the user name,
closes the socket mid-stream, sends garbage, sends a stream error, or never
answers again. The user `good` gets its presence echoed, so a healthy script
after each broken one shows the run continued.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from lxml import etree

from harness.parser import parse_text
from harness.results import RunResult, ScriptResult, Status
from harness.runner import RunOptions, run_scripts
from harness.targets import parse_target
from protocol import namespaces as ns
from protocol.xmlstream import StreamClosed, StreamError, StreamOpened, XMLStreamParser

OPTIONS = RunOptions(timeout=1.0, quiet_period=0.2, connect_timeout=1.0)
HEADER = (
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' id='fake' from='localhost' version='1.0'>"
)
SASL_FEATURES = (
    f"<stream:features><mechanisms xmlns='{ns.SASL}'><mechanism>PLAIN</mechanism>"
    "</mechanisms></stream:features>"
)
BIND_FEATURES = f"<stream:features><bind xmlns='{ns.BIND}'/></stream:features>"


class FaultyServer:
    """Logs clients in, then misbehaves as their user name says. `mute`: never says a word."""

    def __init__(self, *, mute: bool = False) -> None:
        self.mute = mute
        self.clean_closes: list[str] = []  # users whose client sent </stream:stream>
        self.logged_in: list[str] = []  # users bound, in order

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser = XMLStreamParser()
        user = ""
        try:
            while data := await reader.read(65536):
                for event in parser.feed(data):
                    if self.mute:
                        continue
                    if isinstance(event, StreamOpened):
                        writer.write((HEADER + (BIND_FEATURES if user else SASL_FEATURES)).encode())
                    elif isinstance(event, StreamClosed):
                        self.clean_closes.append(user)
                        if user != "silent":
                            writer.write(b"</stream:stream>")
                            writer.close()
                    elif event.tag == f"{{{ns.SASL}}}auth":
                        user = base64.b64decode(event.text or "").split(b"\0")[1].decode()
                        writer.write(f"<success xmlns='{ns.SASL}'/>".encode())
                        parser.reset()
                    elif event.find(f"{{{ns.BIND}}}bind") is not None:
                        self.logged_in.append(user)
                        writer.write(
                            f"<iq type='result' id='{event.get('id')}'><bind xmlns='{ns.BIND}'>"
                            f"<jid>{user}@localhost/fake</jid></bind></iq>".encode()
                        )
                    else:
                        self._misbehave(user, event, writer)
                await writer.drain()
        except (StreamError, ConnectionError):
            pass
        finally:
            writer.close()

    def _misbehave(self, user: str, stanza: etree._Element, writer: asyncio.StreamWriter) -> None:
        if user == "good":
            writer.write(f"<presence from='{user}@localhost/fake'/>".encode())
        elif user == "closer":
            writer.transport.abort()
        elif user == "garbage":
            writer.write(b"<presence><<<garbage>>> {{}} </presence>")
        elif user == "erroneous":
            writer.write(
                f"<stream:error><policy-violation xmlns='{ns.STREAMS_ERRORS}'/>"
                "</stream:error></stream:stream>".encode()
            )


@asynccontextmanager
async def serving(server: FaultyServer) -> AsyncIterator[str]:
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    try:
        yield f"127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    finally:
        listener.close()


def script(user: str, *body: str) -> str:
    steps = "\n\n".join(body) or (
        "Romeo connects\n\nRomeo sends:\n\t<presence/>\n\nRomeo receives:\n\t<presence/>"
    )
    header = f"# {user}\n\n[Client] Romeo\n\tjid: {user}@localhost\n\tpassword: pw\n\n---\n\n"
    return header + steps + "\n"


def run(address: str, texts: list[str]) -> RunResult:
    scripts = [parse_text(text, Path(f"s{i}.scs")) for i, text in enumerate(texts)]
    return asyncio.run(run_scripts(scripts, parse_target(address), OPTIONS))


def run_against(server: FaultyServer, texts: list[str], options: RunOptions = OPTIONS) -> RunResult:
    async def go() -> RunResult:
        async with serving(server) as address:
            scripts = [parse_text(text, Path(f"s{i}.scs")) for i, text in enumerate(texts)]
            return await run_scripts(scripts, parse_target(address), options)

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("user", "reason"),
    [
        ("closer", "stream is closed (the server closed the connection)"),
        ("garbage", "stream is closed (the server sent invalid XML: not-well-formed"),
        ("erroneous", "stream is closed (stream error from the server: policy-violation)"),
    ],
)
def test_broken_stream_fails_the_step_at_once_and_the_run_goes_on(user: str, reason: str) -> None:
    # With a long timeout, finishing before it shows the step did not wait for it.
    result = run_against(
        FaultyServer(), [script(user), script("good")], dataclasses.replace(OPTIONS, timeout=60)
    )
    broken, healthy = result.scripts
    assert broken.status is Status.FAILED
    assert broken.failure is not None
    assert (broken.failure.step, broken.failure.action) == (2, "receives")
    assert broken.failure.line == 14
    assert reason in broken.failure.message
    assert broken.duration_s < 60, "a dead stream fails without waiting the timeout"
    assert healthy.status is Status.PASSED, healthy.failure


def test_server_that_never_answers_fails_receives_after_the_timeout() -> None:
    result = run_against(FaultyServer(), [script("silent"), script("good")])
    silent, healthy = result.scripts
    assert silent.status is Status.FAILED
    assert silent.failure is not None
    assert silent.failure.message == "no matching stanza within 1 s"
    assert silent.failure.expected == "<presence/>"
    assert silent.failure.buffered == 0
    assert silent.duration_s >= OPTIONS.timeout
    assert healthy.status is Status.PASSED


def test_server_that_never_says_a_word_fails_the_login() -> None:
    result = run_against(FaultyServer(mute=True), [script("good"), script("good")])
    assert [s.status for s in result.scripts] == [Status.FAILED, Status.FAILED]
    failure = result.scripts[0].failure
    assert failure is not None and failure.action == "connects" and failure.step == 0
    assert "timed out after 1 s" in failure.message


def test_sending_on_a_stream_the_server_closed_fails_that_step() -> None:
    text = script(
        "closer",
        "Romeo connects",
        "Romeo sends:\n\t<presence/>",
        "Romeo receives: nothing",
        "Romeo sends:\n\t<presence/>",
    )
    failure = run_against(FaultyServer(), [text]).scripts[0].failure
    assert failure is not None and failure.step == 3
    assert failure.message.startswith("Romeo's stream is closed (")


def test_refused_at_the_start_is_unreachable_and_runs_nothing() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run(f"127.0.0.1:{port}", [script("good")])
    assert result.scripts == []
    assert result.unreachable is not None and f"127.0.0.1:{port}" in result.unreachable
    assert not result.ok


def test_disconnect_twice_is_a_no_op_and_open_clients_are_closed_at_the_end() -> None:
    server = FaultyServer()
    text = (
        "# two\n\n[Client] Romeo\n\tjid: good@localhost\n\tpassword: pw\n\n"
        "[Client] Juliet\n\tjid: other@localhost\n\tpassword: pw\n\n---\n\n"
        "Romeo connects\n\nJuliet connects\n\nRomeo disconnects\n\nRomeo disconnects\n"
    )
    result = run_against(server, [text])
    only = result.scripts[0]
    assert only.status is Status.PASSED, only.failure
    assert [step.detail for step in only.steps][2:] == ["disconnected", "already disconnected"]
    assert sorted(server.clean_closes) == ["good", "other"]


def test_what_an_actor_sends_after_it_disconnected_is_dropped() -> None:
    server = FaultyServer()
    text = script(
        "good",
        "Romeo connects",
        "Romeo disconnects",
        "Romeo sends:\n\t<presence type='unavailable'/>",
    )
    only = run_against(server, [text]).scripts[0]
    assert only.status is Status.PASSED, only.failure
    assert only.steps[2].detail == "dropped 30 bytes: Romeo has disconnected"
    assert server.clean_closes == ["good"]


def test_an_actor_that_connects_again_sends_again() -> None:
    text = script(
        "good",
        "Romeo connects",
        "Romeo disconnects",
        "Romeo connects",
        "Romeo sends:\n\t<presence/>",
        "Romeo receives:\n\t<presence/>",
    )
    only = run_against(FaultyServer(), [text]).scripts[0]
    assert only.status is Status.PASSED, only.failure
    assert only.steps[3].detail.startswith("sent ")


def test_steps_of_an_actor_that_never_connected_fail_clearly() -> None:
    text = script("good", "Romeo sends:\n\t<presence/>")
    failure = run_against(FaultyServer(), [text]).scripts[0].failure
    assert failure is not None and failure.message == "Romeo has not connected"


def test_exitfirst_stops_after_the_first_failing_script() -> None:
    async def go() -> RunResult:
        async with serving(FaultyServer()) as address:
            scripts = [
                parse_text(script(user), Path(f"{user}.scs")) for user in ("good", "closer", "good")
            ]
            return await run_scripts(scripts, parse_target(address), OPTIONS, exitfirst=True)

    result = asyncio.run(go())
    assert [s.status for s in result.scripts] == [Status.PASSED, Status.FAILED]
    assert not result.interrupted


class _Started:
    """Observer that says when the first script has begun."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.finished: list[Status] = []

    def script_started(self, script: object) -> None:
        self.event.set()

    def script_finished(self, result: ScriptResult) -> None:
        self.finished.append(result.status)


def test_cancelling_a_run_reports_what_ran_and_closes_the_clients() -> None:
    server = FaultyServer()

    async def go() -> tuple[RunResult, _Started]:
        observer = _Started()
        async with serving(server) as address:
            scripts = [parse_text(script(user), Path(f"{user}.scs")) for user in ("good", "silent")]
            options = dataclasses.replace(OPTIONS, timeout=30)
            task = asyncio.create_task(
                run_scripts(scripts, parse_target(address), options, observer=observer)
            )
            async with asyncio.timeout(30):
                while "silent" not in server.logged_in:
                    await asyncio.sleep(0.01)
            task.cancel()
            result = await task
            # The server reads the clients' stream ends on its own schedule: wait for
            # them (or the deadline) before it stops, so a loaded machine cannot race it.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):
                    while len(server.clean_closes) < 2:
                        await asyncio.sleep(0.01)
            return result, observer

    started = time.monotonic()
    result, observer = asyncio.run(go())
    assert time.monotonic() - started < 30, "cancelled, not ended by the 30 s timeout"
    assert result.interrupted
    assert [s.status for s in result.scripts] == [Status.PASSED, Status.ERRORED]
    assert result.scripts[1].failure.message == "interrupted"
    assert observer.finished == [Status.PASSED, Status.ERRORED]
    assert server.clean_closes == ["good", "silent"]
