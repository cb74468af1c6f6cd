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
from dataclasses import dataclass

from lxml import etree

from harness.matcher import MatchResult, match, match_captures


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


class Inbox:
    """Per-client buffer of received stanzas, searched by `receives` steps."""

    def __init__(self) -> None:
        self._buffer: dict[int, etree._Element] = {}  # arrival number -> stanza, in order
        self._arrivals = 0
        self._previous_step_start = 0
        self._current_step_start = 0
        self._waiting: list[_Expectation | _Silence] = []
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
                return
        self._buffer[number] = stanza

    def begin_step(self) -> None:
        """Mark that a script step begins; `receive_nothing` looks back one step.

        Until it has been called twice, every stanza still buffered counts as new.
        """
        self._previous_step_start = self._current_step_start
        self._current_step_start = self._arrivals

    async def receive(
        self, expected: etree._Element, timeout: float, bindings: dict[str, str]
    ) -> etree._Element:
        """The first buffered or later stanza matching `expected` (Q2), captures committed."""
        for number, stanza in self._buffer.items():
            captures = match_captures(expected, stanza, bindings)
            if captures is not None:
                del self._buffer[number]
                bindings.update(captures)
                return stanza
        if self._close_reason is not None:
            raise self._failure(expected, bindings, f"connection closed: {self._close_reason}")
        future: asyncio.Future[etree._Element] = asyncio.get_running_loop().create_future()
        waiter = _Expectation(expected, bindings, future)
        self._waiting.append(waiter)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise self._failure(
                expected, bindings, f"nothing matching arrived within {timeout:g} s"
            ) from None
        finally:
            self._waiting.remove(waiter)

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
