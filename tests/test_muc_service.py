"""The MUC service through its Router interface: what it sends, and how often it serialises."""

from __future__ import annotations

from lxml import etree
from muc_helpers import HOST, MUC_USER, configure, groupchat, join, service, stanza, statuses

from reference.muc.xml import DELAY

ROOM = f"garden@{HOST}"


def test_creating_a_room_makes_its_creator_owner_and_locks_it() -> None:
    muc, router = service()
    join(muc, "romeo@localhost/a", "garden", "Romeo")
    own, subject = router.take()
    assert own.get("from") == f"{ROOM}/Romeo"
    assert statuses(own) == ["201", "110"]
    item = own.find(f"{{{MUC_USER}}}x/{{{MUC_USER}}}item")
    assert (item.get("affiliation"), item.get("role")) == ("owner", "moderator")
    assert subject.find("{jabber:client}subject") is not None

    join(muc, "juliet@localhost/b", "garden", "Juliet")
    (refusal,) = router.take()
    assert refusal.get("type") == "error"
    error = refusal.find("{jabber:client}error")
    assert error.get("by") == HOST
    assert error[0].tag.endswith("item-not-found")


def test_a_joining_user_gets_others_then_self_then_history_then_subject() -> None:
    muc, router = service()
    join(muc, "romeo@localhost/a", "garden", "Romeo")
    configure(muc, "romeo@localhost/a", "garden")
    groupchat(muc, "romeo@localhost/a", "garden", "hi")
    router.take()

    join(muc, "juliet@localhost/b", "garden", "Juliet")
    to_juliet = router.to("juliet@localhost/b")
    assert [s.get("from") for s in to_juliet] == [
        f"{ROOM}/Romeo",
        f"{ROOM}/Juliet",
        f"{ROOM}/Romeo",
        ROOM,
    ]
    assert "110" in statuses(to_juliet[1])
    assert to_juliet[2].find(f"{{{DELAY}}}delay").get("from") == ROOM
    assert to_juliet[3].find("{jabber:client}subject") is not None
    (to_romeo,) = router.to("romeo@localhost/a")
    assert to_romeo.get("from") == f"{ROOM}/Juliet"


def test_a_broadcast_is_serialised_once_whatever_the_number_of_occupants() -> None:
    muc, router = service()
    join(muc, "owner@localhost/a", "garden", "Owner")
    configure(muc, "owner@localhost/a", "garden")
    for n in range(40):
        join(muc, f"user{n}@localhost/r", "garden", f"User{n}")
    router.take()
    router.broadcasts = 0
    groupchat(muc, "user3@localhost/r", "garden", "x")
    assert router.broadcasts == 1
    assert len(router.take()) == 41

    # A newcomer's presence reaches the others in at most two serialisations
    # (with and without real JIDs), not one per occupant.
    join(muc, "late@localhost/r", "garden", "Late")
    assert router.broadcasts <= 1 + 2 + 1


def test_nick_change_is_303_then_the_new_presence() -> None:
    muc, router = service()
    join(muc, "romeo@localhost/a", "garden", "Romeo")
    configure(muc, "romeo@localhost/a", "garden")
    join(muc, "juliet@localhost/b", "garden", "Juliet")
    router.take()
    muc.handle(stanza(f"<presence from='juliet@localhost/b' to='{ROOM}/Capulet'/>"))
    gone, arrived = router.to("romeo@localhost/a")
    assert gone.get("type") == "unavailable" and statuses(gone) == ["303"]
    assert gone.find(f"{{{MUC_USER}}}x/{{{MUC_USER}}}item").get("nick") == "Capulet"
    assert arrived.get("from") == f"{ROOM}/Capulet"
    assert muc.get_room(ROOM).jid_nick["juliet@localhost/b"] == f"{ROOM}/Capulet"


