"""The recorder: real clients (slixmpp) through the proxy, the script it writes, its replay.

Recorded sessions must replay green with the runner against a fresh server, and
the script must not be vacuous: breaking one recorded expectation fails it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from xml.etree import ElementTree

import pytest
from lxml import etree

from harness import record_command
from harness.model import Action
from harness.parser import parse_file, parse_text
from harness.recorder import (
    JidVariables,
    Recording,
    RecordingProxy,
    actor_name,
    expected_stanza,
    scram_username,
    second_name,
    stanza_lines,
    strip_starttls,
)
from harness.results import Status
from harness.runner import RunOptions, run_on_target
from harness.targets import parse_target
from protocol import namespaces as ns
from protocol.xmlstream import StreamClosed, StreamOpened
from reference.config import ServerConfig
from reference.server import ReferenceServer
from tests.conftest import ROOT, free_port

slixmpp = pytest.importorskip("slixmpp")

ROOM = "verona@conference.localhost"

# --------------------------------------------------------------------------- helpers


async def login(jid: str, password: str, port: int) -> slixmpp.ClientXMPP:
    """A slixmpp client logged in through the proxy (plain text: the proxy hides STARTTLS)."""
    client = slixmpp.ClientXMPP(jid, password, loop=asyncio.get_running_loop())
    client.register_plugin("xep_0045")
    client.register_plugin("xep_0199")
    client.plugin["feature_mechanisms"].unencrypted_plain = True
    started = asyncio.Event()
    client.add_event_handler("session_start", lambda _: started.set())
    client.connect("127.0.0.1", port)
    await asyncio.wait_for(started.wait(), 10)
    return client


async def disconnect(*clients: slixmpp.ClientXMPP) -> None:
    for client in clients:
        client.disconnect()
        await asyncio.wait_for(client.disconnected, 5)


async def next_body(queue: asyncio.Queue, body: str) -> None:
    while (await asyncio.wait_for(queue.get(), 5))["body"] != body:
        pass


@asynccontextmanager
async def recording_proxy(upstream_port: int) -> AsyncIterator[tuple[Recording, RecordingProxy]]:
    recording = Recording()
    proxy = RecordingProxy(("127.0.0.1", upstream_port), recording, report=lambda _: None)
    await proxy.start("127.0.0.1", 0)
    try:
        yield recording, proxy
    finally:
        await proxy.stop()


def replay(text: str, target: str, tmp_path: Path, timeout: float = 3) -> tuple[Status, str]:
    path = tmp_path / "recorded.scs"
    path.write_text(text)
    script = parse_file(path)
    result = asyncio.run(run_on_target(script, parse_target(target), RunOptions(timeout=timeout)))
    return result.status, str(result.failure)


# --------------------------------------------------------------------------- reference server


async def record_muc_session() -> tuple[Recording, dict[str, str]]:
    async with (
        ReferenceServer(ServerConfig()) as server,
        recording_proxy(server.port) as (
            recording,
            proxy,
        ),
    ):
        port = proxy.port
        romeo = await login("romeo@localhost", "s3cret", port)
        juliet = await login("juliet@localhost/balcony", "n1ght", port)
        full = {"romeo": romeo.boundjid.full, "juliet": juliet.boundjid.full}
        muc = romeo.plugin["xep_0045"]
        await muc.join_muc_wait(ROOM, "Romeo", maxstanzas=0)
        instant = romeo.make_iq_set(ito=ROOM)  # accept the default configuration
        instant.append(
            ElementTree.fromstring(
                f"<query xmlns='{ns.MUC_OWNER}'><x xmlns='{ns.DATA_FORMS}' type='submit'/></query>"
            )
        )
        await instant.send(timeout=5)
        await juliet.plugin["xep_0045"].join_muc_wait(ROOM, "Juliet", maxstanzas=0)
        said: asyncio.Queue = asyncio.Queue()
        juliet.add_event_handler("groupchat_message", said.put_nowait)
        romeo.send_message(mto=ROOM, mbody="Wherefore art thou?", mtype="groupchat")
        await next_body(said, "Wherefore art thou?")
        left = asyncio.Event()
        juliet.add_event_handler(f"muc::{ROOM}::got_offline", lambda _: left.set())
        muc.leave_muc(ROOM, "Romeo")
        await asyncio.wait_for(left.wait(), 5)
        await disconnect(romeo, juliet)
        await asyncio.wait_for(proxy.wait_sessions(2), 5)
    return recording, full


def test_muc_session_on_reference_server_replays_green(tmp_path: Path) -> None:
    recording, full = asyncio.run(record_muc_session())
    text = recording.script_text()

    script = parse_text(text, tmp_path / "recorded.scs")
    assert [(a.name, a.jid, a.password) for a in script.actors] == [
        ("Romeo", "romeo@localhost", "s3cret"),
        ("Juliet", "juliet@localhost/balcony", "n1ght"),
    ]
    actions = [(step.actor, step.action) for step in script.steps]
    assert actions[:2] == [("Romeo", Action.CONNECTS), ("Juliet", Action.CONNECTS)]
    assert actions[-1][1] is Action.DISCONNECTS
    assert ("Romeo", Action.DISCONNECTS) in actions
    assert full["romeo"] not in text  # the server-assigned resource never appears
    assert "${Romeo's full JID}" in text and "${Juliet's full JID}" in text
    assert "<session" not in text and "urn:ietf:params:xml:ns:xmpp-bind" not in text
    assert "Wherefore art thou?" in text
    assert "\n\t\t<body>Wherefore art thou?</body>\n" in text  # tab-indented like the corpus

    status, failure = replay(text, "reference", tmp_path)
    assert status is Status.PASSED, failure

    broken = text.replace(
        "<body>Wherefore art thou?</body>\n\t</message>\n\nJuliet receives",
        "<body>Wherefore art thou not?</body>\n\t</message>\n\nJuliet receives",
        1,
    )
    assert broken != text
    status, failure = replay(broken, "reference", tmp_path)
    assert status is Status.FAILED, "a changed expectation must fail the replay"


# --------------------------------------------------------------------------- real Prosody


@pytest.mark.prosody
def test_direct_messages_on_prosody_replay_green(prosody: tuple[str, int], tmp_path: Path) -> None:
    async def session() -> Recording:
        async with recording_proxy(prosody[1]) as (recording, proxy):
            port = proxy.port
            benvolio = await login("benvolio@localhost", "s3cret", port)
            rosaline = await login("rosaline@localhost", "n1ght", port)
            to_rosaline: asyncio.Queue = asyncio.Queue()
            to_benvolio: asyncio.Queue = asyncio.Queue()
            rosaline.add_event_handler("message", to_rosaline.put_nowait)
            benvolio.add_event_handler("message", to_benvolio.put_nowait)
            benvolio.send_message(mto=rosaline.boundjid.full, mbody="Good morrow", mtype="chat")
            await next_body(to_rosaline, "Good morrow")
            reply = "Is the day so young?\n<&>"
            rosaline.send_message(mto=benvolio.boundjid.full, mbody=reply, mtype="chat")
            await next_body(to_benvolio, reply)
            await benvolio.plugin["xep_0199"].ping(jid="localhost", timeout=5)
            await disconnect(benvolio, rosaline)
            await asyncio.wait_for(proxy.wait_sessions(2), 5)
        return recording

    text = asyncio.run(session()).script_text()
    assert "${Rosaline's full JID}" in text and "${Benvolio's full JID}" in text
    assert "Is the day so young?&#10;&lt;&amp;&gt;" in text
    status, failure = replay(text, f"{prosody[0]}:{prosody[1]}", tmp_path)
    assert status is Status.PASSED, failure


# --------------------------------------------------------------------------- the command


async def run_record(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "harness",
        "record",
        *args,
        cwd=ROOT,
        stderr=asyncio.subprocess.PIPE,
    )


async def wait_listening(process: asyncio.subprocess.Process) -> None:
    assert process.stderr is not None
    line = await asyncio.wait_for(process.stderr.readline(), 20)
    assert b"recording: clients connect to" in line, line


def test_record_command_stops_after_sessions_and_on_interrupt(tmp_path: Path) -> None:
    async def main() -> None:
        async with ReferenceServer(ServerConfig(muc_host=None)) as server:
            upstream = f"127.0.0.1:{server.port}"
            port = free_port()
            output = tmp_path / "one.scs"
            process = await run_record(
                "--listen", f"127.0.0.1:{port}", "--upstream", upstream, "-o", str(output),
                "--sessions", "1",
            )  # fmt: skip
            await wait_listening(process)
            await disconnect(await login("mercutio@localhost", "queen-mab", port))
            assert await asyncio.wait_for(process.wait(), 10) == 0
            script = parse_file(output)
            assert [a.name for a in script.actors] == ["Mercutio"]

            port = free_port()
            output = tmp_path / "interrupted.scs"
            process = await run_record(
                "--listen", f"127.0.0.1:{port}", "--upstream", upstream, "-o", str(output)
            )  # fmt: skip
            await wait_listening(process)
            tybalt = await login("tybalt@localhost", "cats", port)
            dropped = asyncio.Event()
            tybalt.add_event_handler("disconnected", lambda _: dropped.set())
            process.send_signal(signal.SIGINT)  # while Tybalt is still connected
            assert await asyncio.wait_for(process.wait(), 10) == 0
            script = parse_file(output)
            assert [(s.actor, s.action) for s in script.steps] == [
                ("Tybalt", Action.CONNECTS),
                ("Tybalt", Action.DISCONNECTS),
            ]
            await asyncio.wait_for(dropped.wait(), 5)  # the proxy closed Tybalt's connection
            tybalt.abort()  # no reconnection attempt

    asyncio.run(main())


def test_record_command_errors_are_clear(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    record_command.register(parser.add_subparsers())

    def record(*args: str) -> tuple[int, str]:
        parsed = parser.parse_args(["record", *args])
        code = parsed.func(parsed)
        return code, capsys.readouterr().err

    output = str(tmp_path / "out.scs")
    closed = free_port()
    code, err = record("--listen", "127.0.0.1:0", "--upstream", f"127.0.0.1:{closed}", "-o", output)
    assert code == record_command.EXIT_UNAVAILABLE
    assert f"cannot reach the upstream server 127.0.0.1:{closed}" in err

    with socket.socket() as taken, socket.socket() as upstream:
        upstream.bind(("127.0.0.1", 0))
        upstream.listen()
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        listen = f"127.0.0.1:{taken.getsockname()[1]}"
        up = f"127.0.0.1:{upstream.getsockname()[1]}"
        code, err = record("--listen", listen, "--upstream", up, "-o", output)
    assert code == record_command.EXIT_UNAVAILABLE
    assert f"cannot listen on {listen}" in err

    code, err = record("--listen", "0.0.0.0:5223", "--upstream", up, "-o", output)
    assert code == record_command.EXIT_USAGE and "loopback only" in err
    code, err = record("--upstream", "localhost", "-o", output)
    assert code == record_command.EXIT_USAGE and "expected HOST:PORT" in err
    code, err = record("--upstream", up, "-o", str(tmp_path / "missing" / "out.scs"))
    assert code == record_command.EXIT_USAGE and "does not exist" in err
    assert not Path(output).exists()


# --------------------------------------------------------------------------- units


def test_actor_names_are_valid_script_names() -> None:
    assert actor_name("romeo") == "Romeo"
    assert actor_name("juliet.capulet") == "Juliet Capulet"
    assert actor_name("friar_laurence-2") == "Friar Laurence 2"
    assert actor_name("émilie") == "Émilie"
    assert actor_name("...") == "User"
    assert second_name("Romeo", "phone", {"Romeo"}) == "Romeo's phone"
    assert second_name("Romeo", "phone", {"Romeo", "Romeo's phone"}) == "Romeo2"
    assert second_name("Romeo", None, {"Romeo", "Romeo2"}) == "Romeo3"
    assert second_name("Romeo", "sends", {"Romeo"}) == "Romeo2"  # a keyword would break steps
    assert second_name("User1", None, {"User1"}) == "User1 2"


def test_jid_variables_full_first_and_only_whole_jids() -> None:
    variables = JidVariables(
        {"romeo@localhost/abc": "Romeo", "romeo@localhost/def": "Romeo2"},
        {"romeo@localhost": "Romeo", "juliet@localhost": "Juliet's phone"},
    )
    assert variables("romeo@localhost/abc") == "${Romeo's full JID}"
    assert variables("romeo@localhost/def") == "${Romeo2's full JID}"
    assert variables("romeo@localhost") == "${Romeo's JID}"
    assert variables("romeo@localhost/other") == "${Romeo's JID}/other"
    assert variables("juliet@localhost") == "${Juliet's phone's JID}"
    assert variables("say romeo@localhost.") == "say ${Romeo's JID}."
    for untouched in (
        "xromeo@localhost",
        "romeo@localhost.org",
        "a.romeo@localhost",
        "x/romeo@localhost",
    ):
        assert variables(untouched) == untouched
    assert JidVariables({}, {})("romeo@localhost") == "romeo@localhost"


def test_expected_stanza_drops_what_the_server_makes_up() -> None:
    received = etree.fromstring(
        f"<message xmlns='{ns.CLIENT}' id='server-made' from='room@conference.localhost/a'>"
        "<body>hi</body>"
        f"<delay xmlns='{ns.DELAY}' stamp='2026-01-01T00:00:00Z'/>"
        "<stanza-id xmlns='urn:xmpp:sid:0' id='x1' by='room@conference.localhost'/>"
        "<occupant-id xmlns='urn:xmpp:occupant-id:0' id='o1'/>"
        "<x xmlns='jabber:x:delay' stamp='20260101T00:00:00'/>"
        "<item xmlns='urn:example' id='client-chose'/>"
        "</message>"
    )
    expected = expected_stanza(received, {"client-chose"})
    assert [etree.QName(child).localname for child in expected] == ["body", "item"]
    assert expected.get("id") is None
    assert expected[1].get("id") == "client-chose"
    assert len(received) == 6  # the recorded stanza itself is untouched
    kept = expected_stanza(received, {"server-made"})
    assert kept.get("id") == "server-made"


def test_stanza_lines_pretty_print_with_tabs_and_keep_text_exact() -> None:
    stanza = etree.fromstring(
        f"<iq xmlns='{ns.CLIENT}' type='set' id='a1' to='romeo@localhost/r1' xml:lang='en'>"
        "<query xmlns='jabber:iq:roster'><item jid='juliet@localhost' name='J &quot;&amp;&lt;'>"
        "<group>Line one\nline\ttwo</group></item></query>"
        f"<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='{ns.CLIENT}'>"
        "<body>mixed <b xmlns='urn:example'>bold</b> tail</body></message></forwarded></iq>"
    )
    variables = JidVariables({"romeo@localhost/r1": "Romeo"}, {"juliet@localhost": "Juliet"})
    assert stanza_lines(stanza, variables) == [
        '<iq type="set" id="a1" to="${Romeo\'s full JID}" xml:lang="en">',
        '\t<query xmlns="jabber:iq:roster">',
        '\t\t<item jid="${Juliet\'s JID}" name="J &quot;&amp;&lt;">',
        "\t\t\t<group>Line one&#10;line&#9;two</group>",
        "\t\t</item>",
        "\t</query>",
        '\t<forwarded xmlns="urn:xmpp:forward:0">',
        '\t\t<message xmlns="jabber:client">',
        '\t\t\t<body>mixed <b xmlns="urn:example">bold</b> tail</body>',
        "\t\t</message>",
        "\t</forwarded>",
        "</iq>",
    ]


def test_scram_username_and_starttls_stripping() -> None:
    assert scram_username(b"n,,n=romeo,r=abc") == "romeo"
    assert scram_username(b"n,a=x,n=we=2Cird=3D,r=abc") == "we,ird="
    assert scram_username(b"garbage") is None
    features = (
        b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
        b"<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>"
        b"</mechanisms></stream:features>"
    )
    stripped, required = strip_starttls(features)
    assert b"starttls" not in stripped and b"<mechanism>PLAIN</mechanism>" in stripped
    assert not required
    stripped, required = strip_starttls(
        b"<features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>\n<required/></starttls>"
        b"<bind/></features>"
    )
    assert stripped == b"<features><bind/></features>" and required


def _stanza(xml: str) -> etree._Element:
    return etree.fromstring(f"<wrapper xmlns='{ns.CLIENT}'>{xml}</wrapper>")[0]


def _log_in(recording: Recording, username: str, resource: str | None, bound: str, mech: str):
    """Feed a connection's negotiation as the proxy would see it; returns the connection."""
    connection = recording.open()
    recording.from_client(connection, StreamOpened(etree.Element("stream", to="localhost")))
    if mech == "PLAIN":
        payload = base64.b64encode(f"\0{username}\0pw-{username}".encode()).decode()
    else:
        payload = base64.b64encode(f"n,,n={username},r=nonce".encode()).decode()
    auth = etree.Element(f"{{{ns.SASL}}}auth", mechanism=mech)
    auth.text = payload
    recording.from_client(connection, auth)
    assert recording.from_server(connection, etree.Element(f"{{{ns.SASL}}}success")) is True
    chosen = f"<resource>{resource}</resource>" if resource else ""
    recording.from_client(
        connection, _stanza(f"<iq type='set' id='b1'><bind xmlns='{ns.BIND}'>{chosen}</bind></iq>")
    )
    recording.from_server(
        connection,
        _stanza(
            f"<iq type='result' id='b1'><bind xmlns='{ns.BIND}'><jid>{bound}</jid></bind></iq>"
        ),
    )
    return connection


