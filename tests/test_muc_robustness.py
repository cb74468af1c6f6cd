"""Malformed and unexpected stanzas never break the MUC service: each is answered or dropped."""

from __future__ import annotations

import random

import pytest
from muc_helpers import HOST, configure, join, service, stanza

ROOM = f"fz@{HOST}"
A = "a@localhost/1"
ADMIN = "admin@localhost/1"
FORM = "<x xmlns='jabber:x:data' type='submit'>{}</x>"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


def field(var: str, *values: str) -> str:
    return f"<field var='{var}'>" + "".join(f"<value>{v}</value>" for v in values) + "</field>"


def iq(payload: str, to: str = ROOM, kind: str = "set", sender: str = A) -> str:
    return f"<iq from='{sender}' to='{to}' type='{kind}' id='1'>{payload}</iq>"


def query(ns: str, body: str = "") -> str:
    return f"<query xmlns='{ns}'>{body}</query>"


def command(node: str, *fields: str) -> str:
    body = FORM.format("".join(fields)) if fields else ""
    return iq(
        f"<command xmlns='http://jabber.org/protocol/commands' node='{node}'>{body}</command>",
        to=HOST,
        sender=ADMIN,
    )


def message(body: str, to: str = ROOM, kind: str | None = None, sender: str = A) -> str:
    typed = f" type='{kind}'" if kind else ""
    return f"<message from='{sender}' to='{to}'{typed}>{body}</message>"


MUC_USER = "http://jabber.org/protocol/muc#user"
ROOMCONFIG = field("FORM_TYPE", "http://jabber.org/protocol/muc#roomconfig")
SET_AFFILIATION = "http://prosody.im/protocol/muc#set-affiliation"
MALFORMED = [
    iq("<foo xmlns='jabber:iq:register'/>"),
    iq(query("jabber:iq:register")),
    iq(
        query(
            "jabber:iq:register",
            FORM.format(field("FORM_TYPE", "http://jabber.org/protocol/muc#register")),
        )
    ),
    iq(query("http://jabber.org/protocol/muc#admin")),
    iq(query("http://jabber.org/protocol/muc#admin", "<item/>")),
    iq(query("http://jabber.org/protocol/muc#admin", "<item affiliation='x' jid='@@'/>")),
    iq(query("http://jabber.org/protocol/muc#admin", "<item role='x' nick='zz'/>")),
    iq(query("http://jabber.org/protocol/muc#admin"), kind="get"),
    iq(query("http://jabber.org/protocol/muc#owner")),
    iq(query("http://jabber.org/protocol/muc#owner", "<x xmlns='jabber:x:data'/>")),
    iq(query("http://jabber.org/protocol/muc#owner", "<destroy jid='@@'/>")),
    iq(
        query(
            "http://jabber.org/protocol/muc#owner",
            FORM.format(
                ROOMCONFIG
                + field("muc#roomconfig_presencebroadcast")
                + field("muc#roomconfig_historylength", "-5")
                + field("muc#roomconfig_whois", "x")
                + field("muc#roomconfig_defaulthistorymessages", "zz")
            ),
        )
    ),
    iq(
        query(
            "urn:xmpp:mam:2",
            "<set xmlns='http://jabber.org/protocol/rsm'><max>x</max><after>no</after></set>",
        )
    ),
    iq("<foo xmlns='urn:xmpp:mam:2'/>"),
    iq("<query xmlns='http://jabber.org/protocol/disco#info' node=''/>", kind="get"),
    iq("<command xmlns='http://jabber.org/protocol/commands'/>", to=HOST),
    command(
        SET_AFFILIATION, field("room", "nope"), field("jid", "b@c"), field("affiliation", "member")
    ),
    command(
        SET_AFFILIATION, field("room", ROOM), field("jid", "b@c"), field("affiliation", "bogus")
    ),
    command("http://prosody.im/protocol/muc#destroy", field("rooms", "@@@")),
    message(f"<x xmlns='{MUC_USER}'><invite/></x>"),
    message(f"<x xmlns='{MUC_USER}'><invite to='@@bad'/></x>"),
    message(f"<x xmlns='{MUC_USER}'><decline to='{ROOM}/Zed'/></x>", sender="b@localhost/1"),
    message(FORM.format(field("FORM_TYPE", "http://jabber.org/protocol/muc#request"))),
    message(
        FORM.format(field("FORM_TYPE", "http://jabber.org/protocol/muc#request")),
        sender="b@localhost/1",
    ),
    message("<subject/>", kind="groupchat"),
    message("", to=f"{ROOM}/B", kind="error"),
    message("<error/>", kind="error"),
    f"<presence from='{A}' to='{ROOM}/A' type='error'/>",
    f"<presence from='{A}' to='{ROOM}/A' type='bogus'/>",
    f"<presence from='{A}' to='{ROOM}' type='unavailable'/>",
    f"<presence from='{A}' to='{ROOM}/A'><x xmlns='http://jabber.org/protocol/muc'>"
    "<history maxstanzas='x' seconds='y' since='nope' maxchars='-1'/></x></presence>",
    f"<iq from='{A}' to='{ROOM}/B' type='result' id='!!!'/>",
    f"<iq from='{A}' to='{ROOM}/B' type='result' id='YQBiAGM='/>",
    f"<iq from='{A}' to='{ROOM}/B' type='get' id='1'/>",
    f"<iq from='{A}' to='{ROOM}' type='get'/>",
    f"<presence to='{ROOM}/A'/>",
]


@pytest.mark.parametrize("seed", range(10))
def test_malformed_stanzas_in_any_order_raise_nothing(seed: int) -> None:
    muc, router = service()
    join(muc, A, "fz", "A")
    configure(muc, A, "fz")
    join(muc, "b@localhost/1", "fz", "B")
    stanzas = list(MALFORMED)
    random.Random(seed).shuffle(stanzas)
    for text in stanzas:
        muc.handle(stanza(text))
    errors = [s for s in router.sent if s.get("type") == "error"]
    assert errors
    assert all(s.find("{jabber:client}error") is not None for s in errors)
    failed = f"{{jabber:client}}error/{{{STANZAS}}}internal-server-error"
    assert not any(s.find(failed) is not None for s in errors), "a handler raised"
