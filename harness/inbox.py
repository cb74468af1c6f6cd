"""What one client has received and not yet consumed (rules Q1-Q4).

Everything the server sends after binding is buffered in arrival order, whatever
the script is doing (Q1). A `receives` step takes the first buffered or
later-arriving stanza that matches and removes only that one (Q2); stanzas that
never match stay, harmlessly (Q3). Waiting is event-driven: a waiting step
registers a future, and each arrival is matched once against it, so an arrival
costs one comparison however large the buffer is.

`receives: nothing` (Q4) fails on a stanza that arrives "after the previous
step". We read that as: since the previous step *began*. A stanza provoked by
the previous step may arrive while that step is still running (for instance
while it waits on another client), and it must still count; stanzas left over
from earlier steps are never an error (Q3), so they do not. The runner marks
step boundaries with `begin_step()` on every client's inbox.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from harness.matcher import MatchResult, match, match_captures
from protocol import namespaces as ns


class ReceiveTimeout(Exception):
    """Nothing matching arrived in time (or the connection closed first)."""

    def __init__(
        self,
        expected: etree._Element,
        closest: etree._Element | None,
        explanation: str,
        buffered: int,
        closest_match: MatchResult | None = None,
    ) -> None:
        super().__init__(explanation)
        self.expected = expected
        self.closest = closest
        self.explanation = explanation
        self.buffered = buffered
        self.closest_match = closest_match  # where the closest stanza differs, for reports


class AnswerContradicts(ReceiveTimeout):
    """The iq answer a `receives` waits for came and does not match: the step is decided.

    The script expects `<iq type='result' id='X'/>` (or an error) and the server
    answered id X otherwise: a server answers each iq once (RFC 6120 section
    8.2.3), so waiting the full timeout could not change the outcome."""

    def __init__(
        self, expected: etree._Element, stanza: etree._Element | None, buffered: int
    ) -> None:
        assert stanza is not None
        got, want = stanza.get("type"), expected.get("type")
        if got == want:
            self.message = f"the server's answer to iq {expected.get('id')!r} does not match"
        else:
            self.message = (
                f"the server answered iq {expected.get('id')!r} with {got!r}, not {want!r}"
            )
        result = match(expected, stanza, {})
        super().__init__(
            expected, stanza, f"{self.message}:\n{result.explanation}", buffered, result
        )


_IQ = f"{{{ns.CLIENT}}}iq"
_ANSWERS = ("result", "error")


def answers(expected: etree._Element, stanza: etree._Element) -> bool:
    """Whether `stanza` is the answer `expected` waits for (matching or not).

    Only for an expected iq with a literal id and type result or error; when the
    expected iq names a `from`, the answer must come from there."""
    if expected.tag != _IQ or stanza.tag != _IQ:
        return False
    if expected.get("type") not in _ANSWERS or stanza.get("type") not in _ANSWERS:
        return False
    iq_id = expected.get("id")
    if iq_id is None or "{scansion:" in iq_id or stanza.get("id") != iq_id:
        return False
    sender = expected.get("from")
    return sender is None or "{scansion:" in sender or stanza.get("from") == sender


class OutOfOrder(Exception):
    """`receives in order`: the stanza matching `expected` came before the previous one's."""

    def __init__(self, expected: etree._Element, stanza: etree._Element) -> None:
        super().__init__("arrived out of order")
        self.expected = expected
        self.stanza = stanza


class UnexpectedStanza(Exception):
    """A stanza arrived where the script said the client receives nothing."""

    def __init__(self, stanza: etree._Element) -> None:
        super().__init__(f"received {etree.tostring(stanza, encoding='unicode')}")
        self.stanza = stanza


@dataclass(eq=False)
class _Expectation:
    """A waiting `receives`: consumes the first arrival that matches."""

    expected: etree._Element
    bindings: dict[str, str]
    future: asyncio.Future[etree._Element]

    def offer(self, stanza: etree._Element) -> bool:
        if self.future.done():
            return False
        captures = match_captures(self.expected, stanza, self.bindings)
        if captures is None:
            if answers(self.expected, stanza):  # decided: fail now, keep it buffered
                self.future.set_exception(AnswerContradicts(self.expected, stanza, 0))
            return False
        self.bindings.update(captures)
        self.future.set_result(stanza)
        return True


