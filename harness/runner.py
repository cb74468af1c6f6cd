"""Carry out scripts against a target, step by step, and record what held.

One script is one coroutine (`run_script`) over its own clients, inboxes and
capture bindings: nothing is shared between scripts, so `run_scripts` runs them
concurrently (`jobs`) when every script gets its own server (`reference`), and in
order against a shared server. `run_matrix` runs the same scripts against several
targets at once, each target as above. Each actor is one client whose
inbox buffers every stanza from binding on (rules Q1-Q5 of the scansion
semantics). Before an actor sends, connects or disconnects, what the other
actors sent is settled by a ping round trip, so the server processes the
clients' stanzas in script order (see `_settle`). The first step that does not
hold stops its script; anything the server does wrong fails that step, never
the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from copy import deepcopy
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

from lxml import etree

from harness import __version__
from harness.client import Client, TargetUnreachable, TLSMode, XMPPError
from harness.inbox import AnswerContradicts, Inbox, OutOfOrder, ReceiveTimeout, UnexpectedStanza
from harness.matcher import expected_from_text
from harness.model import Action, Actor, Need, NeedKind, Script, Step
from harness.profile import LOCALHOST, AccountMode, Profile
from harness.results import (
    Failure,
    InvalidStanza,
    Mark,
    MatrixResult,
    RunResult,
    ScriptResult,
    Status,
    StepResult,
    TrafficEntry,
)
from harness.stanza_text import BlockSyntaxError, substitute
from harness.targets import REMOTE_QUIET_PERIOD, Endpoint, Target
from harness.variables import RunVariables
from protocol import namespaces as ns
from protocol.jid import JID

# Steps that make the server act for their actor; other actors' sends must be processed first.
_ACTS_ON_SERVER = frozenset({Action.CONNECTS, Action.DISCONNECTS, Action.SENDS})
_IQ = f"{{{ns.CLIENT}}}iq"
_VERSION = "jabber:iq:version"
_DISCO_INFO = "http://jabber.org/protocol/disco#info"
_MUC_OWNER = "http://jabber.org/protocol/muc#owner"
_DATA = "jabber:x:data"
_CONFIG_FORM = f"{{{_MUC_OWNER}}}query/{{{_DATA}}}x[@type='form']"

# The stream's own declarations, repeated on every serialized stanza; noise in reports.
_STREAM_DECLARATIONS = re.compile(
    rf'\s+xmlns="{re.escape(ns.CLIENT)}"|\s+xmlns:scansion="{re.escape(ns.SCANSION)}"'
)


@dataclass(frozen=True)
class RunOptions:
    timeout: float = 5.0  # how long a `receives` waits for a matching stanza (Q3)
    # How long `receives: nothing` listens (Q4); None: the target's default.
    quiet_period: float | None = None
    connect_timeout: float = 10.0  # TCP, TLS, SASL and bind together
    tls: TLSMode = "auto"
    insecure: bool = False
    record_traffic: bool = False  # keep every stanza (for `-v`, the diff and HTML reports)
    validate: bool = False  # check every received stanza against harness.schema
    ask_version: bool = False  # ask the target what it runs (XEP-0092) before the scripts


class RunObserver(Protocol):
    """Told about progress, e.g. by the console report; called in script order, from the loop."""

    def script_started(self, script: Script) -> None: ...

    def script_finished(self, result: ScriptResult) -> None: ...


class ScriptInterrupted(asyncio.CancelledError):
    """Ctrl-C stopped a script mid-step; `result` is what it did, the step marked errored."""

    def __init__(self, result: ScriptResult) -> None:
        super().__init__("interrupted")
        self.result = result


class _NotApplicable(Exception):
    """A need of the script or of a step that the target does not meet."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _StepFailed(Exception):
    """A step that did not hold; carries what the reports show."""

    def __init__(
        self,
        message: str,
        *,
        status: Status = Status.FAILED,
        expected: str | None = None,
        closest: str | None = None,
        explanation: str = "",
        buffered: int | None = None,
        path: tuple[str, ...] = (),
        marks: tuple[Mark, ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.expected = expected
        self.closest = closest
        self.explanation = explanation
        self.buffered = buffered
        self.path = path
        self.marks = marks


def show_xml(element: etree._Element) -> str:
    """Pretty XML for reports, without the stream-level namespace declarations.

    Whitespace between elements (script indentation, a server's own line breaks)
    is dropped from a copy first: lxml only re-indents elements without it."""
    element = _without_indentation(element)
    text = etree.tostring(element, encoding="unicode", pretty_print=True, with_tail=False)
    start_tag_end = text.find(">")  # lxml escapes '>' in attribute values
    head = _STREAM_DECLARATIONS.sub("", text[:start_tag_end])
    return (head + text[start_tag_end:]).rstrip("\n")


def _without_indentation(element: etree._Element) -> etree._Element:
    copy = deepcopy(element)
    for node in copy.iter():
        if len(node) and node.text is not None and not node.text.strip():
            node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None
    return copy


@dataclass
class _Session:
    """One actor's connection. A new `connects` after a disconnect starts a fresh inbox."""

    actor: Actor
    client: Client | None = None
    inbox: Inbox | None = None
    full_jid: str | None = None
    unsettled: bool = False  # sent stanzas the server may not have processed yet
    disconnected: bool = False  # a `disconnects` step closed it (and no `connects` since)
    # The harness's own iqs (settling pings, disco#info for needs) by id: their
    # answers never reach the inbox.
    private: dict[str, asyncio.Future[etree._Element | None]] = field(default_factory=dict)

    @property
    def bare_jid(self) -> str:
        return self.actor.jid.partition("/")[0]

    @property
    def login_jid(self) -> str:
        resource = self.actor.properties.get("resource")
        if resource and "/" not in self.actor.jid:
            return f"{self.actor.jid}/{resource}"
        return self.actor.jid


@dataclass
class _ScriptRun:
    script: Script
    endpoint: Endpoint
    options: RunOptions
    profile: Profile = LOCALHOST
    variables: RunVariables = field(default_factory=RunVariables)
    sessions: dict[str, _Session] = field(default_factory=dict)
    bindings: dict[str, str] = field(default_factory=dict)
    traffic: list[TrafficEntry] = field(default_factory=list)
    invalid: list[InvalidStanza] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    settle_count: int = 0
    step_index: int = 0  # the step being carried out, for traffic and schema reports
    matched: list[str] = field(default_factory=list)  # what the current step matched
    # Received stanza -> its traffic entry, so the entry can name the step it satisfied.
    traffic_of: dict[int, tuple[etree._Element, int]] = field(default_factory=dict)
    config_fields: frozenset[str] | None = None  # vars of the latest room configuration form
    features: dict[str, frozenset[str]] = field(default_factory=dict)  # disco#info, by JID
    script_needs_checked: bool = False

    def __post_init__(self) -> None:
        self.sessions = {actor.name: _Session(self._account(actor)) for actor in self.script.actors}

    def _account(self, actor: Actor) -> Actor:
        return account_of(actor, self.profile, self.variables)

    @property
    def quiet_period(self) -> float:
        quiet = self.options.quiet_period
        return REMOTE_QUIET_PERIOD if quiet is None else quiet

    async def run(self) -> ScriptResult:
        steps: list[StepResult] = []
        failure: Failure | None = None
        status = Status.PASSED
        interrupted = False
        try:
            for index, step in enumerate(self.script.steps):
                step_start = time.monotonic()
                self.step_index = index
                self.matched = []
                for session in self.sessions.values():
                    if session.inbox is not None:
                        session.inbox.begin_step()
                try:
                    await self._check_needs(step, index)
                    detail = await self._perform(step)
                except _NotApplicable as unmet:
                    status = Status.NOT_APPLICABLE
                    failure = _failure(
                        index, step, _StepFailed(unmet.reason, status=Status.NOT_APPLICABLE)
                    )
                except _StepFailed as failed:
                    status = failed.status
                    failure = _failure(index, step, failed)
                except asyncio.CancelledError:  # Ctrl-C: record the step, close, then stop
                    interrupted = True
                    status = Status.ERRORED
                    failure = _failure(
                        index, step, _StepFailed("interrupted", status=Status.ERRORED)
                    )
                except Exception as exc:  # a fault of the harness: report it, keep the run going
                    status = Status.ERRORED
                    failure = _failure(
                        index,
                        step,
                        _StepFailed(
                            f"internal error: {type(exc).__name__}: {exc}", status=Status.ERRORED
                        ),
                    )
                duration = time.monotonic() - step_start
                steps.append(
                    StepResult(
                        index,
                        step.line,
                        step.actor,
                        str(step.action),
                        status,
                        duration,
                        failure.message if failure else detail,
                        tuple(self.matched),
                    )
                )
                if failure:
                    break
        finally:
            await self._close_all()
        result = ScriptResult(
            self.script.path,
            self.script.title,
            status,
            time.monotonic() - self.started,
            tuple(steps),
            failure,
            tuple(self.traffic),
            tuple(self.invalid),
        )
        if interrupted:
            raise ScriptInterrupted(result)
        return result

    async def _perform(self, step: Step) -> str:
        session = self.sessions.get(step.actor)
        if session is None:
            raise _StepFailed(
                f"{step.actor!r} is not declared in the header", status=Status.ERRORED
            )
        if step.action in _ACTS_ON_SERVER:
            await self._settle(others_than=session)
        elif step.action in (Action.RECEIVES_NOTHING, Action.MUST_NOT_RECEIVE):
            # Everything sent so far is processed, and what it caused for this
            # actor has arrived, before the quiet period starts.
            await self._settle(others_than=session)
            await self._round_trip(session)
        match step.action:
            case Action.CONNECTS:
                return await self._connect(session)
            case Action.DISCONNECTS:
                return await self._disconnect(session)
            case Action.SENDS:
                return await self._send(session, step.xml or "")
            case Action.RECEIVES:
                return await self._receive(session, step.xml or "")
            case Action.RECEIVES_NOTHING:
                return await self._receive_nothing(session)
            case Action.RECEIVES_IN_ORDER:
                return await self._receive_in_order(session, step.xml or "")
            case Action.MUST_NOT_RECEIVE:
                return await self._must_not_receive(session, step.xml or "", step.within)
        raise AssertionError(step.action)

    async def _check_needs(self, step: Step, index: int) -> None:
        """Raise _NotApplicable when a need of this step (or of the script) is unmet.

        The script's own needs are checked before the first step that follows a
        connected actor (a feature needs someone to ask); facts at the start."""
        needs = list(step.needs)
        connected = any(s.client is not None for s in self.sessions.values())
        if index == 0:
            needs += [need for need in self.script.needs if need.kind is NeedKind.FACT]
        if connected and not self.script_needs_checked:
            self.script_needs_checked = True
            needs += [need for need in self.script.needs if need.kind is not NeedKind.FACT]
        for need in needs:
            reason = await self._unmet(need)
            if reason is not None:
                raise _NotApplicable(reason)

    async def _unmet(self, need: Need) -> str | None:
        """Why the target does not meet `need`, or None when it does."""
        if need.kind is NeedKind.FACT:
            if self.profile.fact(need.value):
                return None
            return f"the target profile does not state the fact {need.value!r}"
        if need.kind is NeedKind.CONFIG:
            if self.config_fields is None:
                return f"no room configuration form was received to look for {need.value!r}"
            if need.value in self.config_fields:
                return None
            return f"the room configuration form has no field {need.value!r}"
        jid = substitute(need.at or "${muc}", self._resolve, self.variables.lookup, escape=False)
        features = await self._features(jid)
        if features is None:
            return f"no connected actor could ask {jid} for its features (disco#info)"
        if need.value in features:
            return None
        return f"{jid} does not advertise {need.value}"

    async def _features(self, jid: str) -> frozenset[str] | None:
        """The disco#info features of `jid`, asked by the first connected actor (cached)."""
        if jid in self.features:
            return self.features[jid]
        session = next(
            (s for s in self.sessions.values() if s.client is not None and not s.client.closed),
            None,
        )
        if session is None:
            return None
        answer = await self._private_iq(
            session, f"<iq type='get' to='{jid}' id='{{id}}'><query xmlns='{_DISCO_INFO}'/></iq>"
        )
        found: frozenset[str] = frozenset()
        if answer is not None and answer.get("type") == "result":
            found = frozenset(
                feature.get("var", "") for feature in answer.iter(f"{{{_DISCO_INFO}}}feature")
            )
        self.features[jid] = found
        return found

    async def _connect(self, session: _Session) -> str:
        if session.client is not None and not session.client.closed:
            raise _StepFailed(f"{session.actor.name} is already connected")
        inbox = Inbox()
        name = session.actor.name
        try:
            client = Client(
                session.login_jid,
                session.actor.password,
                host=self.endpoint.host,
                port=self.endpoint.port,
                tls=self.options.tls,
                direct_tls=self.endpoint.direct_tls,
                insecure=self.options.insecure,
                on_stanza=lambda stanza: self._stanza_arrived(session, inbox, stanza),
                on_close=lambda reason: self._stream_closed(session, inbox, reason),
                register=self.profile.accounts is AccountMode.REGISTER,
            )
        except ValueError as exc:
            raise _StepFailed(f"{name} cannot log in: {exc}", status=Status.ERRORED) from None
        session.client, session.inbox = client, inbox
        try:
            await client.connect(self.options.connect_timeout)
        except TargetUnreachable as exc:
            raise _StepFailed(str(exc), status=Status.ERRORED) from None
        except XMPPError as exc:
            raise _StepFailed(f"login as {session.login_jid} failed: {exc}") from None
        session.full_jid = client.full_jid
        session.disconnected = False
        self._log(name, "event", f"connected as {client.full_jid}")
        return f"bound {client.full_jid}"

    async def _disconnect(self, session: _Session) -> str:
        client = session.client
        if client is None or client.closed:
            return "already disconnected"
        await client.close()  # bounded by the client: a silent server cannot hold it
        session.disconnected = True
        self._log(session.actor.name, "event", "disconnected")
        return "disconnected"

    async def _send(self, session: _Session, block: str) -> str:
        text = substitute(block, self._resolve, self.variables.lookup)
        if session.disconnected:
            # As scansion does: what an actor sends after it disconnected goes
            # nowhere (scripts end with a courtesy unavailable presence).
            self._log(session.actor.name, "event", f"dropped (disconnected): {text.strip()}")
            return f"dropped {len(text.encode())} bytes: {session.actor.name} has disconnected"
        client = self._open_client(session)
        try:
            async with asyncio.timeout(self.options.timeout):
                await client.send_raw(text)
        except TimeoutError:
            raise _StepFailed(
                f"the server did not read what {session.actor.name} sent "
                f"within {self.options.timeout:g} s"
            ) from None
        except (XMPPError, OSError) as exc:
            raise _StepFailed(f"{session.actor.name} could not send: {exc}") from None
        session.unsettled = True
        self._log(session.actor.name, "sent", text)
        return f"sent {len(text.encode())} bytes"

    async def _receive(self, session: _Session, block: str) -> str:
        inbox = self._inbox(session)
        expected = self._expected(block)
        deadline = time.monotonic() + self.options.timeout
        for index, element in enumerate(expected):
            # One timeout for the whole block; the first wait gets it exactly (clean messages).
            remaining = self.options.timeout if index == 0 else deadline - time.monotonic()
            try:
                stanza = await inbox.receive(element, max(0.0, remaining), self.bindings)
            except ReceiveTimeout as exc:
                raise self._no_match(session, element, exc) from None
            self.matched.append(show_xml(stanza))
            self._mark_matched(stanza)
        return f"matched {len(expected)} stanza{'s' if len(expected) > 1 else ''}"

    def _expected(self, block: str) -> list[etree._Element]:
        try:
            return expected_from_text(block, self._resolve, self.variables.lookup)
        except BlockSyntaxError as exc:
            raise _StepFailed(
                f"the expected stanza is not well-formed XML: {exc.message}", status=Status.ERRORED
            ) from None

    async def _receive_in_order(self, session: _Session, block: str) -> str:
        """Each stanza as `receives` finds it, each one arrived after the one before."""
        inbox = self._inbox(session)
        expected = self._expected(block)
        deadline = time.monotonic() + self.options.timeout
        after = -1
        for position, element in enumerate(expected, 1):
            remaining = max(0.0, deadline - time.monotonic())
            try:
                after, stanza = await inbox.receive_after(element, remaining, self.bindings, after)
            except OutOfOrder as exc:
                raise _StepFailed(
                    f"stanza {position} of {len(expected)} arrived before stanza {position - 1}",
                    expected=show_xml(element),
                    closest=show_xml(exc.stanza),
                    explanation=f"the order is wrong: the match for stanza {position} "
                    f"arrived before the match for stanza {position - 1}",
                ) from None
            except ReceiveTimeout as exc:
                failed = self._no_match(
                    session, element, exc, f"stanza {position} of {len(expected)}: "
                )
                raise failed from None
            self.matched.append(show_xml(stanza))
        return f"matched {len(expected)} stanzas in order"

    async def _must_not_receive(self, session: _Session, block: str, within: float | None) -> str:
        inbox = self._inbox(session)
        forbidden = self._expected(block)
        window = self.quiet_period if within is None else within
        try:
            await inbox.must_not_receive(forbidden, window, self.bindings)
        except UnexpectedStanza as exc:
            raise _StepFailed(
                f"{session.actor.name} received a stanza it must not receive",
                expected=show_xml(forbidden[0]) if len(forbidden) == 1 else None,
                closest=show_xml(exc.stanza),
            ) from None
        return f"nothing forbidden within {window:g} s"

    async def _receive_nothing(self, session: _Session) -> str:
        inbox = self._inbox(session)
        try:
            await inbox.receive_nothing(self.quiet_period)
        except UnexpectedStanza as exc:
            raise _StepFailed(
                f"{session.actor.name} received a stanza while expecting nothing",
                closest=show_xml(exc.stanza),
            ) from None
        return f"nothing within {self.quiet_period:g} s"

    def _no_match(
        self, session: _Session, element: etree._Element, exc: ReceiveTimeout, prefix: str = ""
    ) -> _StepFailed:
        """The failure of a step that found no stanza matching `element`: the closest, and where
        it differs."""
        where = exc.closest_match
        return _StepFailed(
            prefix + self._no_match_message(session, exc),
            expected=show_xml(element),
            closest=show_xml(exc.closest) if exc.closest is not None else None,
            explanation=exc.explanation,
            buffered=exc.buffered,
            path=where.path if where else (),
            marks=where.marks if where else (),
        )

    def _no_match_message(self, session: _Session, failure: ReceiveTimeout) -> str:
        if isinstance(failure, AnswerContradicts):
            return failure.message
        client = session.client
        if client is not None and client.closed:
            reason = client.close_reason or "closed"
            return (
                f"{session.actor.name}'s stream is closed ({reason}) "
                "and no stanza it received matches"
            )
        return f"no matching stanza within {self.options.timeout:g} s"

    def _open_client(self, session: _Session) -> Client:
        client = session.client
        if client is None:
            raise _StepFailed(f"{session.actor.name} has not connected")
        if client.closed:
            raise _StepFailed(
                f"{session.actor.name}'s stream is closed ({client.close_reason or 'closed'})"
            )
        return client

    def _inbox(self, session: _Session) -> Inbox:
        if session.inbox is None:
            raise _StepFailed(f"{session.actor.name} has not connected")
        return session.inbox

    def _resolve(self, actor: str, full: bool) -> str:
        session = self.sessions.get(actor)
        if session is None:
            raise _StepFailed(f"variable names {actor!r}, which is not declared in the header")
        if not full:
            return session.bare_jid
        if session.full_jid is None:
            raise _StepFailed(f"${{{actor}'s full JID}} is unknown: {actor} has not connected yet")
        return session.full_jid

    async def _settle(self, others_than: _Session) -> None:
        """Make the server finish what other actors sent before this actor acts (Q5).

        Two clients' bytes written in script order can still be processed in
        either order by the server (basic_message: Romeo's message to a bare JID
        and Juliet's first presence). A server handles one stream's stanzas in
        order (RFC 6120 section 10.1), so its answer to an iq sent after them
        proves they were processed. The iq and its answer stay out of the inbox.
        """
        pending = [
            session
            for session in self.sessions.values()
            if session.unsettled and session is not others_than
        ]
        await asyncio.gather(*(self._round_trip(session) for session in pending))

    async def _round_trip(self, session: _Session) -> None:
        session.unsettled = False
        domain = session.bare_jid.rpartition("@")[2]
        await self._private_iq(
            session, f"<iq type='get' id='{{id}}' to='{domain}'><ping xmlns='{ns.PING}'/></iq>"
        )

    async def _private_iq(self, session: _Session, template: str) -> etree._Element | None:
        """Send one of the harness's own iqs (`{id}` in the template) and wait for its answer.

        None when the stream is closed or silent within the timeout: that shows in
        the steps that use the stream, not here."""
        client = session.client
        if client is None or client.closed:
            return None
        self.settle_count += 1
        iq_id = f"scansion-{self.settle_count}"
        answered: asyncio.Future[etree._Element | None] = asyncio.get_running_loop().create_future()
        session.private[iq_id] = answered
        try:
            await client.send_raw(template.replace("{id}", iq_id))
            async with asyncio.timeout(self.options.timeout):
                return await answered
        except (TimeoutError, XMPPError, OSError):
            return None
        finally:
            session.private.pop(iq_id, None)

    def _stanza_arrived(self, session: _Session, inbox: Inbox, stanza: etree._Element) -> None:
        if stanza.tag == _IQ and stanza.get("id") in session.private:
            answered = session.private[stanza.get("id", "")]
            if not answered.done():
                answered.set_result(stanza)
            return
        form = stanza.find(_CONFIG_FORM)
        if form is not None:
            self.config_fields = frozenset(
                field.get("var", "") for field in form.iter(f"{{{_DATA}}}field")
            )
        inbox.put(stanza)
        if self.options.record_traffic:
            self.traffic_of[id(stanza)] = (stanza, len(self.traffic))
            self._log(session.actor.name, "received", show_xml(stanza))
        if self.options.validate:
            from harness.schema import validate_stanza  # xmlschema: a slow import, used rarely

            problems = tuple(str(violation) for violation in validate_stanza(stanza))
            if problems:
                step = self.script.steps[self.step_index]
                self.invalid.append(
                    InvalidStanza(
                        self.step_index, step.line, session.actor.name, show_xml(stanza), problems
                    )
                )

    def _mark_matched(self, stanza: etree._Element) -> None:
        """Record on the stanza's traffic entry which step it satisfied (for the diagram)."""
        found = self.traffic_of.pop(id(stanza), None)
        if found is not None and found[0] is stanza:
            entry = self.traffic[found[1]]
            self.traffic[found[1]] = replace(entry, matched_by=self.step_index)

    def _stream_closed(self, session: _Session, inbox: Inbox, reason: str) -> None:
        inbox.close(reason)
        for answered in session.private.values():
            if not answered.done():
                answered.set_result(None)
        self._log(session.actor.name, "event", f"stream closed: {reason}")

    def _log(self, actor: str, direction: str, text: str) -> None:
        if self.options.record_traffic:
            self.traffic.append(
                TrafficEntry(
                    time.monotonic() - self.started, actor, direction, text, self.step_index
                )
            )

    async def _close_all(self) -> None:
        """Close what the script left open, concurrently (each close is bounded by the client)."""

        async def close(client: Client) -> None:
            with contextlib.suppress(XMPPError, OSError):  # the outcome is already decided
                await client.close()

        open_clients = [
            s.client for s in self.sessions.values() if s.client and not s.client.closed
        ]
        await asyncio.gather(*(close(client) for client in open_clients))


def _failure(index: int, step: Step, failed: _StepFailed) -> Failure:
    return Failure(
        line=step.line,
        step=index,
        actor=step.actor,
        action=str(step.action),
        message=failed.message,
        expected=failed.expected,
        closest=failed.closest,
        explanation=failed.explanation,
        buffered=failed.buffered,
        path=failed.path,
        marks=failed.marks,
    )


def account_of(actor: Actor, profile: Profile, variables: RunVariables) -> Actor:
    """The actor as it logs in: run variables substituted, or the profile's given account."""
    given = profile.account_for(actor.name)
    if profile.accounts is AccountMode.GIVEN and given is not None:
        properties = {**actor.properties, "jid": given.jid, "password": given.password}
    else:
        properties = {
            key: substitute(value, _no_actor, variables.lookup, escape=False)
            for key, value in actor.properties.items()
        }
    return replace(actor, properties=properties)


def _no_actor(actor: str, full: bool) -> str:
    raise AssertionError("declarations cannot name actors (the parser rejects it)")


async def run_script(
    script: Script, endpoint: Endpoint, options: RunOptions, profile: Profile = LOCALHOST
) -> ScriptResult:
    """Run one script against an endpoint; never raises for anything the server does.

    `${room}` and `${unique:NAME}` get fresh values for this run."""
    variables = RunVariables(profile.domain, profile.muc)
    return await _ScriptRun(script, endpoint, options, profile, variables).run()


async def run_on_target(script: Script, target: Target, options: RunOptions) -> ScriptResult:
    """Run one script in its own endpoint (for `reference`: its own fresh server)."""
    started = time.monotonic()
    try:
        if options.quiet_period is None:
            options = replace(options, quiet_period=target.quiet_period)
        async with target.endpoint() as endpoint:
            return await run_script(script, endpoint, options, target.profile)
    except Exception as exc:  # the endpoint itself failed (e.g. the embedded server did not start)
        return _not_started(script, f"{target} is not available: {exc}", started)


def _not_started(script: Script, message: str, started: float) -> ScriptResult:
    first = script.steps[0] if script.steps else None
    failure = Failure(
        line=first.line if first else 1,
        step=0,
        actor=first.actor if first else "",
        action=str(first.action) if first else "",
        message=message,
    )
    return ScriptResult(
        script.path, script.title, Status.ERRORED, time.monotonic() - started, (), failure
    )


async def probe(target: Target, timeout: float) -> str | None:
    """None when the target accepts TCP connections, else why not (for a clear exit 3)."""
    if target.embedded:
        return None
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(target.host, target.port)
    except TimeoutError:
        return f"cannot connect to {target.host}:{target.port}: no answer within {timeout:g} s"
    except OSError as exc:
        return f"cannot connect to {target.host}:{target.port}: {exc.strerror or exc}"
    writer.close()
    with contextlib.suppress(OSError):  # closing a connection we never used
        await writer.wait_closed()
    return None


async def run_scripts(
    scripts: Sequence[Script],
    target: Target,
    options: RunOptions,
    *,
    exitfirst: bool = False,
    observer: RunObserver | None = None,
    jobs: int = 1,
) -> RunResult:
    """Run scripts; up to `jobs` at once when the target gives each script its own server.

    Results and observer calls come in script order whatever the order scripts end in.
    On cancellation (Ctrl-C) returns what ran, marked interrupted.
    """
    run = RunResult(str(target), validated=options.validate)
    started = time.monotonic()
    try:
        run.unreachable = await probe(target, options.connect_timeout)
        if run.unreachable is None:
            if options.ask_version:
                run.server = await server_software(target, scripts, options)
            await _run_in_order(scripts, target, options, run, started, jobs, exitfirst, observer)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        run.interrupted = True
    run.duration_s = time.monotonic() - started
    return run


def fresh_names_only(script: Script, profile: Profile) -> bool:
    """Whether every actor of the script logs in under a fresh name (`${unique:NAME}`).

    Such a script can share a server with other runs: its accounts are its own,
    and by convention its rooms are `${room}`. Any other script, or any script
    whose actors use a profile's given accounts, has the server to itself."""
    if profile.accounts is AccountMode.GIVEN:
        return False
    return all("${unique:" in actor.jid for actor in script.actors)


class _SharedServer:
    """Scripts with fresh names run side by side on one server; any other runs alone.

    A script that must run alone waits for the running ones to end, and scripts
    arriving after it wait for it, so it is never starved."""

    def __init__(self) -> None:
        self._changed = asyncio.Condition()
        self._sharing = 0
        self._alone = False
        self._waiting_alone = 0

    @contextlib.asynccontextmanager
    async def use(self, *, alone: bool) -> AsyncIterator[None]:
        async with self._changed:
            if alone:
                self._waiting_alone += 1
                try:
                    await self._changed.wait_for(lambda: not self._alone and not self._sharing)
                finally:
                    self._waiting_alone -= 1
                self._alone = True
            else:
                await self._changed.wait_for(lambda: not self._alone and not self._waiting_alone)
                self._sharing += 1
        try:
            yield
        finally:
            async with self._changed:
                if alone:
                    self._alone = False
                else:
                    self._sharing -= 1
                self._changed.notify_all()


async def _run_in_order(
    scripts: Sequence[Script],
    target: Target,
    options: RunOptions,
    run: RunResult,
    run_started: float,
    jobs: int,
    exitfirst: bool,
    observer: RunObserver | None,
) -> None:
    """Run the scripts, up to `jobs` at once, and hand out their results in script order.

    On cancellation the scripts that were running are recorded too, in order,
    each with its interrupted step, before the cancellation goes on."""
    slots = asyncio.Semaphore(jobs)  # FIFO: scripts start in order
    server = _SharedServer()
    interrupted: dict[int, ScriptResult] = {}

    stopping = False  # once a script is interrupted, no other one starts

    async def one(index: int, script: Script) -> ScriptResult:
        nonlocal stopping
        alone = not target.independent and not fresh_names_only(script, target.profile)
        async with slots, server.use(alone=alone):
            if stopping:
                raise asyncio.CancelledError
            if observer:
                observer.script_started(script)
            started_s = time.monotonic() - run_started
            try:
                result = await run_on_target(script, target, options)
            except ScriptInterrupted as stopped:
                stopping = True
                interrupted[index] = dataclasses.replace(stopped.result, started_s=started_s)
                raise
            return dataclasses.replace(result, started_s=started_s)

    def keep(result: ScriptResult) -> bool:
        """Record a result; False when the run stops here (-x)."""
        run.scripts.append(result)
        if observer:
            observer.script_finished(result)
        return not (exitfirst and result.status is not Status.PASSED)

    kept = len(run.scripts)
    tasks: list[asyncio.Task[ScriptResult]] = []
    cancelled = False
    try:
        if jobs <= 1:  # a script starts only once the run is known to go on
            for index, script in enumerate(scripts):
                if not keep(await one(index, script)):
                    return
            return
        tasks = [asyncio.create_task(one(index, script)) for index, script in enumerate(scripts)]
        for task in tasks:
            if not keep(await task):
                return
    except asyncio.CancelledError:
        cancelled = True
        raise
    finally:
        for task in tasks:  # after -x, or on cancellation
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if cancelled:
            done = len(run.scripts) - kept
            for index in sorted(interrupted):
                if index >= done:
                    keep(interrupted[index])


async def run_matrix(
    scripts: Sequence[Script],
    targets: Sequence[Target],
    options: RunOptions,
    *,
    exitfirst: bool = False,
    jobs: int = 1,
    observer_for: Callable[[Target], RunObserver | None] = lambda target: None,
) -> MatrixResult:
    """Run the scripts against every target; targets run side by side (they share nothing).

    On cancellation (Ctrl-C) every target's run stops and reports what ran, interrupted.
    """
    matrix = MatrixResult([], datetime.now(UTC))
    started = time.monotonic()
    runs = [
        asyncio.create_task(
            run_scripts(
                scripts,
                target,
                options,
                exitfirst=exitfirst,
                observer=observer_for(target),
                jobs=jobs,
            )
        )
        for target in targets
    ]
    try:
        await asyncio.wait(runs)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        for run in runs:
            run.cancel()
        await asyncio.wait(runs)
    matrix.runs = [
        RunResult(str(target), interrupted=True) if run.cancelled() else run.result()
        for target, run in zip(targets, runs, strict=True)
    ]
    matrix.duration_s = time.monotonic() - started
    return matrix


async def server_software(
    target: Target, scripts: Sequence[Script], options: RunOptions
) -> str | None:
    """What the target says it runs (XEP-0092, asked of the first actor's domain), or None.

    Best effort, for reports: logs in with the first actor's credentials, which the
    scripts need to work anyway; any failure or silence within the timeout gives None.
    """
    first = next((a for script in scripts for a in script.actors), None)
    answer = None
    if first is not None:
        profile = target.profile
        actor = account_of(first, profile, RunVariables(profile.domain, profile.muc))
        try:
            domain = JID.parse(actor.jid).domain
            async with target.endpoint() as endpoint:
                answer = await _ask_version(actor, domain, endpoint, options, profile)
        except Exception:  # best effort: a report without a version is still a report
            answer = None
    if answer is None and target.embedded:
        return f"scansion-py reference server {__version__}"
    return answer


async def _ask_version(
    actor: Actor, domain: str, endpoint: Endpoint, options: RunOptions, profile: Profile
) -> str | None:
    answer: asyncio.Future[etree._Element] = asyncio.get_running_loop().create_future()
    iq_id = "scansion-version"

    def arrived(stanza: etree._Element) -> None:
        if stanza.tag == _IQ and stanza.get("id") == iq_id and not answer.done():
            answer.set_result(stanza)

    client = Client(
        actor.jid.partition("/")[0],
        actor.password,
        host=endpoint.host,
        port=endpoint.port,
        tls=options.tls,
        direct_tls=endpoint.direct_tls,
        insecure=options.insecure,
        on_stanza=arrived,
        register=profile.accounts is AccountMode.REGISTER,
    )
    try:
        async with asyncio.timeout(options.connect_timeout):
            await client.connect(options.connect_timeout)
            await client.send_raw(
                f"<iq type='get' id='{iq_id}' to='{domain}'><query xmlns='{_VERSION}'/></iq>"
            )
            reply = await answer
    finally:
        await client.close()
    name = reply.findtext(f"{{{_VERSION}}}query/{{{_VERSION}}}name")
    version = reply.findtext(f"{{{_VERSION}}}query/{{{_VERSION}}}version")
    if reply.get("type") != "result" or not name:
        return None
    return f"{name.strip()} {(version or '').strip()}".strip()
