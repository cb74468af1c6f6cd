"""kill -9 while persistent rooms are being changed: on restart the database opens and every
room is as its owner last saw it confirmed (or one change later, the one in flight).

Each owner changes its room one step at a time, waiting for the server's answer
before the next step, so at any instant a room has one confirmed state and at
most one change in flight. The server runs in a process of its own with a
SQLite database; it is killed (SIGKILL) mid-stream three times.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import sys
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

sys.path.insert(0, str(Path(__file__).parent / "soak"))

from loadgen import DATA, MUC, MUC_ADMIN, MUC_OWNER, Closed, Session
from server_process import ServerProcess

ROOMS = 12
CRASHES = 3


@dataclass
class RoomState:
    """What the owner knows: confirmed name and members, and the change in flight."""

    jid: str
    name: str = "v0"
    members: set[str] = field(default_factory=set)
    pending_name: str | None = None
    pending_member: str | None = None
    steps: int = 0


def _config_form(room: str, ident: str, fields: dict[str, str]) -> str:
    values = "".join(f"<field var='{k}'><value>{v}</value></field>" for k, v in fields.items())
    return (
        f"<iq type='set' id='{ident}' to='{room}'><query xmlns='{MUC_OWNER}'>"
        f"<x xmlns='{DATA}' type='submit'>"
        f"<field var='FORM_TYPE'><value>{MUC}#roomconfig</value></field>{values}"
        "</x></query></iq>"
    )


async def _create(owner: Session, state: RoomState) -> None:
    nick = "owner"
    await owner.request(
        f"<presence to='{state.jid}/{nick}'><x xmlns='{MUC}'/></presence>",
        lambda e: e.get("from") == f"{state.jid}/{nick}",
    )
    answer = await owner.request(
        _config_form(
            state.jid,
            "create",
            {"muc#roomconfig_persistentroom": "1", "muc#roomconfig_roomname": state.name},
        ),
        lambda e: e.get("id") == "create",
    )
    assert answer.get("type") == "result", etree.tostring(answer)


async def _change_forever(owner: Session, state: RoomState, rng: random.Random) -> None:
    """Rename the room or add a member, one confirmed step after another, until cut off."""
    while True:
        state.steps += 1
        ident = f"step{state.steps}"
        if rng.random() < 0.5:
            state.pending_name = f"v{state.steps}"
            request = _config_form(
                state.jid, ident, {"muc#roomconfig_roomname": state.pending_name}
            )
        else:
            state.pending_member = f"m{state.steps}@localhost"
            request = (
                f"<iq type='set' id='{ident}' to='{state.jid}'><query xmlns='{MUC_ADMIN}'>"
                f"<item jid='{state.pending_member}' affiliation='member'/></query></iq>"
            )
        answer = await owner.request(request, lambda e, i=ident: e.get("id") == i)
        assert answer.get("type") == "result", etree.tostring(answer)
        if state.pending_name is not None:
            state.name, state.pending_name = state.pending_name, None
        if state.pending_member is not None:
            state.members.add(state.pending_member)
            state.pending_member = None


async def _observed(admin: Session, room: str) -> tuple[str, set[str]]:
    """The room's name (owner config form) and members (admin list), as the server says."""
    form = await admin.request(
        f"<iq type='get' id='cfg' to='{room}'><query xmlns='{MUC_OWNER}'/></iq>",
        lambda e: e.get("id") == "cfg",
    )
    assert form.get("type") == "result", etree.tostring(form)
    name = form.findtext(f".//{{{DATA}}}field[@var='muc#roomconfig_roomname']/{{{DATA}}}value")
    persistent = form.findtext(
        f".//{{{DATA}}}field[@var='muc#roomconfig_persistentroom']/{{{DATA}}}value"
    )
    assert persistent in ("1", "true"), f"{room} is no longer persistent"
    members = await admin.request(
        f"<iq type='get' id='members' to='{room}'><query xmlns='{MUC_ADMIN}'>"
        "<item affiliation='member'/></query></iq>",
        lambda e: e.get("id") == "members",
    )
    assert members.get("type") == "result", etree.tostring(members)
    jids = {item.get("jid") or "" for item in members.iter(f"{{{MUC_ADMIN}}}item")}
    return name or "", jids


async def _round(port: int, states: list[RoomState], seed: int, first: bool) -> int:
    """Owners change their rooms until the server dies; returns the steps confirmed."""
    owners = []
    for index, state in enumerate(states):
        owner = Session(index, f"owner{index}")
        await owner.connect(port)
        owners.append(owner)
        if first:
            await _create(owner, state)
    rng = random.Random(seed)
    tasks = [
        asyncio.create_task(_change_forever(o, s, random.Random(rng.random())))
        for o, s in zip(owners, states, strict=True)
    ]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    for owner in owners:  # the server is gone: every owner's stream ends now, or soon
        await asyncio.wait_for(owner.closed.wait(), 30)
    for outcome in await asyncio.gather(*tasks, return_exceptions=True):
        assert isinstance(outcome, Closed | ConnectionError), outcome
    for owner in owners:
        await owner.close()
    return sum(s.steps for s in states)


async def _check(port: int, states: list[RoomState]) -> None:
    admin = Session(999, "admin")
    await admin.connect(port)
    for state in states:
        name, members = await _observed(admin, state.jid)
        assert name in (state.name, state.pending_name), (state, name)
        assert state.members <= members, (state.jid, state.members - members)
        extra = members - state.members
        assert extra <= {state.pending_member}, (state.jid, extra)
        # Whatever was in flight and did land is now confirmed state.
        state.name = name
        state.members = members
        state.pending_name = state.pending_member = None
    await admin.close()


async def _changes_until_killed(
    server: ServerProcess, states: list[RoomState], seed: int, kill_after: float
) -> int:
    asyncio.get_running_loop().call_later(kill_after, server.process.kill)
    return await _round(server.port, states, seed, first=seed == 0)


def test_kill_minus_nine_leaves_every_room_consistent(tmp_path: Path) -> None:
    database = tmp_path / "rooms.sqlite"
    states = [RoomState(f"persist{i}@conference.localhost") for i in range(ROOMS)]
    rng = random.Random(9)
    confirmed = 0
    for crash in range(CRASHES):
        server = ServerProcess(database)
        try:
            if crash:
                asyncio.run(_check(server.port, states))
            kill_after = rng.uniform(0.5, 1.5)
            confirmed = asyncio.run(_changes_until_killed(server, states, crash, kill_after))
            assert server.process.wait(timeout=10) == -9
        finally:
            server.process.kill()
            server.stop()  # reaps it and closes its pipes
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    server = ServerProcess(database)
    try:
        assert sorted(server.stats()["rooms"]) == sorted(s.jid for s in states)
        asyncio.run(_check(server.port, states))
    finally:
        server.stop()
    print(f"{CRASHES} kills during {confirmed} confirmed changes to {ROOMS} persistent rooms")
