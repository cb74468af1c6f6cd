"""Message archiving for rooms (XEP-0313), as Prosody's mod_muc_mam.

Archived groupchat messages get a `<stanza-id/>` from the room; the archive also
serves history to joining sessions when the in-memory history is shorter than
what they may see, and answers MAM queries. Kept in memory, 1000 per room.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from lxml import etree

from reference.muc import xml
from reference.muc.features.history import length, memory
from reference.muc.forms import Field, Form, form_type
from reference.muc.hooks import Event, Hooks
from reference.muc.room import Room, bare
from reference.muc.timestamps import datetime_stamp, parse_stamp

MAM = "urn:xmpp:mam:2"
STANZA_ID = "urn:xmpp:sid:0"
FORWARD = "urn:xmpp:forward:0"
RSM = "http://jabber.org/protocol/rsm"
FIELD = "muc#roomconfig_enablearchiving"
LIMIT = 1000
DEFAULT_PAGE, MAX_PAGE = 20, 50


@dataclass
class Entry:
    id: str
    stanza: etree._Element
    when: float


def register(hooks: Hooks) -> None:
    hooks.on("muc-config-form", _form)
    hooks.on(f"muc-config-submitted/{FIELD}", _submitted)
    hooks.on("muc-disco#info", _disco)
    hooks.on("muc-broadcast-message", _strip_forged_ids, 1)
    hooks.on("muc-add-history", _archive)
    hooks.on("muc-get-history", _history_from_archive, 1)
    hooks.on(f"iq-get/bare/{MAM}:query", _query_form)
    hooks.on(f"iq-set/bare/{MAM}:query", _query)
    hooks.on("muc-room-destroyed", _forget)


def enabled(room: Room) -> bool:
    return room.data.get("archiving", True) is not False


def entries(room: Room) -> list[Entry]:
    return room.cache.setdefault("archive", [])


def _forget(event: Event) -> None:
    """A destroyed room's archive goes with it, even when an occupant stays on.

    That happens when the last occupant of a temporary room changes nick: the
    room is destroyed in between, as in Prosody, so the new nick is sent no
    history beyond the in-memory one."""
    event.room.cache.pop("archive", None)


def _form(event: Event) -> None:
    event.form.add(Field(FIELD, "boolean", "Enable archiving?", value=enabled(event.room)))


def _submitted(event: Event) -> None:
    # Prosody reports 170/171 whenever the field is submitted.
    if event.value is None:
        event.room.data.pop("archiving", None)
    else:
        event.room.data["archiving"] = bool(event.value)
    event.status_codes.add("170" if event.value else "171")


def _disco(event: Event) -> None:
    if enabled(event.room):
        xml.child(event.reply, "feature", attrs={"var": MAM})
        xml.child(event.reply, "feature", attrs={"var": MAM + "#extended"})
    xml.child(event.reply, "feature", attrs={"var": STANZA_ID})


def _strip_forged_ids(event: Event) -> None:
    for element in event.stanza.findall(xml.tag("stanza-id", STANZA_ID)):
        if element.get("by", "").lower() == event.room.jid:
            event.stanza.remove(element)


def _archive(event: Event) -> None:
    room, stanza = event.room, event.stanza
    stored = xml.clone(stanza)
    stored.attrib.pop("to", None)
    if room.whois() == "anyone":
        occupant = room.occupants.get(stanza.get("from", ""))
        if occupant is not None and occupant.primary is not None:
            actor = bare(occupant.primary)
            affiliation = room.get_affiliation(actor) or "none"
            role = occupant.role or room.default_role(affiliation)
            x = xml.child(stored, "x", xml.MUC_USER)
            xml.child(x, "item", attrs={"affiliation": affiliation, "role": role, "jid": actor})
    if not enabled(room):
        return
    entry = Entry(secrets.token_urlsafe(18), stored, time.time())
    archive = entries(room)
    archive.append(entry)
    del archive[: max(0, len(archive) - LIMIT)]
    xml.child(stanza, "stanza-id", STANZA_ID, {"by": room.jid, "id": entry.id})


def _replayed(room: Room, entry: Entry, to: str | None, delay_from: str | None) -> etree._Element:
    message = xml.clone(entry.stanza)
    if to is not None:
        message.set("to", to)
    if delay_from is not None:
        xml.child(
            message, "delay", xml.DELAY, {"from": delay_from, "stamp": datetime_stamp(entry.when)}
        )
        xml.child(message, "stanza-id", STANZA_ID, {"by": room.jid, "id": entry.id})
    if room.whois() != "anyone":
        xml.remove_children(message, "x", xml.MUC_USER)
    return message


def _history_from_archive(event: Event) -> bool | None:
    room = event.room
    if not enabled(room) or event.maxstanzas == 0 or event.maxchars == 0:
        return None
    limit = length(room)
    if event.maxstanzas is not None and event.maxstanzas <= limit:
        limit = event.maxstanzas
    if len(memory(room)) >= limit:
        return None  # the in-memory history has enough
    chosen = [e for e in entries(room) if event.since is None or e.when >= event.since]
    chosen = chosen[max(0, len(chosen) - limit) :] if limit > 0 else []
    budget = event.maxchars
    picked: list[etree._Element] = []
    for entry in reversed(chosen):
        message = _replayed(room, entry, event.to, room.jid)
        if budget is not None:
            size = len(etree.tostring(message))
            if budget - size < 0:
                break
            budget -= size
        picked.append(message)
    event.messages.extend(reversed(picked))
    return True


def _query_layout() -> Form:
    form = Form()
    form.add(Field("FORM_TYPE", "hidden", value=MAM))
    form.add(Field("with", "jid-single"))
    form.add(Field("start", "text-single", datatype="xs:dateTime"))
    form.add(Field("end", "text-single", datatype="xs:dateTime"))
    form.add(Field("before-id", "text-single"))
    form.add(Field("after-id", "text-single"))
    form.add(Field("ids", "list-multi"))
    return form


def _query_form(event: Event) -> bool:
    """The search form, whether or not the room exists (as Prosody's)."""
    answer = xml.reply(event.stanza)
    xml.child(answer, "query", MAM).append(_query_layout().render())
    event.service.route(answer)
    return True


def _query(event: Event) -> bool:
    room, stanza = event.room, event.stanza
    if room is None:
        event.service.route(xml.error_reply(stanza, "cancel", "item-not-found"))
        return True
    affiliation = room.get_affiliation(stanza.get("from", ""))
    if affiliation == "outcast" or (room.data.get("members_only") and affiliation is None):
        room.route(xml.error_reply(stanza, "auth", "forbidden"))
        return True
    query = xml.find(stanza, "query", MAM)
    assert query is not None
    filters: dict[str, object] = {}
    form = xml.find(query, "x", xml.DATA_FORMS)
    if form is not None:
        if form_type(form) != MAM:
            room.route(xml.error_reply(stanza, "modify", "bad-request", "Unexpected FORM_TYPE"))
            return True
        filters, _ = _query_layout().read(form)
    page = xml.find(query, "set", RSM)
    maximum = DEFAULT_PAGE
    before = after = None
    if page is not None:
        text = xml.find_text(page, "max", RSM)
        maximum = int(text) if text and text.strip().isdigit() else DEFAULT_PAGE
        before = xml.find_text(page, "before", RSM)
        after = xml.find_text(page, "after", RSM)
    maximum = min(maximum, MAX_PAGE)
    before = before or _text_filter(filters, "before-id")
    after = after or _text_filter(filters, "after-id")
    found = _select(room, filters, after, before)
    if found is None:
        room.route(xml.error_reply(stanza, "modify", "item-not-found"))
        return True
    reverse = page is not None and xml.find(page, "before", RSM) is not None
    chosen = found[-maximum:] if reverse else found[:maximum]
    complete = len(chosen) == len(found)
    query_id = query.get("queryid")
    for entry in chosen:
        result = xml.stanza("message", {"to": stanza.get("from"), "from": stanza.get("to")})
        wrapper = xml.child(result, "result", MAM, {"queryid": query_id, "id": entry.id})
        forwarded = xml.child(wrapper, "forwarded", FORWARD)
        xml.child(forwarded, "delay", xml.DELAY, {"stamp": datetime_stamp(entry.when)})
        forwarded.append(_replayed(room, entry, None, None))
        room.route(result)
    answer = xml.reply(stanza)
    fin = xml.child(answer, "fin", MAM, {"complete": "true" if complete else None})
    rsm = xml.child(fin, "set", RSM)
    if chosen:
        xml.child(rsm, "first", text=chosen[0].id)
        xml.child(rsm, "last", text=chosen[-1].id)
    xml.child(rsm, "count", text=str(len(entries(room))))
    room.route(answer)
    return True


def _select(
    room: Room, filters: dict[str, object], after: object, before: object
) -> list[Entry] | None:
    archive = entries(room)
    ids = [e.id for e in archive]
    low, high = 0, len(archive)
    if isinstance(after, str) and after:
        if after not in ids:
            return None
        low = ids.index(after) + 1
    if isinstance(before, str) and before:
        if before not in ids:
            return None
        high = ids.index(before)
    start_text, end_text = _text_filter(filters, "start"), _text_filter(filters, "end")
    start = parse_stamp(start_text) if start_text is not None else None
    end = parse_stamp(end_text) if end_text is not None else None
    wanted_ids = filters.get("ids")
    return [
        e
        for e in archive[low:high]
        if (start is None or e.when >= start)
        and (end is None or e.when <= end)
        and (not isinstance(wanted_ids, list) or e.id in wanted_ids)
    ]


def _text_filter(filters: dict[str, object], name: str) -> str | None:
    """A single-valued text field of the search form, None when absent or not text."""
    value = filters.get(name)
    return value if isinstance(value, str) else None
