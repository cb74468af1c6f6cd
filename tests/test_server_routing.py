"""The reference server's c2s, routing, presence, roster and disco, over real sockets."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable

import pytest
from lxml import etree
from test_server_support import Closed, RawClient, q

from protocol import namespaces as ns
from protocol.sasl import ScramClient
from reference.component import Router
from reference.config import ServerConfig
from reference.server import ReferenceServer

STANZAS = ns.STANZAS


def run(test: Callable[[ReferenceServer], Awaitable[None]], **settings: object) -> None:
    async def main() -> None:
        async with ReferenceServer(ServerConfig(muc_host=None, **settings)) as server:  # type: ignore[arg-type]
            await asyncio.wait_for(test(server), 20)

    asyncio.run(main())


def error_condition(stanza: etree._Element) -> str:
    error = stanza.find(q("error"))
    assert error is not None, etree.tostring(stanza)
    return next(etree.QName(c).localname for c in error if etree.QName(c).namespace == STANZAS)


class RecordingComponent:
    """A real component at `service.localhost` that keeps what it is given."""

    host = "service.localhost"

    def __init__(self) -> None:
        self.router: Router | None = None
        self.received: list[etree._Element] = []
        self.arrived = asyncio.Event()
        self.closed = False

    def attach(self, router: Router) -> None:
        self.router = router

    def handle(self, stanza: etree._Element) -> None:
        self.received.append(stanza)
        self.arrived.set()

    def close(self) -> None:
        self.closed = True

    async def next(self, timeout: float = 5.0) -> etree._Element:
        while not self.received:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), timeout)
        return self.received.pop(0)


def test_login_binds_requested_or_generated_resource() -> None:
    async def test(server: ReferenceServer) -> None:
        romeo = await RawClient.logged_in(server.port, "Romeo", resource="balcony")
        assert romeo.full_jid == "romeo@localhost/balcony"
        juliet = await RawClient.logged_in(server.port, "juliet")
        local_and_domain, _, resource = juliet.full_jid.partition("/")
        assert local_and_domain == "juliet@localhost" and len(resource) >= 8
        assert set(server.hub.sessions) == {romeo.full_jid, juliet.full_jid}
        await romeo.close()
        await juliet.close()
        for _ in range(100):
            if not server.hub.sessions and not server.hub.connections:
                break
            await asyncio.sleep(0.01)
        assert server.hub.sessions == {} and server.hub.users == {}
        assert server.hub.connections == set()

    run(test)


def test_features_offer_starttls_and_plain_only_in_test_mode() -> None:
    async def test(server: ReferenceServer) -> None:
        client = await RawClient.connect(server.port)
        features = await client.open_stream()
        assert features.find(q("starttls", ns.TLS)) is not None
        mechanisms = [m.text for m in features.iter(q("mechanism", ns.SASL))]
        assert mechanisms == ["PLAIN"]
        await client.close()

    run(test)


def test_accounts_file_checks_passwords() -> None:
    async def test(server: ReferenceServer) -> None:
        client = await RawClient.connect(server.port)
        features = await client.open_stream()
        mechanisms = [m.text for m in features.iter(q("mechanism", ns.SASL))]
        assert mechanisms == ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]
        await client.close()
        wrong = await RawClient.connect(server.port)
        with pytest.raises(Closed, match="not-authorized"):
            await wrong.login("romeo", "wrong")
        await wrong.close()
        good = await RawClient.logged_in(server.port, "romeo", "secret")
        assert good.full_jid.startswith("romeo@localhost/")
        await good.close()

    run(test, accounts={"romeo": "secret"})


def test_message_routing_full_and_bare_with_priorities() -> None:
    async def test(server: ReferenceServer) -> None:
        romeo = await RawClient.logged_in(server.port, "romeo")
        laptop = await RawClient.logged_in(server.port, "juliet", resource="laptop")
        phone = await RawClient.logged_in(server.port, "juliet", resource="phone")
        await romeo.send(f"<message to='{phone.full_jid}' type='chat'><body>full</body></message>")
        got = await phone.element()
        assert got.get("from") == romeo.full_jid and got.findtext(q("body")) == "full"

        await phone.send("<presence/>")
        await phone.wait_for(lambda e: e.tag == q("presence"))
        await laptop.send("<presence><priority>-1</priority></presence>")
        await laptop.wait_for(lambda e: e.tag == q("presence") and e.get("from") == laptop.full_jid)
        await romeo.send("<message to='juliet@localhost' type='chat'><body>bare</body></message>")
        got = await phone.wait_for(lambda e: e.tag == q("message"))
        assert got.findtext(q("body")) == "bare" and got.get("to") == "juliet@localhost"

        await laptop.send("<presence><priority>5</priority></presence>")
        await laptop.wait_for(lambda e: e.tag == q("presence") and e.get("from") == laptop.full_jid)
        await romeo.send("<message to='juliet@localhost' type='chat'><body>top</body></message>")
        got = await laptop.wait_for(lambda e: e.tag == q("message"))
        assert got.findtext(q("body")) == "top"
        # The phone (priority 0) must not get it: the next message it sees is a later one.
        await romeo.send(f"<message to='{phone.full_jid}'><body>marker</body></message>")
        got = await phone.wait_for(lambda e: e.tag == q("message"))
        assert got.findtext(q("body")) == "marker"
        for client in (romeo, laptop, phone):
            await client.close()

    run(test)


def test_offline_message_delivered_on_initial_presence_with_delay() -> None:
    async def test(server: ReferenceServer) -> None:
        romeo = await RawClient.logged_in(server.port, "romeo")
        juliet = await RawClient.logged_in(server.port, "juliet")
        await romeo.send("<message to='juliet@localhost' type='chat'><body>later</body></message>")
        await romeo.send(
            f"<iq type='get' id='sync' to='localhost'><ping xmlns='{'urn:xmpp:ping'}'/></iq>"
        )
        await romeo.wait_for(lambda e: e.get("id") == "sync")
        await juliet.send("<presence/>")
        got = await juliet.wait_for(lambda e: e.tag == q("message"))
        delay = got.find(q("delay", ns.DELAY))
        assert got.findtext(q("body")) == "later" and delay is not None
        assert delay.get("from") == "localhost" and delay.get("stamp")
        await romeo.close()
        await juliet.close()

    run(test)


def test_spoofed_from_is_overwritten() -> None:
    async def test(server: ReferenceServer) -> None:
        romeo = await RawClient.logged_in(server.port, "romeo")
        juliet = await RawClient.logged_in(server.port, "juliet")
        await romeo.send(
            f"<message to='{juliet.full_jid}' from='admin@localhost/x'><body>hi</body></message>"
        )
        got = await juliet.element()
        assert got.get("from") == romeo.full_jid
        await romeo.close()
        await juliet.close()

    run(test)


def test_iq_round_trip_and_errors_for_unknown_targets() -> None:
    async def test(server: ReferenceServer) -> None:
        romeo = await RawClient.logged_in(server.port, "romeo")
        juliet = await RawClient.logged_in(server.port, "juliet")
        await romeo.send(
            f"<iq type='get' id='v1' to='{juliet.full_jid}'><query xmlns='jabber:iq:version'/></iq>"
        )
        request = await juliet.element()
        assert request.get("from") == romeo.full_jid and request.get("id") == "v1"
        await juliet.send(f"<iq type='result' id='v1' to='{romeo.full_jid}'/>")
        answer = await romeo.element()
        assert answer.get("type") == "result" and answer.get("from") == juliet.full_jid

        await romeo.send(
            "<iq type='get' id='gone' to='juliet@localhost/nowhere'>"
            "<query xmlns='jabber:iq:version'/></iq>"
        )
        error = await romeo.element()
        assert error.get("type") == "error" and error.get("id") == "gone"
        assert error.get("from") == "juliet@localhost/nowhere"
        assert error_condition(error) == "service-unavailable"

        await romeo.send(
            "<iq type='get' id='far' to='example.org'><query xmlns='jabber:iq:version'/></iq>"
        )
        error = await romeo.element()
        assert error_condition(error) == "not-allowed"

        await romeo.send(
            "<iq type='get' id='bare' to='juliet@localhost'><query xmlns='jabber:iq:version'/></iq>"
        )
        error = await romeo.element()
        assert error.get("id") == "bare" and error_condition(error) == "service-unavailable"

        await romeo.send(
            "<iq type='get' id='bad' to='a@b@c'><query xmlns='jabber:iq:version'/></iq>"
        )
        assert error_condition(await romeo.element()) == "jid-malformed"
        await romeo.close()
        await juliet.close()

    run(test)


def test_presence_reflected_decorated_and_sent_to_own_resources() -> None:
    async def test(server: ReferenceServer) -> None:
        laptop = await RawClient.logged_in(server.port, "juliet", resource="laptop")
        phone = await RawClient.logged_in(server.port, "juliet", resource="phone")
        await phone.send("<presence/>")
        own = await phone.element()
        assert own.tag == q("presence") and own.get("from") == phone.full_jid
        assert own.find(f"{q('x', ns.VCARD_UPDATE)}/{q('photo', ns.VCARD_UPDATE)}") is not None
        await laptop.send("<presence><show>away</show></presence>")
        assert (await laptop.element()).get("from") == laptop.full_jid
        seen = await laptop.wait_for(lambda e: e.get("from") == phone.full_jid)
        assert seen.find(q("delay", ns.DELAY)) is not None  # the phone's stored presence
        at_phone = await phone.wait_for(lambda e: e.get("from") == laptop.full_jid)
        assert at_phone.get("to") == phone.full_jid and at_phone.findtext(q("show")) == "away"
        laptop.abort()
        gone = await phone.wait_for(lambda e: e.get("from") == laptop.full_jid)
        assert gone.get("type") == "unavailable"
        await phone.close()

    run(test)


def test_conflicting_resource_replaces_old_session() -> None:
    async def test(server: ReferenceServer) -> None:
        first = await RawClient.logged_in(server.port, "romeo", resource="home")
        second = await RawClient.logged_in(server.port, "romeo", resource="home")
        assert await first.stream_error() == "conflict"
        await second.send("<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
        assert (await second.element()).get("type") == "result"
        assert server.hub.sessions["romeo@localhost/home"] is not None
        await second.close()

    run(test)


def test_stanza_before_authentication_is_not_authorized() -> None:
    async def test(server: ReferenceServer) -> None:
        client = await RawClient.connect(server.port)
        await client.open_stream()
        await client.send("<message to='juliet@localhost'><body>sneaky</body></message>")
        assert await client.stream_error() == "not-authorized"

    run(test)


def test_disco_and_ping() -> None:
    async def test(server: ReferenceServer) -> None:
        server.hub.add_component(RecordingComponent())
        romeo = await RawClient.logged_in(server.port, "romeo")
        await romeo.send(
            f"<iq type='get' id='i' to='localhost'><query xmlns='{ns.DISCO_INFO}'/></iq>"
        )
        info = await romeo.element()
        identity = info.find(f".//{q('identity', ns.DISCO_INFO)}")
        assert identity is not None and identity.get("category") == "server"
        features = {f.get("var") for f in info.iter(q("feature", ns.DISCO_INFO))}
        assert {ns.DISCO_INFO, ns.DISCO_ITEMS, "urn:xmpp:ping", ns.ROSTER} <= features
        await romeo.send(
            f"<iq type='get' id='t' to='localhost'><query xmlns='{ns.DISCO_ITEMS}'/></iq>"
        )
        items = await romeo.element()
        assert [i.get("jid") for i in items.iter(q("item", ns.DISCO_ITEMS))] == [
            "service.localhost"
        ]
        await romeo.send(
            f"<iq type='get' id='a' to='juliet@localhost'><query xmlns='{ns.DISCO_INFO}'/></iq>"
        )
        account = await romeo.element()
        identity = account.find(f".//{q('identity', ns.DISCO_INFO)}")
        assert (identity.get("category"), identity.get("type")) == ("account", "registered")
        await romeo.send("<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
        pong = await romeo.element()
        assert (pong.get("type"), pong.get("id"), pong.get("from")) == ("result", "p", "localhost")
        await romeo.close()

    run(test)


def test_component_gets_stanzas_and_directed_presence_is_withdrawn_on_disconnect() -> None:
    async def test(server: ReferenceServer) -> None:
        component = RecordingComponent()
        server.hub.add_component(component)
        romeo = await RawClient.logged_in(server.port, "romeo")
        await romeo.send("<presence to='room@service.localhost/Romeo' from='evil@localhost'/>")
        joined = await component.next()
        assert joined.get("from") == romeo.full_jid and joined.get("type") is None
        assert joined.find(q("x", ns.VCARD_UPDATE)) is not None
        romeo.abort()
        left = await component.next()
        assert left.get("type") == "unavailable" and left.get("from") == romeo.full_jid
        assert left.get("to") == "room@service.localhost/Romeo"

    run(test)


def test_route_copies_readdresses_each_copy_and_bounces_offline_to_component() -> None:
    async def test(server: ReferenceServer) -> None:
        component = RecordingComponent()
        server.hub.add_component(component)
        clients = [await RawClient.logged_in(server.port, f"user{i}") for i in range(3)]
        message = etree.fromstring(
            "<message xmlns='jabber:client' from='room@service.localhost/a&amp;b' "
            "type='groupchat' id='m1'><body>to &lt;all&gt;</body></message>"
        )
        offline = "ghost@localhost/away"
        assert component.router is not None
        component.router.route_copies(message, [c.full_jid for c in clients] + [offline])
        for client in clients:
            got = await client.element()
            assert (
                got.get("to") == client.full_jid and got.get("from") == "room@service.localhost/a&b"
            )
            assert got.findtext(q("body")) == "to <all>"
        bounced = await component.next()
        assert bounced.get("type") == "error" and bounced.get("from") == offline
        assert error_condition(bounced) == "service-unavailable"
        assert message.get("to") is None
        for client in clients:
            await client.close()

    run(test)


def test_roster_set_push_and_get_like_prosody() -> None:
    async def test(server: ReferenceServer) -> None:
        romeo = await RawClient.logged_in(server.port, "romeo")
        await romeo.send(f"<iq type='get' id='r1'><query xmlns='{ns.ROSTER}'/></iq>")
        empty = await romeo.element()
        assert empty.find(q("query", ns.ROSTER)).get("ver") == "1"
        await romeo.send(
            f"<iq type='set' id='r2'><query xmlns='{ns.ROSTER}'>"
            "<item jid='nurse@localhost'/></query></iq>"
        )
        assert (await romeo.element()).get("id") == "r2"
        push = await romeo.element()
        item = push.find(f"{q('query', ns.ROSTER)}/{q('item', ns.ROSTER)}")
        assert push.get("type") == "set" and item.get("subscription") == "none"
        await romeo.send(f"<iq type='get' id='r3'><query xmlns='{ns.ROSTER}'/></iq>")
        full = await romeo.element()
        assert [i.get("jid") for i in full.iter(q("item", ns.ROSTER))] == ["nurse@localhost"]
        await romeo.close()

    run(test)


def test_subscription_preapproval_like_prosody() -> None:
    async def test(server: ReferenceServer) -> None:
        alice = await RawClient.logged_in(server.port, "alice")
        await alice.send("<presence/>")
        await alice.element()
        await alice.send("<presence to='bob@localhost' type='subscribed'/>")
        bob = await RawClient.logged_in(server.port, "bob")
        await bob.send(f"<iq type='get' id='r1'><query xmlns='{ns.ROSTER}'/></iq>")
        await bob.element()
        await bob.send("<presence/>")
        await bob.element()
        await bob.send("<presence to='alice@localhost' type='subscribe'/>")
        push = await bob.wait_for(lambda e: e.tag == q("iq"))
        item = push.find(f".//{q('item', ns.ROSTER)}")
        assert (item.get("ask"), item.get("subscription")) == ("subscribe", "none")
        assert push.find(q("query", ns.ROSTER)).get("ver") == "1"
        approved = await bob.wait_for(lambda e: e.tag == q("presence"))
        assert (approved.get("type"), approved.get("from")) == ("subscribed", "alice@localhost")
        await alice.send(f"<iq type='get' id='r2'><query xmlns='{ns.ROSTER}'/></iq>")
        roster = await alice.wait_for(lambda e: e.get("id") == "r2")
        item = roster.find(f".//{q('item', ns.ROSTER)}")
        assert (item.get("jid"), item.get("subscription")) == ("bob@localhost", "from")
        assert roster.find(q("query", ns.ROSTER)).get("ver") == "3"
        await alice.close()
        await bob.close()

    run(test)


def test_subscription_request_kept_whole_until_initial_presence() -> None:
    async def test(server: ReferenceServer) -> None:
        alice = await RawClient.logged_in(server.port, "alice")
        await alice.send(
            "<presence to='bob@localhost' type='subscribe'>"
            "<preauth xmlns='urn:xmpp:pars:0' token='t0k'/></presence>"
        )
        await alice.close()
        for resource in ("laptop", "phone"):
            bob = await RawClient.logged_in(server.port, "bob", resource=resource)
            await bob.send("<presence/>")
            request = await bob.wait_for(lambda e: e.get("type") == "subscribe")
            assert request.get("from") == "alice@localhost"
            assert request.find(q("preauth", "urn:xmpp:pars:0")).get("token") == "t0k"
            await bob.close()

    run(test)


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_scram_login_proves_both_sides(mechanism: str) -> None:
    async def test(server: ReferenceServer) -> None:
        for password, accepted in (("secret", True), ("guess", False)):
            client = await RawClient.connect(server.port)
            await client.open_stream()
            scram = ScramClient(mechanism.removeprefix("SCRAM-"), "romeo", password)
            first = base64.b64encode(scram.first_message()).decode()
            await client.send(f"<auth xmlns='{ns.SASL}' mechanism='{mechanism}'>{first}</auth>")
            challenge = await client.element()
            final = scram.final_message(base64.b64decode(challenge.text or ""))
            await client.send(
                f"<response xmlns='{ns.SASL}'>{base64.b64encode(final).decode()}</response>"
            )
            outcome = await client.element()
            if accepted:
                assert outcome.tag == q("success", ns.SASL)
                scram.verify(base64.b64decode(outcome.text or ""))
            else:
                assert outcome.tag == q("failure", ns.SASL)
                assert outcome.find(q("not-authorized", ns.SASL)) is not None
            await client.close()

    run(test, accounts={"romeo": "secret"})
