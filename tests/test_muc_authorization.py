"""Every privileged MUC operation, tried by each lower affiliation and role, is refused with
Prosody's error condition and changes nothing; a room's password never reaches non-owners;
a client cannot speak for someone else through the room.

The same expectations run against the reference server and, when the oracle is
installed, against Prosody 0.12.3 itself (that is where the conditions come from).
The room: owner, admin, member, a participant without affiliation, a visitor
(voice revoked) and an outsider who never joins; password-protected, subject
changes restricted to moderators.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

sys.path.insert(0, str(Path(__file__).parent / "soak"))

from loadgen import DATA, MUC, MUC_ADMIN, MUC_OWNER, MUC_USER, Session

from protocol import namespaces as ns
from reference.config import ServerConfig
from reference.server import ReferenceServer

COMMANDS = "http://jabber.org/protocol/commands"
DESTROY_COMMAND = "http://prosody.im/protocol/muc#destroy"
SECRET = "s3cret-Pa55word"
SUBJECT = "the original subject"
# Actors from the least to the most privileged (the owner is not tried: it may do anything).
USERS = {
    "outsider": "oscar",
    "visitor": "vic",
    "participant": "pat",
    "member": "mia",
    "admin": "adam",
    "owner": "olivia",
}
RANK = list(USERS)


@dataclass(frozen=True)
class Operation:
    name: str
    least: str  # the lowest actor allowed to do it
    request: Callable[[str, str], str]  # (room, id) -> the stanza
    condition: str  # Prosody's answer to anyone below `least`
    error_type: str
    outsider: tuple[str, str] | None = None  # (type, condition) when that differs for outsiders

    def expected(self, role: str) -> tuple[str, str]:
        if role == "outsider" and self.outsider is not None:
            return self.outsider
        return (self.error_type, self.condition)


def _iq(kind: str, namespace: str, payload: str = "") -> Callable[[str, str], str]:
    return lambda room, ident: (
        f"<iq type='{kind}' id='{ident}' to='{room}'><query xmlns='{namespace}'>{payload}"
        "</query></iq>"
    )


def _item(**attrs: str) -> str:
    return "<item " + " ".join(f"{k}='{v}'" for k, v in attrs.items()) + "/>"


_SUBMIT = (
    f"<x xmlns='{DATA}' type='submit'><field var='FORM_TYPE'><value>{MUC}#roomconfig</value>"
    "</field><field var='muc#roomconfig_roomname'><value>hijacked</value></field></x>"
)
OPERATIONS = [
    Operation("get configuration", "owner", _iq("get", MUC_OWNER), "forbidden", "auth"),
    Operation("set configuration", "owner", _iq("set", MUC_OWNER, _SUBMIT), "forbidden", "auth"),
    Operation("destroy", "owner", _iq("set", MUC_OWNER, "<destroy/>"), "forbidden", "auth"),
    Operation(
        "grant ownership",
        "owner",
        _iq("set", MUC_ADMIN, _item(jid="pat@localhost", affiliation="owner")),
        "not-allowed",
        "cancel",
    ),
    Operation(
        "grant admin",
        "owner",
        _iq("set", MUC_ADMIN, _item(jid="pat@localhost", affiliation="admin")),
        "not-allowed",
        "cancel",
    ),
    Operation(
        "revoke admin",
        "owner",
        _iq("set", MUC_ADMIN, _item(jid="adam@localhost", affiliation="none")),
        "not-allowed",
        "cancel",
    ),
    Operation(
        "kick the owner",
        "owner",
        _iq("set", MUC_ADMIN, _item(nick="olivia", role="none")),
        "not-allowed",
        "cancel",
    ),
    Operation(
        "ban the owner",
        "owner",
        _iq("set", MUC_ADMIN, _item(jid="olivia@localhost", affiliation="outcast")),
        "not-allowed",
        "cancel",
    ),
    Operation(
        "silence the owner",
        "owner",
        _iq("set", MUC_ADMIN, _item(nick="olivia", role="visitor")),
        "not-allowed",
        "cancel",
    ),
    Operation(
        "get owner list",
        "admin",
        _iq("get", MUC_ADMIN, _item(affiliation="owner")),
        "forbidden",
        "auth",
    ),
    Operation(
        "grant membership",
        "admin",
        _iq("set", MUC_ADMIN, _item(jid="pat@localhost", affiliation="member")),
        "not-allowed",
        "cancel",
    ),
    Operation(
        "revoke membership",
        "admin",
        _iq("set", MUC_ADMIN, _item(jid="mia@localhost", affiliation="none")),
        "not-allowed",
        "cancel",
    ),
    Operation(
        "ban",
        "admin",
        _iq("set", MUC_ADMIN, _item(jid="pat@localhost", affiliation="outcast")),
        "not-allowed",
        "cancel",
    ),
    Operation(
        "get member list",
        "admin",
        _iq("get", MUC_ADMIN, _item(affiliation="member")),
        "forbidden",
        "auth",
    ),
    Operation(
        "get ban list",
        "admin",
        _iq("get", MUC_ADMIN, _item(affiliation="outcast")),
        "forbidden",
        "auth",
    ),
    Operation(
        "kick",
        "admin",
        _iq("set", MUC_ADMIN, _item(nick="pat", role="none")),
        "not-allowed",
        "cancel",
    ),
    Operation(
        "grant voice",
        "admin",
        _iq("set", MUC_ADMIN, _item(nick="vic", role="participant")),
        "not-allowed",
        "cancel",
    ),
    Operation(
        "revoke voice",
        "admin",
        _iq("set", MUC_ADMIN, _item(nick="pat", role="visitor")),
        "not-allowed",
        "cancel",
    ),
    Operation(
        "grant moderation",
        "admin",
        _iq("set", MUC_ADMIN, _item(nick="pat", role="moderator")),
        "not-allowed",
        "cancel",
    ),
    Operation(
        "get moderator list",
        "admin",
        _iq("get", MUC_ADMIN, _item(role="moderator")),
        "forbidden",
        "auth",
    ),
    Operation(
        "change subject",
        "admin",
        lambda room, ident: (
            f"<message to='{room}' type='groupchat' id='{ident}'><subject>defaced</subject>"
            "</message>"
        ),
        "forbidden",
        "auth",
        outsider=("cancel", "not-acceptable"),  # not an occupant: may not send to the room at all
    ),
]


class Actor:
    def __init__(self, session: Session, nick: str) -> None:
        self.session = session
        self.nick = nick
        self.counter = 0
        self.replies: list[bytes] = []  # everything answered to this actor's requests

    async def ask(self, build: Callable[[str], str]) -> etree._Element:
        self.counter += 1
        ident = f"{self.nick}-{self.counter}"
        answer = await self.session.request(build(ident), lambda e: e.get("id") == ident)
        self.replies.append(etree.tostring(answer))
        return answer


def condition_of(stanza: etree._Element) -> tuple[str | None, str | None]:
    """(error type, defined condition) of an error stanza; (None, None) for a success."""
    error = stanza.find(f"{{{ns.CLIENT}}}error")
    if stanza.get("type") != "error" or error is None:
        return None, None
    names = [etree.QName(c).localname for c in error if etree.QName(c).namespace == ns.STANZAS]
    return error.get("type"), next((n for n in names if n != "text"), None)


@asynccontextmanager
async def room_with_everyone(host: tuple[str, int] | None) -> AsyncIterator[tuple[str, dict]]:
    """A fresh room on the reference server (host None) or at `host`, and its actors."""
    if host is None:
        async with ReferenceServer(ServerConfig()) as server, _populated(server.port) as populated:
            yield populated
    else:
        async with _populated(host[1]) as populated:
            yield populated


@asynccontextmanager
async def _populated(port: int) -> AsyncIterator[tuple[str, dict]]:
    room = f"authz-{uuid.uuid4().hex[:10]}@conference.localhost"
    actors: dict[str, Actor] = {}
    for index, (role, user) in enumerate(USERS.items()):
        session = Session(index, user)
        await session.connect(port)
        actors[role] = Actor(session, user)
    try:
        owner = actors["owner"]
        await _join(owner, room)
        form = await owner.ask(lambda i: _iq("set", MUC_OWNER, _room_form())(room, i))
        assert form.get("type") == "result", etree.tostring(form)
        for role, affiliation in (("admin", "admin"), ("member", "member")):
            answer = await owner.ask(
                lambda i, r=role, a=affiliation: _iq(
                    "set", MUC_ADMIN, _item(jid=f"{USERS[r]}@localhost", affiliation=a)
                )(room, i)
            )
            assert answer.get("type") == "result", etree.tostring(answer)
        for role in ("admin", "member", "participant", "visitor"):
            await _join(actors[role], room)
        answer = await owner.ask(
            lambda i: _iq("set", MUC_ADMIN, _item(nick="vic", role="visitor"))(room, i)
        )
        assert answer.get("type") == "result", etree.tostring(answer)
        await owner.session.request(
            f"<message to='{room}' type='groupchat'><subject>{SUBJECT}</subject></message>",
            lambda e: e.findtext(f"{{{ns.CLIENT}}}subject") == SUBJECT,
        )
        yield room, actors
    finally:
        for actor in actors.values():
            await actor.session.close()


def _room_form() -> str:
    fields = {
        "muc#roomconfig_roomname": "Authorization",
        "muc#roomconfig_passwordprotectedroom": "1",
        "muc#roomconfig_roomsecret": SECRET,
        "muc#roomconfig_changesubject": "0",
        "muc#roomconfig_publicroom": "1",
    }
    values = "".join(f"<field var='{k}'><value>{v}</value></field>" for k, v in fields.items())
    return (
        f"<x xmlns='{DATA}' type='submit'><field var='FORM_TYPE'>"
        f"<value>{MUC}#roomconfig</value></field>{values}</x>"
    )


async def _join(actor: Actor, room: str) -> None:
    answer = await actor.session.request(
        f"<presence to='{room}/{actor.nick}'><x xmlns='{MUC}'><password>{SECRET}</password>"
        "<history maxstanzas='0'/></x></presence>",
        lambda e: (
            e.get("from") == f"{room}/{actor.nick}"
            and (
                e.get("type") == "error"
                or e.find(f"{{{MUC_USER}}}x/{{{MUC_USER}}}status") is not None
            )
        ),
    )
    assert answer.get("type") != "error", etree.tostring(answer)


async def snapshot(owner: Actor, room: str) -> dict[str, object]:
    """What an operation could change: configuration, affiliations, roles, subject, existence."""
    state: dict[str, object] = {}
    form = await owner.ask(lambda i: _iq("get", MUC_OWNER)(room, i))
    assert form.get("type") == "result", etree.tostring(form)
    state["config"] = sorted(
        (f.get("var") or "", tuple(v.text or "" for v in f.iterfind(f"{{{DATA}}}value")))
        for f in form.iter(f"{{{DATA}}}field")
    )
    info = await owner.ask(lambda i: _iq("get", ns.DISCO_INFO)(room, i))
    assert info.get("type") == "result", etree.tostring(info)  # the room still exists
    state["info"] = sorted(
        (f.get("var") or "", tuple(v.text or "" for v in f.iterfind(f"{{{DATA}}}value")))
        for f in info.iter(f"{{{DATA}}}field")
    )
    for attr, value in [("affiliation", a) for a in ("owner", "admin", "member", "outcast")] + [
        ("role", r) for r in ("moderator", "participant", "visitor")
    ]:
        answer = await owner.ask(
            lambda i, a=attr, v=value: _iq("get", MUC_ADMIN, _item(**{a: v}))(room, i)
        )
        state[value] = sorted(
            (item.get("jid") or "", item.get("nick") or "")
            for item in answer.iter(f"{{{MUC_ADMIN}}}item")
        )
    return state


@pytest.fixture(params=["reference", pytest.param("prosody", marks=pytest.mark.prosody)])
def target(request: pytest.FixtureRequest) -> tuple[str, int] | None:
    if request.param == "reference":
        return None
    return request.getfixturevalue("prosody")


def test_privileged_operations_are_refused_below_their_rank_and_change_nothing(
    target: tuple[str, int] | None,
) -> None:
    async def main() -> list[str]:
        wrong: list[str] = []
        async with room_with_everyone(target) as (room, actors):
            owner = actors["owner"]
            before = await snapshot(owner, room)
            new_subject = owner.session.listen(
                lambda e: e.find(f"{{{ns.CLIENT}}}subject") is not None
            )
            for operation in OPERATIONS:
                for role in RANK[: RANK.index(operation.least)]:
                    answer = await actors[role].ask(lambda i, o=operation: o.request(room, i))
                    got = condition_of(answer)
                    if got != operation.expected(role):
                        wrong.append(
                            f"{operation.name} by {role}: got {got}, "
                            f"expected {operation.expected(role)}"
                        )
                    after = await snapshot(owner, room)
                    if after != before:
                        wrong.append(f"{operation.name} by {role} changed the room")
                        before = after
            if new_subject.done():
                wrong.append(f"the subject changed: {etree.tostring(new_subject.result())!r}")
            new_subject.cancel()
        return wrong

    wrong = asyncio.run(asyncio.wait_for(main(), 120))
    assert not wrong, "\n".join(wrong)


def test_destroy_command_is_for_service_admins_only(target: tuple[str, int] | None) -> None:
    """The ad-hoc destroy command (XEP-0050 on the service) refuses even the room's owner."""

    async def main() -> None:
        async with room_with_everyone(target) as (room, actors):
            before = await snapshot(actors["owner"], room)
            for role in RANK:
                answer = await actors[role].ask(
                    lambda i: (
                        f"<iq type='set' id='{i}' to='conference.localhost'>"
                        f"<command xmlns='{COMMANDS}' node='{DESTROY_COMMAND}' action='execute'>"
                        f"<x xmlns='{DATA}' type='submit'><field var='FORM_TYPE'>"
                        f"<value>{DESTROY_COMMAND}</value></field><field var='rooms'>"
                        f"<value>{room}</value></field></x></command></iq>"
                    )
                )
                assert condition_of(answer) == ("auth", "forbidden"), (role, answer.get("type"))
            assert await snapshot(actors["owner"], room) == before

    asyncio.run(asyncio.wait_for(main(), 60))


