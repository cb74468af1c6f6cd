"""Rules Q1-Q4 of the semantics document on the per-client inbox, plus closing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

import pytest
from lxml import etree

import harness.inbox
from harness.inbox import Inbox, ReceiveTimeout, UnexpectedStanza
from harness.matcher import expected_from_text

STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


def expected(text: str) -> etree._Element:
    return expected_from_text(text, lambda actor, full: actor)[0]


def stanza(text: str) -> etree._Element:
    return etree.fromstring(f"<stream xmlns='jabber:client'>{text}</stream>")[0]


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coroutine)


def ids(inbox: Inbox) -> list[str | None]:
    return [element.get("id") for element in inbox.stanzas()]


def test_q1_stanzas_are_buffered_in_arrival_order() -> None:
    inbox = Inbox()
    for number in range(3):
        inbox.put(stanza(f"<message id='m{number}'/>"))
    assert ids(inbox) == ["m0", "m1", "m2"]
    got = run(inbox.receive(expected("<message/>"), 1, {}))
    assert got.get("id") == "m0"


def test_q2_first_matching_stanza_is_taken_and_only_it_removed() -> None:
    inbox = Inbox()
    inbox.put(stanza("<presence id='p1'/>"))
    inbox.put(stanza("<message id='m1'/>"))
    inbox.put(stanza("<message id='m2'/>"))
    got = run(inbox.receive(expected("<message/>"), 1, {}))
    assert got.get("id") == "m1"
    assert ids(inbox) == ["p1", "m2"]


def test_q2_non_matching_stanzas_stay_buffered() -> None:
    inbox = Inbox()
    inbox.put(stanza("<message type='groupchat' id='104'/>"))

    async def scenario() -> etree._Element:
        waiting = asyncio.create_task(inbox.receive(expected("<presence/>"), 5, {}))
        await asyncio.sleep(0)
        inbox.put(stanza("<message id='status-172'/>"))
        inbox.put(stanza("<presence id='wanted'/>"))
        return await waiting

    assert run(scenario()).get("id") == "wanted"
    assert ids(inbox) == ["104", "status-172"]


def test_q2_later_arriving_stanza_satisfies_a_waiting_receive() -> None:
    inbox = Inbox()

    async def scenario() -> tuple[etree._Element, float]:
        loop = asyncio.get_running_loop()
        loop.call_later(0.02, inbox.put, stanza("<iq id='late' type='result'/>"))
        started = time.perf_counter()
        got = await inbox.receive(expected("<iq id='late'/>"), 5, {})
        return got, time.perf_counter() - started

    got, elapsed = run(scenario())
    assert got.get("id") == "late"
    assert elapsed < 5  # answered by the arrival, not by the timeout
    assert inbox.stanzas() == []


def test_q2_each_arrival_is_compared_once_with_a_waiting_receive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = 0
    real = harness.inbox.match_captures

    def counting(*args: Any) -> dict[str, str] | None:
        nonlocal calls
        calls += 1
        return real(*args)

    monkeypatch.setattr(harness.inbox, "match_captures", counting)
    inbox = Inbox()
    for number in range(200):
        inbox.put(stanza(f"<message id='old{number}'/>"))

    async def scenario() -> None:
        waiting = asyncio.create_task(inbox.receive(expected("<presence/>"), 5, {}))
        await asyncio.sleep(0)
        for number in range(100):
            inbox.put(stanza(f"<message id='new{number}'/>"))
        inbox.put(stanza("<presence/>"))
        await waiting

    run(scenario())
    assert calls == 200 + 100 + 1  # the buffer once, then one comparison per arrival


def test_q2_captures_are_committed_into_the_bindings() -> None:
    inbox = Inbox()
    inbox.put(stanza("<iq id='abc' type='result'/>"))
    bindings: dict[str, str] = {}
    run(inbox.receive(expected("<iq id='{scansion:capture:req}'/>"), 1, bindings))
    assert bindings == {"req": "abc"}

    inbox.put(stanza("<iq id='other'/>"))
    with pytest.raises(ReceiveTimeout):
        run(inbox.receive(expected("<iq id='{scansion:capture:req}'/>"), 0.01, bindings))
    assert bindings == {"req": "abc"}


def test_q3_timeout_reports_the_closest_buffered_stanza() -> None:
    inbox = Inbox()
    inbox.put(stanza("<message id='far'/>"))
    inbox.put(stanza("<presence id='near' from='room@muc/juliet'/>"))
    inbox.put(
        stanza("<presence id='nearer' from='room@muc/romeo'><status>busy</status></presence>")
    )
    want = expected("<presence from='room@muc/romeo'><status>away</status></presence>")
    with pytest.raises(ReceiveTimeout) as failure:
        run(inbox.receive(want, 0.01, {}))
    error = failure.value
    assert error.closest is not None and error.closest.get("id") == "nearer"
    assert error.buffered == 3
    assert error.explanation == (
        "nothing matching arrived within 0.01 s; closest of 3 buffered stanzas:\n"
        "/presence/status/text(): expected 'away', received 'busy'"
    )
    closest_inbox = Inbox()
    closest_inbox.put(stanza("<presence id='near' from='room@muc/juliet'/>"))
    with pytest.raises(ReceiveTimeout) as failure:
        run(closest_inbox.receive(expected("<presence from='room@muc/romeo'/>"), 0.01, {}))
    assert failure.value.explanation.endswith(
        "/presence/@from: expected 'room@muc/romeo', received 'room@muc/juliet'"
    )


def test_q3_timeout_with_an_empty_buffer() -> None:
    with pytest.raises(ReceiveTimeout) as failure:
        run(Inbox().receive(expected("<presence/>"), 0.01, {}))
    assert failure.value.closest is None
    assert "the buffer is empty" in failure.value.explanation


def test_q4_receive_nothing_passes_when_quiet() -> None:
    inbox = Inbox()
    inbox.begin_step()
    run(inbox.receive_nothing(0.02))


def test_q4_receive_nothing_fails_on_a_stanza_in_the_quiet_period_at_once() -> None:
    inbox = Inbox()
    inbox.begin_step()

    async def scenario() -> float:
        asyncio.get_running_loop().call_later(0.02, inbox.put, stanza("<message id='x'/>"))
        started = time.perf_counter()
        with pytest.raises(UnexpectedStanza) as failure:
            await inbox.receive_nothing(10)
        assert failure.value.stanza.get("id") == "x"
        return time.perf_counter() - started

    assert run(scenario()) < 10  # ended by the stanza, not by the quiet period
    assert ids(inbox) == ["x"]


def test_q4_receive_nothing_fails_on_a_stanza_buffered_since_the_previous_step_began() -> None:
    inbox = Inbox()
    inbox.begin_step()  # previous step, e.g. another client sends
    inbox.put(stanza("<message id='provoked'/>"))
    inbox.begin_step()  # the `receives: nothing` step
    with pytest.raises(UnexpectedStanza):
        run(inbox.receive_nothing(0.01))


def test_q4_receive_nothing_ignores_leftovers_of_earlier_steps() -> None:
    inbox = Inbox()
    inbox.begin_step()
    inbox.put(stanza("<message id='leftover'/>"))
    inbox.begin_step()
    inbox.begin_step()
    run(inbox.receive_nothing(0.01))
    assert ids(inbox) == ["leftover"]


def test_close_fails_a_waiting_receive_at_once_with_the_reason() -> None:
    inbox = Inbox()
    inbox.put(stanza("<message id='m'/>"))

    async def scenario() -> float:
        asyncio.get_running_loop().call_later(0.02, inbox.close, "stream closed by server")
        started = time.perf_counter()
        with pytest.raises(ReceiveTimeout) as failure:
            await inbox.receive(expected("<presence/>"), 30, {})
        assert "connection closed: stream closed by server" in failure.value.explanation
        assert failure.value.closest is not None
        return time.perf_counter() - started

    assert run(scenario()) < 30  # ended by the close, not by the timeout


def test_close_fails_later_receives_at_once_but_the_buffer_still_counts() -> None:
    inbox = Inbox()
    inbox.put(stanza("<message id='m'/>"))
    inbox.close("Account deleted")
    assert run(inbox.receive(expected("<message/>"), 30, {})).get("id") == "m"
    started = time.perf_counter()
    with pytest.raises(ReceiveTimeout, match="Account deleted"):
        run(inbox.receive(expected("<message/>"), 30, {}))
    assert time.perf_counter() - started < 30  # at once, not after the timeout


def test_close_ends_a_quiet_period_early() -> None:
    inbox = Inbox()
    inbox.begin_step()

    async def scenario() -> float:
        asyncio.get_running_loop().call_later(0.02, inbox.close, "bye")
        started = time.perf_counter()
        await inbox.receive_nothing(30)
        return time.perf_counter() - started

    assert run(scenario()) < 30  # ended by the close, not by the quiet period


# --- receives in order, must not receive, fail fast ---------------------------------------


def test_receive_after_skips_earlier_stanzas_and_says_when_order_is_wrong() -> None:
    inbox = Inbox()
    inbox.put(stanza("<message id='b'/>"))
    inbox.put(stanza("<message id='a'/>"))
    number, got = run(inbox.receive_after(expected("<message id='a'/>"), 1, {}, -1))
    assert (number, got.get("id")) == (1, "a")
    with pytest.raises(harness.inbox.OutOfOrder) as caught:
        run(inbox.receive_after(expected("<message id='b'/>"), 1, {}, number))
    assert caught.value.stanza.get("id") == "b"


def test_must_not_receive_fails_only_on_a_matching_stanza_and_keeps_the_buffer() -> None:
    inbox = Inbox()
    inbox.begin_step()
    inbox.put(stanza("<message id='other'/>"))
    run(inbox.must_not_receive([expected("<presence/>")], 0.05, {}))
    assert ids(inbox) == ["other"]

    async def arrives_later() -> None:
        waiting = asyncio.ensure_future(
            inbox.must_not_receive([expected("<presence type='error'/>")], 5, {})
        )
        await asyncio.sleep(0)
        inbox.put(stanza("<presence id='p1'/>"))
        inbox.put(stanza("<presence id='p2' type='error'/>"))
        await waiting

    with pytest.raises(UnexpectedStanza) as caught:
        run(arrives_later())
    assert caught.value.stanza.get("id") == "p2"
    assert ids(inbox) == ["other", "p1", "p2"]


@pytest.mark.parametrize(
    ("want", "answer", "decided"),
    [
        ("<iq type='result' id='q1'/>", "<iq type='error' id='q1'/>", True),
        ("<iq type='error' id='q1'/>", "<iq type='result' id='q1'/>", True),
        ("<iq type='result' id='q1'/>", "<iq type='error' id='q2'/>", False),
        ("<iq type='result' id='q1' from='a@b'/>", "<iq type='error' id='q1' from='c@d'/>", False),
        ("<iq type='result' id='{scansion:any}'/>", "<iq type='error' id='q1'/>", False),
        ("<iq type='get' id='q1'/>", "<iq type='error' id='q1'/>", False),
        (  # the same type, another payload: a server answers an iq once
            "<iq type='error' id='q1'><error><forbidden xmlns='" + STANZAS + "'/></error></iq>",
            "<iq type='error' id='q1'><error><not-allowed xmlns='" + STANZAS + "'/></error></iq>",
            True,
        ),
    ],
)
def test_an_answer_that_does_not_match_fails_at_once(want: str, answer: str, decided: bool) -> None:
    async def scenario() -> None:
        inbox = Inbox()
        waiting = asyncio.ensure_future(inbox.receive(expected(want), 30, {}))
        await asyncio.sleep(0)
        inbox.put(stanza(answer))
        if decided:
            with pytest.raises(harness.inbox.AnswerContradicts):
                await waiting  # no timeout passes: the future fails on arrival
        else:
            await asyncio.sleep(0)
            assert not waiting.done()
            waiting.cancel()

    run(scenario())
    buffered = Inbox()
    buffered.put(stanza(answer))
    if decided:
        with pytest.raises(harness.inbox.AnswerContradicts):
            run(buffered.receive(expected(want), 30, {}))
