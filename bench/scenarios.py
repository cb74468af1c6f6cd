"""The load scenarios: MUC fan-out, sequential joins to one room, concurrent logins.

Each scenario sets up outside the measured phase (logins, room creation), then
measures one phase: wall time, server CPU over that phase (read from /proc by
the caller's probe), the load generator's own CPU, latencies, and correctness
(lost, duplicated, out-of-order deliveries). Room and user names carry a fresh
tag per run, so repeated runs on one server never see each other's rooms.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from bench.loadgen import STREAM_END, Address, Connection, LoadError, login
from bench.muc import Occupant, Tally, create_room, room_jid
from bench.results import Measurement, failed, percentile_ms

SETUP_CONCURRENCY = 20
MAX_CONNECTIONS = 2000


class ScenarioError(ValueError):
    """A scenario description that cannot be run; the message shows the accepted forms."""


@dataclass(frozen=True)
class Limits:
    """Bounds on one run, so a stalled server costs seconds, not the session."""

    run_timeout: float = 120.0  # the measured phase, at most
    idle_timeout: float = 10.0  # give up waiting when nothing arrived for this long
    step_timeout: float = 15.0  # one login, one room creation, one join


CpuProbe = Callable[[], float | None]


@dataclass
class RunContext:
    address: Address
    target: str
    server_cpu: CpuProbe
    limits: Limits

    def __post_init__(self) -> None:
        self.tag = secrets.token_hex(3)


class _Phase:
    """Wall clock, server CPU and our own CPU across the measured phase."""

    def __init__(self, server_cpu: CpuProbe) -> None:
        self._server_cpu = server_cpu
        self.start_ns = time.perf_counter_ns()
        self._cpu0 = server_cpu()
        self._own0 = time.process_time()
        self.server_cpu_s: float | None = None
        self.loadgen_cpu_s = 0.0

    def finish(self) -> None:
        cpu1 = self._server_cpu()
        if self._cpu0 is not None and cpu1 is not None:
            self.server_cpu_s = cpu1 - self._cpu0
        self.loadgen_cpu_s = time.process_time() - self._own0


async def _bounded(jobs: Iterable[Callable[[], Awaitable[object]]], concurrency: int) -> None:
    """Run jobs with at most `concurrency` at once; the first failure cancels the rest."""
    gate = asyncio.Semaphore(concurrency)

    async def gated(job: Callable[[], Awaitable[object]]) -> None:
        async with gate:
            await job()

    try:
        async with asyncio.TaskGroup() as group:
            for job in jobs:
                group.create_task(gated(job))
    except ExceptionGroup as failures:
        reasons = sorted({_error_text(inner) for inner in failures.exceptions})
        raise LoadError("; ".join(reasons[:3])) from None


async def _login_all(ctx: RunContext, users: list[str]) -> list[Connection]:
    connections: dict[int, Connection] = {}

    async def one(index: int, user: str) -> None:
        try:
            async with asyncio.timeout(ctx.limits.step_timeout):
                connections[index] = await login(ctx.address, user, user)
        except TimeoutError:
            raise LoadError(f"{user}: login timed out") from None

    try:
        await _bounded((lambda i=i, u=u: one(i, u) for i, u in enumerate(users)), SETUP_CONCURRENCY)
    except BaseException:
        await _close_all(list(connections.values()))
        raise
    return [connections[index] for index in range(len(users))]


async def _close_all(connections: list[Connection]) -> None:
    await asyncio.gather(*(conn.close(timeout=10.0) for conn in connections))


async def _settle(tally: Tally, limits: Limits, started: float) -> None:
    """Wait until everything expected arrived, or nothing arrived for a while, or time is up."""
    loop = asyncio.get_running_loop()
    while not tally.complete.is_set():
        remaining = started + limits.run_timeout - loop.time()
        if remaining <= 0:
            tally.errors[f"run stopped after {limits.run_timeout:g} s"] += 1
            return
        before = tally.progress
        try:
            await asyncio.wait_for(tally.complete.wait(), min(limits.idle_timeout, remaining))
        except TimeoutError:
            if tally.progress == before:
                tally.errors[f"nothing arrived for {limits.idle_timeout:g} s"] += 1
                return


def _dropped(connections: list[Connection]) -> dict[str, int]:
    lost = sum(1 for conn in connections if conn.closed)
    return {f"{lost} connections closed by the server during the run": 1} if lost else {}


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


@dataclass(frozen=True)
class FanOut:
    """R rooms of N occupants each; one occupant per room sends M messages.

    Every occupant, the sender included (MUC reflects messages to their sender),
    must receive every message exactly once and in order: R*N*M deliveries."""

    occupants: int
    messages: int
    rooms: int = 1
    unit = "deliveries/s"

    @property
    def name(self) -> str:
        rooms = f", {self.rooms} rooms" if self.rooms > 1 else ""
        return f"fan-out: {self.occupants} occupants, {self.messages} messages{rooms}"

    def check(self) -> None:
        if self.occupants < 2 or self.messages < 1 or self.rooms < 1:
            raise ScenarioError("fan-out needs occupants >= 2, messages >= 1, rooms >= 1")
        if self.occupants * self.rooms > MAX_CONNECTIONS:
            raise ScenarioError(f"fan-out would open more than {MAX_CONNECTIONS} connections")
        if self.messages > 100_000:
            raise ScenarioError("fan-out sends at most 100000 messages per room")

    async def run(self, ctx: RunContext) -> Measurement:
        tally = Tally()
        rooms = [room_jid(f"fo{ctx.tag}r{r}") for r in range(self.rooms)]
        users = [f"fo{ctx.tag}r{r}u{i}" for r in range(self.rooms) for i in range(self.occupants)]
        try:
            connections = await _login_all(ctx, users)
        except (LoadError, TimeoutError) as exc:
            return failed(self.name, ctx.target, self.unit, f"login: {_error_text(exc)}")
        try:
            return await self._measure(ctx, tally, rooms, connections)
        finally:
            await _close_all(connections)

    async def _measure(
        self, ctx: RunContext, tally: Tally, rooms: list[str], connections: list[Connection]
    ) -> Measurement:
        occupants: list[Occupant] = []
        senders: list[Connection] = []
        try:
            for r, room in enumerate(rooms):
                members = connections[r * self.occupants : (r + 1) * self.occupants]
                await create_room(members[0], room, "n0", self.occupants, ctx.limits.step_timeout)
                senders.append(members[0])
                occupants.append(
                    Occupant(members[0], room, 0, tally, messages=self.messages, joined=True)
                )
                occupants += [
                    Occupant(conn, room, i, tally, messages=self.messages)
                    for i, conn in enumerate(members[1:], start=1)
                ]
            await _bounded((self._joiner(o, ctx.limits) for o in occupants), SETUP_CONCURRENCY)
        except (LoadError, TimeoutError) as exc:
            return failed(self.name, ctx.target, self.unit, f"setup: {_error_text(exc)}")

        tally.expect(len(occupants) * self.messages)
        for occupant in occupants:
            occupant.defer_counting()
        loop = asyncio.get_running_loop()
        phase = _Phase(ctx.server_cpu)
        started = loop.time()
        for r, sender in enumerate(senders):
            room = rooms[r]
            for seq in range(self.messages):
                sender.send(
                    f"<message to='{room}' type='groupchat' id='m{seq}'>"
                    f"<body>fo:{seq}:{time.perf_counter_ns()}</body></message>".encode()
                )
        await _settle(tally, ctx.limits, started)
        phase.finish()
        for occupant in occupants:
            occupant.count_deferred()
        if tally.unique < tally.expected and not tally.errors:
            tally.complete.clear()  # duplicates made it look complete: wait for the rest
            await _settle(tally, ctx.limits, started)
        seconds = max(tally.last_ns - phase.start_ns, 1) / 1e9
        tally.errors.update(_dropped(connections))
        return Measurement(
            scenario=self.name,
            target=ctx.target,
            unit=self.unit,
            done=tally.unique,
            expected=tally.expected,
            seconds=seconds,
            throughput=tally.unique / seconds,
            p50_ms=percentile_ms(tally.latencies_ns, 0.50),
            p99_ms=percentile_ms(tally.latencies_ns, 0.99),
            server_cpu_s=phase.server_cpu_s,
            loadgen_cpu_s=phase.loadgen_cpu_s,
            lost=tally.lost,
            duplicated=tally.duplicated,
            out_of_order=tally.out_of_order,
            errors=dict(tally.errors),
        )

    @staticmethod
    def _joiner(occupant: Occupant, limits: Limits) -> Callable[[], Awaitable[object]]:
        async def join() -> None:
            if occupant.joined.done():
                return
            occupant.join()
            try:
                async with asyncio.timeout(limits.step_timeout):
                    await occupant.joined
            except TimeoutError:
                raise LoadError(f"{occupant.nick}: join timed out") from None

        return join


@dataclass(frozen=True)
class Joins:
    """N users join one existing room one after another; each join is timed until the
    joiner sees its own presence. Every occupant must be told of every other one
    exactly once, newcomers in the order they joined: N*N presences."""

    joins: int
    unit = "joins/s"

    @property
    def name(self) -> str:
        return f"joins: {self.joins} one by one"

    def check(self) -> None:
        if not 1 <= self.joins <= MAX_CONNECTIONS:
            raise ScenarioError(f"joins needs 1 to {MAX_CONNECTIONS} joins")

    async def run(self, ctx: RunContext) -> Measurement:
        room = room_jid(f"jn{ctx.tag}")
        users = [f"jn{ctx.tag}owner"] + [f"jn{ctx.tag}u{i}" for i in range(self.joins)]
        try:
            connections = await _login_all(ctx, users)
        except (LoadError, TimeoutError) as exc:
            return failed(self.name, ctx.target, self.unit, f"login: {_error_text(exc)}")
        try:
            return await self._measure(ctx, room, connections)
        finally:
            await _close_all(connections)

    async def _measure(
        self, ctx: RunContext, room: str, connections: list[Connection]
    ) -> Measurement:
        owner, joiners = connections[0], connections[1:]
        try:
            await create_room(owner, room, "owner", self.joins + 1, ctx.limits.step_timeout)
        except (LoadError, TimeoutError) as exc:
            return failed(self.name, ctx.target, self.unit, f"setup: {_error_text(exc)}")
        owner.start_sink(lambda chunk: None)
        tally = Tally()
        occupants = [
            Occupant(conn, room, i, tally, peers=self.joins) for i, conn in enumerate(joiners)
        ]
        for occupant in occupants:
            occupant.defer_counting()
        loop = asyncio.get_running_loop()
        phase = _Phase(ctx.server_cpu)
        started = loop.time()
        latencies: list[int] = []
        joined = 0
        last_join_ns = phase.start_ns
        for occupant in occupants:
            if loop.time() - started > ctx.limits.run_timeout:
                tally.errors[f"run stopped after {ctx.limits.run_timeout:g} s"] += 1
                break
            sent = time.perf_counter_ns()
            occupant.join()
            try:
                async with asyncio.timeout(ctx.limits.step_timeout):
                    last_join_ns = await occupant.joined
            except (LoadError, TimeoutError) as exc:
                tally.errors[f"join {occupant.nick}: {_error_text(exc)}"] += 1
                continue
            latencies.append(last_join_ns - sent)
            joined += 1
        phase.finish()  # the server has sent everything once the last joiner is in
        for occupant in occupants:
            occupant.count_deferred()
        tally.expect(joined * joined)
        await _settle(tally, ctx.limits, started)
        seconds = max(last_join_ns - phase.start_ns, 1) / 1e9
        tally.errors.update(_dropped(connections))
        return Measurement(
            scenario=self.name,
            target=ctx.target,
            unit=self.unit,
            done=joined,
            expected=self.joins,
            seconds=seconds,
            throughput=joined / seconds,
            p50_ms=percentile_ms(latencies, 0.50),
            p99_ms=percentile_ms(latencies, 0.99),
            server_cpu_s=phase.server_cpu_s,
            loadgen_cpu_s=phase.loadgen_cpu_s,
            lost=tally.lost,
            duplicated=tally.duplicated,
            out_of_order=tally.out_of_order,
            errors=_summarise(tally.errors),
        )


def _summarise(errors: Counter[str], shown: int = 5) -> dict[str, int]:
    """Keep the report readable when many joins fail the same way."""
    by_reason: Counter[str] = Counter()
    for text, count in errors.items():
        reason = text.split(": ", 1)[1] if text.startswith("join ") else text
        by_reason[f"join: {reason}" if text.startswith("join ") else reason] += count
    return dict(by_reason.most_common(shown))


@dataclass(frozen=True)
class Logins:
    """N users log in (TCP, stream, SASL PLAIN, restart, bind), C at a time, then leave."""

    logins: int
    concurrency: int
    unit = "logins/s"

    @property
    def name(self) -> str:
        return f"logins: {self.logins}, {self.concurrency} at a time"

    def check(self) -> None:
        if not 1 <= self.logins <= 100_000:
            raise ScenarioError("logins needs 1 to 100000 logins")
        if not 1 <= self.concurrency <= 500:
            raise ScenarioError("logins needs a concurrency of 1 to 500")

    async def run(self, ctx: RunContext) -> Measurement:
        gate = asyncio.Semaphore(self.concurrency)
        latencies: list[int] = []
        errors: Counter[str] = Counter()
        leaving: list[Connection] = []

        async def one(index: int) -> None:
            user = f"lg{ctx.tag}u{index}"
            async with gate:
                sent = time.perf_counter_ns()
                try:
                    async with asyncio.timeout(ctx.limits.step_timeout):
                        conn = await login(ctx.address, user, user)
                except (LoadError, TimeoutError) as exc:
                    errors[_error_text(exc).removeprefix(f"{user}: ")] += 1
                    return
                latencies.append(time.perf_counter_ns() - sent)
                conn.send(STREAM_END)
                leaving.append(conn)

        phase = _Phase(ctx.server_cpu)
        try:
            async with asyncio.timeout(ctx.limits.run_timeout):
                await asyncio.gather(*(one(index) for index in range(self.logins)))
        except TimeoutError:
            errors[f"run stopped after {ctx.limits.run_timeout:g} s"] += 1
        seconds = (time.perf_counter_ns() - phase.start_ns) / 1e9
        phase.finish()
        await _close_all(leaving)
        done = len(latencies)
        return Measurement(
            scenario=self.name,
            target=ctx.target,
            unit=self.unit,
            done=done,
            expected=self.logins,
            seconds=seconds,
            throughput=done / seconds,
            p50_ms=percentile_ms(latencies, 0.50),
            p99_ms=percentile_ms(latencies, 0.99),
            server_cpu_s=phase.server_cpu_s,
            loadgen_cpu_s=phase.loadgen_cpu_s,
            lost=self.logins - done,
            duplicated=None,
            out_of_order=None,
            errors=dict(errors.most_common(5)),
        )


Scenario = FanOut | Joins | Logins

PRESETS: dict[str, Scenario] = {
    "fanout-50": FanOut(occupants=50, messages=200),
    "fanout-200": FanOut(occupants=200, messages=50),
    "joins-200": Joins(joins=200),
    "logins-500": Logins(logins=500, concurrency=50),
}

_FORMS = (
    "a preset (" + ", ".join(PRESETS) + ") or fanout:occupants=N:messages=M[:rooms=R], "
    "joins:n=N, logins:n=N:concurrency=C"
)


def parse_scenario(text: str) -> Scenario:
    """`fanout-50` or `fanout:occupants=50:messages=200:rooms=2` and the like."""
    text = text.strip()
    if text in PRESETS:
        return PRESETS[text]
    kind, _, rest = text.partition(":")
    values: dict[str, int] = {}
    for part in filter(None, rest.split(":")):
        key, eq, value = part.partition("=")
        if not eq or not value.isdigit():
            raise ScenarioError(f"bad setting {part!r} in scenario {text!r}; expected {_FORMS}")
        values[key] = int(value)
    try:
        if kind == "fanout":
            scenario: Scenario = FanOut(values.pop("occupants"), values.pop("messages"))
            scenario = FanOut(scenario.occupants, scenario.messages, values.pop("rooms", 1))
        elif kind == "joins":
            scenario = Joins(values.pop("n"))
        elif kind == "logins":
            scenario = Logins(values.pop("n"), values.pop("concurrency", 50))
        else:
            raise ScenarioError(f"unknown scenario {text!r}; expected {_FORMS}")
    except KeyError as missing:
        raise ScenarioError(
            f"scenario {text!r} needs {missing.args[0]}=N; expected {_FORMS}"
        ) from None
    if values:
        raise ScenarioError(
            f"unknown setting(s) {', '.join(values)} in {text!r}; expected {_FORMS}"
        )
    scenario.check()
    return scenario
