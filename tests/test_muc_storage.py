"""Persistent rooms in SQLite: they survive a restart of the service; temporary rooms do not."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from muc_helpers import HOST, configure, join, service, stanza

from reference.muc.storage import RoomStore

ROOM = f"vault@{HOST}"


def _persistent_room(database: Path) -> None:
    muc, _ = service(database=database)
    join(muc, "romeo@localhost/a", "vault", "Romeo")
    configure(
        muc,
        "romeo@localhost/a",
        "vault",
        {
            "muc#roomconfig_persistentroom": "1",
            "muc#roomconfig_roomname": "The Vault",
            "muc#roomconfig_publicroom": "1",
            "muc#roomconfig_roomsecret": "s3cret",
        },
    )
    muc.handle(
        stanza(
            f"<iq from='romeo@localhost/a' to='{ROOM}' type='set' id='m'>"
            "<query xmlns='http://jabber.org/protocol/muc#admin'>"
            "<item affiliation='member' jid='juliet@localhost' nick='Jules'/></query></iq>"
        )
    )
    join(muc, "temp@localhost/a", "scratch", "Temp")
    configure(muc, "temp@localhost/a", "scratch")
    muc.close()


def test_a_persistent_room_comes_back_after_a_restart(tmp_path: Path) -> None:
    database = tmp_path / "muc.sqlite"
    _persistent_room(database)

    muc, router = service(database=database)
    room = muc.get_room(ROOM)
    assert room is not None
    assert room.data["name"] == "The Vault"
    assert room.data["password"] == "s3cret"
    assert room.affiliations == {"romeo@localhost": "owner", "juliet@localhost": "member"}
    assert room.registered_jid("Jules") == "juliet@localhost"
    assert muc.public_rooms == {ROOM: "The Vault"}
    assert muc.get_room(f"scratch@{HOST}") is None

    # It is usable at once: a wrong password is still refused.
    join(muc, "nurse@localhost/n", "vault", "Nurse", "<password>nope</password>")
    (refusal,) = router.take()
    assert refusal.find("{jabber:client}error")[0].tag.endswith("not-authorized")


def test_destroying_a_persistent_room_leaves_a_tombstone_that_survives(tmp_path: Path) -> None:
    database = tmp_path / "muc.sqlite"
    _persistent_room(database)
    muc, router = service(database=database)
    join(muc, "romeo@localhost/a", "vault", "Romeo", "<password>s3cret</password>")
    muc.handle(
        stanza(
            f"<iq from='romeo@localhost/a' to='{ROOM}' type='set' id='d'>"
            "<query xmlns='http://jabber.org/protocol/muc#owner'>"
            "<destroy><reason>Sealed</reason></destroy></query></iq>"
        )
    )
    muc.close()

    muc, router = service(database=database)
    join(muc, "juliet@localhost/j", "vault", "Juliet")
    (answer,) = router.take()
    error = answer.find("{jabber:client}error")
    assert error[0].tag.endswith("gone")
    assert error[1].text == "Sealed"
    assert muc.public_rooms == {}


def test_the_store_uses_wal_and_keeps_records_across_connections(tmp_path: Path) -> None:
    database = tmp_path / "rooms.sqlite"
    store = RoomStore(database)
    store.save("a@h", {"data": {"x": 1}, "affiliations": {}, "affiliation_data": {}})
    store.save("a@h", {"data": {"x": 2}, "affiliations": {}, "affiliation_data": {}})
    store.close()
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    again = RoomStore(database)
    assert again.load("a@h") == {"data": {"x": 2}, "affiliations": {}, "affiliation_data": {}}
    again.delete("a@h")
    assert again.jids() == []
    again.close()


def test_without_a_database_rooms_live_in_memory_only(tmp_path: Path) -> None:
    muc, _ = service()
    join(muc, "romeo@localhost/a", "vault", "Romeo")
    configure(muc, "romeo@localhost/a", "vault", {"muc#roomconfig_persistentroom": "1"})
    muc.close()
    assert list(tmp_path.iterdir()) == []
    other, _ = service()
    assert other.get_room(ROOM) is None