@dataclass(eq=False)
class _Silence:
    """A waiting `receives: nothing`: any arrival ends it; the stanza stays buffered."""

    future: asyncio.Future[etree._Element | None]

    def offer(self, stanza: etree._Element) -> bool:
        if not self.future.done():
            self.future.set_result(stanza)
        return False


@dataclass(eq=False)
class _Watch:
    """A waiting `must not receive`: an arrival that `forbidden` accepts ends it, buffered."""

    forbidden: Callable[[etree._Element], bool]
    future: asyncio.Future[etree._Element | None]

    def offer(self, stanza: etree._Element) -> bool:
        if not self.future.done() and self.forbidden(stanza):
            self.future.set_result(stanza)
        return False


class Inbox:
    """Per-client buffer of received stanzas, searched by `receives` steps."""

    def __init__(self) -> None:
        self._buffer: dict[int, etree._Element] = {}  # arrival number -> stanza, in order
        self._arrivals = 0
        self._previous_step_start = 0
        self._current_step_start = 0
        self._waiting: list[_Expectation | _Silence | _Watch] = []
        self._taken: dict[int, etree._Element] = {}  # what this step consumed, by arrival
        self._close_reason: str | None = None

    def stanzas(self) -> list[etree._Element]:
        """The buffered stanzas, oldest first (for reports of what was left over)."""
        return list(self._buffer.values())

    def put(self, stanza: etree._Element) -> None:
        """Record an arriving stanza (Q1); a waiting step that it matches takes it."""
        number = self._arrivals
        self._arrivals += 1
        for waiter in list(self._waiting):
            if waiter.offer(stanza):
                self._taken[number] = stanza
                return
        self._buffer[number] = stanza

    def begin_step(self) -> None:
        """Mark that a script step begins; `receive_nothing` looks back one step.

        Until it has been called twice, every stanza still buffered counts as new.
        """
        self._previous_step_start = self._current_step_start
        self._current_step_start = self._arrivals
        self._taken = {}

    async def receive(
        self, expected: etree._Element, timeout: float, bindings: dict[str, str]
    ) -> etree._Element:
        """The first buffered or later stanza matching `expected` (Q2), captures committed."""
        return (await self.receive_after(expected, timeout, bindings, -1))[1]

    async def receive_after(
        self, expected: etree._Element, timeout: float, bindings: dict[str, str], after: int
    ) -> tuple[int, etree._Element]:
        """Like `receive`, among stanzas that arrived after arrival number `after`.

        Returns the stanza with its arrival number, so that `receives in order`
        can ask for the next stanza after it. Raises OutOfOrder at once when the
        only match arrived before `after` (consumed stanzas count too).
        """
        for number, stanza in self._buffer.items():
            if number <= after:
                continue
            captures = match_captures(expected, stanza, bindings)
            if captures is not None:
                del self._buffer[number]
                self._taken[number] = stanza
                bindings.update(captures)
                return number, stanza
        earlier = self._earlier_match(expected, bindings, after)
        if earlier is not None:
            raise OutOfOrder(expected, earlier)
        # Answers from before the previous step began may be to an earlier request
        # that reused the id; those never decide this step.
        since = max(after + 1, self._previous_step_start)
        answer = next(
            (s for n, s in self._buffer.items() if n >= since and answers(expected, s)), None
        )
        if answer is not None:
            raise AnswerContradicts(expected, answer, len(self._buffer))
        if self._close_reason is not None:
            raise self._failure(expected, bindings, f"connection closed: {self._close_reason}")
        future: asyncio.Future[etree._Element] = asyncio.get_running_loop().create_future()
        waiter = _Expectation(expected, bindings, future)
        self._waiting.append(waiter)
        try:
            stanza = await asyncio.wait_for(future, timeout)
        except AnswerContradicts as exc:  # raised on arrival, before the stanza was buffered
            raise AnswerContradicts(expected, exc.closest, len(self._buffer)) from None
        except TimeoutError:
            raise self._failure(
                expected, bindings, f"nothing matching arrived within {timeout:g} s"
            ) from None
        finally:
            self._waiting.remove(waiter)
        number = next(n for n, taken in self._taken.items() if taken is stanza)
        return number, stanza

    def _earlier_match(
        self, expected: etree._Element, bindings: dict[str, str], after: int
    ) -> etree._Element | None:
        """A stanza at or before `after` (buffered or taken this step) that matches."""
        if after < 0:
            return None
        candidates = [*self._buffer.items(), *self._taken.items()]
        for number, stanza in sorted(candidates, key=lambda pair: pair[0]):
            if number <= after and match_captures(expected, stanza, bindings) is not None:
                return stanza
        return None

    async def must_not_receive(
        self, forbidden: list[etree._Element], window: float, bindings: dict[str, str]
    ) -> None:
        """Pass if nothing matching `forbidden` arrived since the previous step began,
        nor arrives within `window`; other stanzas are allowed and all stay buffered."""
        for number, stanza in self._buffer.items():
            if number >= self._previous_step_start and self._any_match(forbidden, stanza, bindings):
                raise UnexpectedStanza(stanza)
        if self._close_reason is not None:
            return
        future: asyncio.Future[etree._Element | None] = asyncio.get_running_loop().create_future()
        waiter = _Watch(lambda stanza: self._any_match(forbidden, stanza, bindings), future)
        self._waiting.append(waiter)
        try:
            arrived = await asyncio.wait_for(future, window)
        except TimeoutError:
            return
        finally:
            self._waiting.remove(waiter)
        if arrived is not None:
            raise UnexpectedStanza(arrived)

    @staticmethod
    def _any_match(
        expected: list[etree._Element], stanza: etree._Element, bindings: dict[str, str]
    ) -> bool:
        return any(match_captures(element, stanza, bindings) is not None for element in expected)

    async def receive_nothing(self, quiet_period: float) -> None:
        """Pass if no stanza arrived since the previous step began, nor in the quiet period."""
        for number, buffered in self._buffer.items():
            if number >= self._previous_step_start:
                raise UnexpectedStanza(buffered)
        if self._close_reason is not None:
            return  # a closed stream can deliver nothing more
        future: asyncio.Future[etree._Element | None] = asyncio.get_running_loop().create_future()
        waiter = _Silence(future)
        self._waiting.append(waiter)
        try:
            stanza = await asyncio.wait_for(future, quiet_period)
        except TimeoutError:
            return
        finally:
            self._waiting.remove(waiter)
        if stanza is not None:
            raise UnexpectedStanza(stanza)

    def close(self, reason: str) -> None:
        """The connection ended: waiting receives fail now instead of at their timeout."""
        self._close_reason = reason
        for waiter in list(self._waiting):
            if waiter.future.done():
                continue
            if isinstance(waiter, _Expectation):
                waiter.future.set_exception(
                    self._failure(waiter.expected, waiter.bindings, f"connection closed: {reason}")
                )
            else:
                waiter.future.set_result(None)

    def _failure(
        self, expected: etree._Element, bindings: dict[str, str], cause: str
    ) -> ReceiveTimeout:
        """The timeout error, naming the closest buffered stanza and how it differs (Q3)."""
        closest: etree._Element | None = None
        closest_result = None
        for stanza in self._buffer.values():
            result = match(expected, stanza, bindings)
            if closest_result is None or result.differences < closest_result.differences:
                closest, closest_result = stanza, result
        if closest_result is None:
            explanation = f"{cause}; the buffer is empty"
        else:
            count = len(self._buffer)
            explanation = (
                f"{cause}; closest of {count} buffered stanza{'s' if count > 1 else ''}:\n"
                f"{closest_result.explanation}"
            )
        return ReceiveTimeout(expected, closest, explanation, len(self._buffer), closest_result)