def test_recording_names_actors_skips_negotiation_and_parses(tmp_path: Path) -> None:
    recording = Recording()
    first = _log_in(recording, "romeo", None, "romeo@localhost/r1", "PLAIN")
    recording.from_client(
        first, _stanza(f"<iq type='set' id='s1'><session xmlns='{ns.SESSION}'/></iq>")
    )
    recording.from_server(first, _stanza("<iq type='result' id='s1'/>"))
    phone = _log_in(recording, "romeo", "phone", "romeo@localhost/phone", "PLAIN")
    third = _log_in(recording, "romeo", None, "romeo@localhost/r3", "SCRAM-SHA-1")
    # The server pings the first client (a keepalive) and pushes a roster item to the phone.
    recording.from_server(
        first, _stanza("<iq type='get' id='srv1'><ping xmlns='urn:xmpp:ping'/></iq>")
    )
    recording.from_client(first, _stanza("<iq type='result' id='srv1' to='localhost'/>"))
    recording.from_server(
        phone, _stanza("<iq type='set' id='srv2'><query xmlns='jabber:iq:roster'/></iq>")
    )
    recording.from_client(phone, _stanza("<iq type='result' id='srv2'/>"))
    recording.from_client(
        phone, _stanza("<message to='romeo@localhost/r1' id='m1'><body>me</body></message>")
    )
    recording.from_server(
        first,
        _stanza(
            "<message from='romeo@localhost/phone' to='romeo@localhost/r1' id='m1'>"
            "<body>me</body></message>"
        ),
    )
    recording.from_client(first, StreamClosed())
    recording.from_server(first, _stanza("<presence type='unavailable'/>"))  # after it left
    recording.close(first)  # the connection closes too: still one `disconnects`
    again = _log_in(recording, "romeo", None, "romeo@localhost/r4", "PLAIN")
    recording.close(again)
    recording.close(phone)
    recording.close(third)

    assert [(a.name, a.jid, a.password) for a in recording.actors] == [
        ("Romeo", "romeo@localhost", "pw-romeo"),
        ("Romeo's phone", "romeo@localhost/phone", "pw-romeo"),
        ("Romeo2", "romeo@localhost", "password"),
    ]
    assert any("did not log in with PLAIN" in warning for warning in recording.warnings)
    text = recording.script_text(title="Recorded", description=["through 127.0.0.1:5222"])
    script = parse_text(text, tmp_path / "recorded.scs")
    assert script.title == "Recorded"
    assert [(s.actor, s.action.value) for s in script.steps] == [
        ("Romeo", "connects"),
        ("Romeo's phone", "connects"),
        ("Romeo2", "connects"),
        ("Romeo's phone", "receives"),  # the roster push, without the server's id
        ("Romeo's phone", "sends"),
        ("Romeo", "receives"),
        ("Romeo", "disconnects"),
        ("Romeo", "connects"),  # a later login of the same account is the same actor
        ("Romeo", "disconnects"),
        ("Romeo's phone", "disconnects"),
        ("Romeo2", "disconnects"),
    ]
    push, sent, received = (script.steps[i].xml for i in (3, 4, 5))
    assert "srv2" not in push
    assert sent == ('<message to="${Romeo\'s full JID}" id="m1">\n\t<body>me</body>\n</message>')
    assert "from=\"${Romeo's phone's full JID}\"" in received and 'id="m1"' in received
    assert "session" not in text and "ping" not in text
