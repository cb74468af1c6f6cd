"""Where the reference deliberately answers otherwise than Prosody 0.12.3 (docs/deviations.md).

Prosody raises an error and answers nothing, or loops forever, on these
requests; the reference answers as XEP-0045 asks and the room keeps working.
"""

from __future__ import annotations

from muc_helpers import HOST, configure, groupchat, join, service, stanza

ROOM = f"garden@{HOST}"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


def _condition(reply) -> tuple[str | None, str]:  # type: ignore[no-untyped-def]
    error = reply.find("{jabber:client}error")
    assert error is not None, "expected an error reply"
    return error.get("type"), error[0].tag.removeprefix(f"{{{STANZAS}}}")


def test_an_admin_list_request_without_an_item_is_a_bad_request() -> None:
    muc, router = service()
    join(muc, "romeo@localhost/a", "garden", "Romeo")
    configure(muc, "romeo@localhost/a", "garden")
    router.take()
    muc.handle(
        stanza(
            f"<iq from='romeo@localhost/a' to='{ROOM}' type='get' id='list'>"
            "<query xmlns='http://jabber.org/protocol/muc#admin'/></iq>"
        )
    )
    (reply,) = router.take()
    assert reply.get("id") == "list"
    assert _condition(reply) == ("cancel", "bad-request")


def test_a_negative_history_length_is_refused_and_the_room_keeps_its_history() -> None:
    muc, router = service()
    join(muc, "romeo@localhost/a", "garden", "Romeo")
    configure(muc, "romeo@localhost/a", "garden")
    router.take()
    configure(muc, "romeo@localhost/a", "garden", {"muc#roomconfig_historylength": "-1"})
    (refusal,) = router.take()
    assert _condition(refusal) == ("modify", "not-acceptable")

    groupchat(muc, "romeo@localhost/a", "garden", "still here")
    assert len(router.take()) == 1
    join(muc, "juliet@localhost/b", "garden", "Juliet")
    bodies = [s.findtext("{jabber:client}body") for s in router.to("juliet@localhost/b")]
    assert "still here" in bodies
