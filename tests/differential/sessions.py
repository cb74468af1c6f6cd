"""Random MUC sessions, reproducible from a seed: what 2-4 clients do, in order.

A session is a list of actions (connect, send a stanza, disconnect) by clients
that log in as fixed users. The generator keeps a rough model of the rooms
(who it believes is where, under which nick, which password is set) only to
make actions likely to matter: a join usually reuses a known password, a
private message usually goes to a nick present in the room. Whatever the
server really does is recorded, so the model may be wrong without harm.

Room names carry the seed and a variant (a few letters), so a session can be
played again on the same server under fresh rooms whose names have the same
length (history limits in characters depend on it).

Requests that make Prosody 0.12.3 fail (docs/deviations.md) are never
generated: a differential run must not hang its oracle.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

SERVICE = "conference.localhost"
USERS = ("romeo", "juliet", "nurse", "mercutio")
NICKS = ("Romeo", "Juliet", "Nurse", "Mercutio", "Friar", "Tybalt")
WORDS = ("wherefore", "art", "thou", "balcony", "nightingale", "lark", "dagger", "poison")

MUC = "http://jabber.org/protocol/muc"
MUC_USER = "http://jabber.org/protocol/muc#user"
MUC_ADMIN = "http://jabber.org/protocol/muc#admin"
MUC_OWNER = "http://jabber.org/protocol/muc#owner"
CONFIG = "http://jabber.org/protocol/muc#roomconfig"
COMMANDS = "http://jabber.org/protocol/commands"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


@dataclass(frozen=True)
class Action:
    client: int  # index into Session.users
    kind: Literal["connect", "send", "disconnect"]
    xml: str = ""


@dataclass
class Session:
    seed: int
    users: tuple[str, ...]
    actions: list[Action] = field(default_factory=list)

    def room_prefix(self, variant: str) -> str:
        return f"s{self.seed:05d}{variant}"


def room_name(seed: int, variant: str, index: int) -> str:
    return f"s{seed:05d}{variant}{index}"


@dataclass
class _Model:
    """What the generator believes: enough to aim actions, never to predict answers."""

    rooms: list[str]
    connected: set[int] = field(default_factory=set)
    where: dict[int, tuple[str, str]] = field(default_factory=dict)  # client -> (room, nick)
    passwords: dict[str, str] = field(default_factory=dict)
    counter: int = 0

    def next_id(self) -> str:
        self.counter += 1
        return f"a{self.counter}"

    def occupants(self, room: str) -> list[tuple[int, str]]:
        return [(c, nick) for c, (r, nick) in self.where.items() if r == room]


class _Generator:
    def __init__(self, seed: int, variant: str) -> None:
        self.rng = random.Random(seed)
        count = self.rng.randint(2, 4)
        self.session = Session(seed, USERS[:count])
        rooms = [room_name(seed, variant, i) for i in range(self.rng.randint(1, 2))]
        self.model = _Model(rooms)

    # -- helpers -------------------------------------------------------------------

    def emit(
        self, client: int, kind: Literal["connect", "send", "disconnect"], xml: str = ""
    ) -> None:
        self.session.actions.append(Action(client, kind, xml))

    def room(self) -> str:
        return f"{self.rng.choice(self.model.rooms)}@{SERVICE}"

    def own_room(self, client: int) -> str:
        placed = self.model.where.get(client)
        return f"{placed[0]}@{SERVICE}" if placed and self.rng.random() < 0.85 else self.room()

    def nick_for(self, client: int) -> str:
        if self.rng.random() < 0.7:
            return NICKS[client]
        return self.rng.choice(NICKS)

    def other_nick(self, client: int) -> str:
        placed = self.model.where.get(client)
        present = [n for c, n in self.model.occupants(placed[0])] if placed else []
        if present and self.rng.random() < 0.8:
            return self.rng.choice(present)
        return self.rng.choice(NICKS)

    def other_user(self, client: int) -> str:
        others = [u for i, u in enumerate(self.session.users) if i != client]
        return f"{self.rng.choice(others)}@localhost"

    def text(self) -> str:
        return " ".join(self.rng.choice(WORDS) for _ in range(self.rng.randint(1, 4)))

    # -- the session ---------------------------------------------------------------

    def generate(self, steps: int) -> Session:
        for client in range(len(self.session.users)):
            self.connect(client)
        creator = 0
        self.join(creator, f"{self.model.rooms[0]}@{SERVICE}", NICKS[0], history=False)
        if self.rng.random() < 0.8:
            self.configure(creator, instant=True)
        actions = [
            (self.join, 14),
            (self.leave, 4),
            (self.nick_change, 5),
            (self.presence_update, 4),
            (self.groupchat, 14),
            (self.private_message, 5),
            (self.subject, 4),
            (self.configure, 6),
            (self.config_form, 2),
            (self.affiliation, 5),
            (self.affiliation_list, 3),
            (self.role, 4),
            (self.destroy, 1),
            (self.invite, 3),
            (self.disco, 4),
            (self.register, 3),
            (self.occupant_iq, 4),
            (self.archive_query, 3),
            (self.subscription, 2),
            (self.stray, 3),
            (self.voice_request, 1),
        ]
        makers = [maker for maker, _ in actions]
        weights = [weight for _, weight in actions]
        for _ in range(steps):
            client = self.rng.randrange(len(self.session.users))
            self.rng.choices(makers, weights)[0](client)
        for client in sorted(self.model.connected):
            self.emit(client, "disconnect")
        return self.session

    def connect(self, client: int) -> None:
        self.emit(client, "connect")
        self.model.connected.add(client)

    def join(
        self, client: int, room: str | None = None, nick: str | None = None, history: bool = True
    ) -> None:
        room = room or self.room()
        nick = nick or self.nick_for(client)
        parts = []
        password = self.model.passwords.get(room.partition("@")[0])
        if password is not None and self.rng.random() < 0.8:
            parts.append(f"<password>{escape(password)}</password>")
        elif self.rng.random() < 0.1:
            parts.append("<password>guess</password>")
        if history and self.rng.random() < 0.5:
            limit = self.rng.choice(
                [
                    'maxstanzas="0"',
                    'maxstanzas="1"',
                    'maxstanzas="3"',
                    'maxchars="0"',
                    'maxchars="400"',
                    'seconds="60"',
                    'maxstanzas="2" maxchars="2000"',
                ]
            )
            parts.append(f"<history {limit}/>")
        self.emit(
            client,
            "send",
            f'<presence to="{room}/{nick}"><x xmlns="{MUC}">{"".join(parts)}</x></presence>',
        )
        self.model.where[client] = (room.partition("@")[0], nick)

    def leave(self, client: int) -> None:
        placed = self.model.where.pop(client, None)
        target = f"{placed[0]}@{SERVICE}/{placed[1]}" if placed else f"{self.room()}/x"
        status = f"<status>{escape(self.text())}</status>" if self.rng.random() < 0.3 else ""
        self.emit(client, "send", f'<presence to="{target}" type="unavailable">{status}</presence>')

    def nick_change(self, client: int) -> None:
        placed = self.model.where.get(client)
        room = f"{placed[0]}@{SERVICE}" if placed else self.room()
        nick = self.rng.choice(NICKS)
        self.emit(client, "send", f'<presence to="{room}/{nick}"/>')
        if placed:
            self.model.where[client] = (placed[0], nick)

    def presence_update(self, client: int) -> None:
        placed = self.model.where.get(client)
        target = (
            f"{placed[0]}@{SERVICE}/{placed[1]}" if placed else f"{self.room()}/{NICKS[client]}"
        )
        show = self.rng.choice(("away", "dnd", "xa", "chat"))
        self.emit(
            client,
            "send",
            f'<presence to="{target}"><show>{show}</show><status>{self.text()}</status></presence>',
        )

    def groupchat(self, client: int) -> None:
        room = self.own_room(client)
        ident = self.model.next_id()
        payload = self.rng.choices(
            [
                f"<body>{self.text()}</body>",
                '<active xmlns="http://jabber.org/protocol/chatstates"/>',
                f'<body>{self.text()}</body><no-store xmlns="urn:xmpp:hints"/>',
            ],
            [8, 1, 1],
        )[0]
        self.emit(
            client,
            "send",
            f'<message to="{room}" type="groupchat" id="{ident}">{payload}</message>',
        )

    def private_message(self, client: int) -> None:
        room = self.own_room(client)
        target = f"{room}/{self.other_nick(client)}"
        ident = self.model.next_id()
        self.emit(
            client,
            "send",
            f'<message to="{target}" type="chat" id="{ident}"><body>{self.text()}</body></message>',
        )

    def subject(self, client: int) -> None:
        room = self.own_room(client)
        subject = self.text() if self.rng.random() < 0.85 else ""
        self.emit(
            client,
            "send",
            f'<message to="{room}" type="groupchat"><subject>{subject}</subject></message>',
        )

    def _iq(self, client: int, to: str, kind: str, payload: str) -> None:
        ident = self.model.next_id()
        self.emit(client, "send", f'<iq to="{to}" type="{kind}" id="{ident}">{payload}</iq>')

    def configure(self, client: int, instant: bool = False) -> None:
        room = self.own_room(client)
        fields = [("FORM_TYPE", CONFIG)]
        if not instant:
            choices = {
                "muc#roomconfig_roomname": lambda: self.rng.choice(("Verona", "Mantua", "")),
                "muc#roomconfig_persistentroom": lambda: self.rng.choice("01"),
                "muc#roomconfig_membersonly": lambda: self.rng.choice("01"),
                "muc#roomconfig_moderatedroom": lambda: self.rng.choice("01"),
                "muc#roomconfig_publicroom": lambda: self.rng.choice("01"),
                "muc#roomconfig_changesubject": lambda: self.rng.choice("01"),
                "muc#roomconfig_whois": lambda: self.rng.choice(("anyone", "moderators")),
                "muc#roomconfig_historylength": lambda: str(self.rng.randint(0, 5)),
                "muc#roomconfig_passwordprotectedroom": lambda: self.rng.choice("01"),
            }
            for var in self.rng.sample(sorted(choices), self.rng.randint(1, 4)):
                fields.append((var, choices[var]()))
            protected = dict(fields).get("muc#roomconfig_passwordprotectedroom")
            name = room.partition("@")[0]
            if protected == "1":
                secret = self.rng.choice(("capulet", "montague"))
                fields.append(("muc#roomconfig_roomsecret", secret))
                self.model.passwords[name] = secret
            elif protected == "0":
                self.model.passwords.pop(name, None)
        rendered = "".join(
            f"<field var={quoteattr(var)}><value>{escape(value)}</value></field>"
            for var, value in fields
        )
        form = f'<x xmlns="jabber:x:data" type="submit">{rendered}</x>'
        self._iq(client, room, "set", f'<query xmlns="{MUC_OWNER}">{form}</query>')

    def config_form(self, client: int) -> None:
        self._iq(client, self.own_room(client), "get", f'<query xmlns="{MUC_OWNER}"/>')

    def affiliation(self, client: int) -> None:
        affiliation = self.rng.choice(("member", "member", "admin", "owner", "outcast", "none"))
        reason = f"<reason>{self.text()}</reason>" if self.rng.random() < 0.3 else ""
        item = f'<item affiliation="{affiliation}" jid="{self.other_user(client)}">{reason}</item>'
        self._iq(client, self.own_room(client), "set", f'<query xmlns="{MUC_ADMIN}">{item}</query>')

    def affiliation_list(self, client: int) -> None:
        wanted = self.rng.choice(
            (
                'affiliation="member"',
                'affiliation="owner"',
                'affiliation="outcast"',
                'affiliation="admin"',
                'role="moderator"',
                'role="participant"',
            )
        )
        self._iq(
            client,
            self.own_room(client),
            "get",
            f'<query xmlns="{MUC_ADMIN}"><item {wanted}/></query>',
        )

    def role(self, client: int) -> None:
        role = self.rng.choice(("visitor", "participant", "moderator", "none"))
        item = f'<item nick="{self.other_nick(client)}" role="{role}"/>'
        self._iq(client, self.own_room(client), "set", f'<query xmlns="{MUC_ADMIN}">{item}</query>')

    def destroy(self, client: int) -> None:
        room = self.own_room(client)
        reason = f"<reason>{self.text()}</reason>" if self.rng.random() < 0.5 else ""
        self._iq(
            client, room, "set", f'<query xmlns="{MUC_OWNER}"><destroy>{reason}</destroy></query>'
        )
        name = room.partition("@")[0]
        for other, (where, _) in list(self.model.where.items()):
            if where == name:
                del self.model.where[other]

    def invite(self, client: int) -> None:
        reason = f"<reason>{self.text()}</reason>" if self.rng.random() < 0.5 else ""
        invite = f'<invite to="{self.other_user(client)}">{reason}</invite>'
        self.emit(
            client,
            "send",
            f'<message to="{self.own_room(client)}"><x xmlns="{MUC_USER}">{invite}</x></message>',
        )

    def disco(self, client: int) -> None:
        # Not the service's items: they list other sessions' public rooms.
        kind = self.rng.choice(("info", "items"))
        targets = [self.own_room(client), f"{self.own_room(client)}/{self.other_nick(client)}"]
        if kind == "info":
            targets.append(SERVICE)
        target = self.rng.choice(targets)
        self._iq(client, target, "get", f'<query xmlns="http://jabber.org/protocol/disco#{kind}"/>')

    def register(self, client: int) -> None:
        room = self.own_room(client)
        if self.rng.random() < 0.5:
            self._iq(client, room, "get", '<query xmlns="jabber:iq:register"/>')
            return
        form = (
            '<x xmlns="jabber:x:data" type="submit">'
            '<field var="FORM_TYPE"><value>http://jabber.org/protocol/muc#register</value></field>'
            f'<field var="muc#register_roomnick"><value>{self.nick_for(client)}</value></field>'
            "</x>"
        )
        self._iq(client, room, "set", f'<query xmlns="jabber:iq:register">{form}</query>')

    def occupant_iq(self, client: int) -> None:
        target = f"{self.own_room(client)}/{self.other_nick(client)}"
        payload = self.rng.choice(
            (
                '<ping xmlns="urn:xmpp:ping"/>',
                '<vCard xmlns="vcard-temp"/>',
                '<query xmlns="jabber:iq:version"/>',
            )
        )
        self._iq(client, target, "get", payload)

    def archive_query(self, client: int) -> None:
        room = self.own_room(client)
        if self.rng.random() < 0.25:
            self._iq(client, room, "get", '<query xmlns="urn:xmpp:mam:2"/>')
            return
        page = ""
        if self.rng.random() < 0.5:
            limit = self.rng.randint(1, 5)
            page = f'<set xmlns="http://jabber.org/protocol/rsm"><max>{limit}</max></set>'
        query_id = self.model.next_id()
        self._iq(
            client,
            room,
            "set",
            f'<query xmlns="urn:xmpp:mam:2" queryid="{query_id}">{page}</query>',
        )

    def subscription(self, client: int) -> None:
        kind = self.rng.choice(("subscribe", "probe", "unsubscribe"))
        target = self.rng.choice(
            (self.own_room(client), f"{self.own_room(client)}/{self.other_nick(client)}")
        )
        self.emit(client, "send", f'<presence to="{target}" type="{kind}"/>')

    def stray(self, client: int) -> None:
        """Requests a room does not expect: stray results and errors, foreign iqs, outsiders."""
        room = self.own_room(client)
        occupant = f"{room}/{self.other_nick(client)}"
        missing = f"{self.model.rooms[0]}x@{SERVICE}"
        somewhere = self.rng.choice((room, missing))
        ident = self.model.next_id()
        error = f'<error type="cancel"><item-not-found xmlns="{STANZAS}"/></error>'
        commands = f'<query xmlns="http://jabber.org/protocol/disco#info" node="{COMMANDS}"/>'
        choices = (
            f'<iq to="{self.rng.choice((room, occupant, missing))}" type="result" id="{ident}"/>',
            f'<iq to="{somewhere}" type="error" id="{ident}">{error}</iq>',
            f'<iq to="{somewhere}" type="get" id="{ident}"><ping xmlns="urn:xmpp:ping"/></iq>',
            f'<iq to="{somewhere}" type="get" id="{ident}"><query xmlns="jabber:iq:version"/></iq>',
            f'<iq to="{SERVICE}" type="get" id="{ident}"><unique xmlns="{MUC}#unique"/></iq>',
            f'<iq to="{SERVICE}" type="get" id="{ident}">{commands}</iq>',
            f'<presence to="{somewhere}"/>',
            f'<message to="{missing}" type="groupchat" id="{ident}"><body>hello?</body></message>',
            f'<message to="{occupant}" type="groupchat" id="{ident}"><body>psst</body></message>',
        )
        self.emit(client, "send", self.rng.choice(choices))

    def voice_request(self, client: int) -> None:
        form = (
            '<x xmlns="jabber:x:data" type="submit">'
            '<field var="FORM_TYPE"><value>http://jabber.org/protocol/muc#request</value></field>'
            '<field var="muc#role"><value>participant</value></field></x>'
        )
        self.emit(client, "send", f'<message to="{self.own_room(client)}">{form}</message>')


def generate(seed: int, variant: str = "p", steps: int | None = None) -> Session:
    """The session for `seed`: 2-4 clients, 10-40 actions after the opening join."""
    generator = _Generator(seed, variant)
    count = steps if steps is not None else random.Random(seed * 7919).randint(10, 40)
    return generator.generate(count)