def test_kicked_occupant_leaves_the_indexes() -> None:
    muc, router = service()
    join(muc, "romeo@localhost/a", "garden", "Romeo")
    configure(muc, "romeo@localhost/a", "garden")
    join(muc, "tybalt@localhost/t", "garden", "Tybalt")
    router.take()
    muc.handle(
        stanza(
            f"<iq from='romeo@localhost/a' to='{ROOM}' type='set' id='k'>"
            "<query xmlns='http://jabber.org/protocol/muc#admin'>"
            "<item nick='Tybalt' role='none'><reason>out</reason></item></query></iq>"
        )
    )
    room = muc.get_room(ROOM)
    assert f"{ROOM}/Tybalt" not in room.occupants
    assert "tybalt@localhost/t" not in room.jid_nick
    kicked = router.to("tybalt@localhost/t")
    assert statuses(kicked[0]) == ["307", "110"]


def test_an_empty_temporary_room_disappears() -> None:
    muc, _ = service()
    join(muc, "romeo@localhost/a", "garden", "Romeo")
    configure(muc, "romeo@localhost/a", "garden")
    muc.handle(stanza(f"<presence from='romeo@localhost/a' to='{ROOM}/Romeo' type='unavailable'/>"))
    assert muc.get_room(ROOM) is None


def test_stanzas_for_a_missing_room_are_answered_item_not_found() -> None:
    muc, router = service()
    groupchat(muc, "romeo@localhost/a", "nowhere", "x")
    (answer,) = router.take()
    assert answer.get("type") == "error"
    assert answer.find("{jabber:client}error").get("by") == HOST


def test_history_replays_what_was_said_with_the_rooms_stamp_within_the_asked_limits() -> None:
    muc, router = service()
    join(muc, "romeo@localhost/a", "garden", "Romeo")
    # Without the archive, which would answer while the history is not full.
    configure(muc, "romeo@localhost/a", "garden", {"muc#roomconfig_enablearchiving": "0"})
    for body in ("one", "two", "three"):
        groupchat(muc, "romeo@localhost/a", "garden", body)
    router.take()

    def history_for(nick: str, request: str) -> list[etree._Element]:
        real = f"{nick.lower()}@localhost/r"
        join(muc, real, "garden", nick, request)
        return [s for s in router.to(real) if s.find(f"{{{DELAY}}}delay") is not None]

    replayed = history_for("Juliet", "<history seconds='60'/>")
    assert [s.findtext("{jabber:client}body") for s in replayed] == ["one", "two", "three"]
    for message in replayed:
        assert message.get("to") == "juliet@localhost/r"
        assert message.get("from") == f"{ROOM}/Romeo"
        assert message.find(f"{{{DELAY}}}delay").get("from") == ROOM
        assert message.find(f"{{{DELAY}}}delay").get("stamp", "").endswith("Z")
    # maxchars counts each message as replayed (delay included) plus the recipient's JID.
    last = replayed[-1]
    del last.attrib["to"]
    one_message = len(etree.tostring(last)) + len("nurse@localhost/r")
    assert [
        s.findtext("{jabber:client}body")
        for s in history_for("Nurse", f"<history maxchars='{one_message}'/>")
    ] == ["three"]
    assert (
        history_for("Friar", "<history maxstanzas='2'/>")[0].findtext("{jabber:client}body")
        == "two"
    )
    assert history_for("Tybalt", "<history since='2999-01-01T00:00:00Z'/>") == []


def test_the_last_occupant_changing_nick_gets_no_history_from_the_destroyed_archive() -> None:
    muc, router = service()
    join(muc, "romeo@localhost/a", "garden", "Romeo")
    configure(muc, "romeo@localhost/a", "garden")
    groupchat(muc, "romeo@localhost/a", "garden", "sorrow")
    router.take()
    join(muc, "romeo@localhost/a", "garden", "Montague", "<history maxstanzas='3'/>")
    received = router.to("romeo@localhost/a")
    assert [s.findtext("{jabber:client}body") for s in received if s.tag.endswith("message")] == [
        None  # the subject only: the room was destroyed between the two nicks
    ]
    assert "303" in statuses(received[0])