def test_room_password_never_reaches_non_owners(target: tuple[str, int] | None) -> None:
    async def main() -> None:
        async with room_with_everyone(target) as (room, actors):
            queries = [
                _iq("get", ns.DISCO_INFO),
                _iq("get", ns.DISCO_ITEMS),
                _iq("get", MUC_OWNER),
                _iq("get", MUC_ADMIN, _item(affiliation="member")),
            ]
            for role in RANK[:-1]:
                for query in queries:
                    await actors[role].ask(lambda i, q=query: q(room, i))
                await actors[role].ask(
                    lambda i: _iq("get", ns.DISCO_ITEMS)("conference.localhost", i)
                )
                await actors[role].ask(
                    lambda i: _iq("get", ns.DISCO_INFO)("conference.localhost", i)
                )
                seen = b"".join(actors[role].replies)
                assert SECRET.encode() not in seen, f"{role} learnt the room password"
            form = await actors["owner"].ask(lambda i: _iq("get", MUC_OWNER)(room, i))
            assert SECRET.encode() in etree.tostring(form), "the owner's form lacks the password"

    asyncio.run(asyncio.wait_for(main(), 60))


def test_no_one_speaks_for_someone_else_through_the_room(target: tuple[str, int] | None) -> None:
    """A `from` naming the owner is overwritten by the server: the room sees the real sender."""

    async def main() -> None:
        async with room_with_everyone(target) as (room, actors):
            owner, pat = actors["owner"], actors["participant"]
            before = await snapshot(owner, room)
            owner_jid = f"{USERS['owner']}@localhost/s{RANK.index('owner')}"
            answer = await pat.ask(
                lambda i: (
                    f"<iq type='set' id='{i}' to='{room}' from='{owner_jid}'>"
                    f"<query xmlns='{MUC_ADMIN}'>{_item(nick='mia', role='none')}</query></iq>"
                )
            )
            assert condition_of(answer) == ("cancel", "not-allowed")
            assert answer.get("to", "").startswith(f"{USERS['participant']}@localhost")
            heard = owner.session.listen(
                lambda e: e.findtext(f"{{{ns.CLIENT}}}body") == "as the owner"
            )
            await pat.session.send(
                f"<message to='{room}' type='groupchat' from='{owner_jid}'>"
                "<body>as the owner</body></message>"
            )
            message = await asyncio.wait_for(heard, 10)
            assert message.get("from") == f"{room}/{USERS['participant']}"
            assert await snapshot(owner, room) == before

    asyncio.run(asyncio.wait_for(main(), 60))
