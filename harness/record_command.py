"""`scansion-py record`: a c2s proxy that writes what real clients did as a `.scs` script.

Exit codes: 0 script written, 1 nothing recorded or the file could not be
written, 2 usage error, 3 the upstream server is unreachable or the listen
address is unavailable.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import signal
import sys
from pathlib import Path

from harness.recorder import Recording, RecordingProxy, os_reason

DEFAULT_LISTEN = "127.0.0.1:5223"
PROBE_TIMEOUT = 5.0

EXIT_OK = 0
EXIT_NOTHING_WRITTEN = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3

_EPILOG = """\
The recorder must read the stanzas, so it removes STARTTLS from the features the
server offers: clients talk to it in plain text, and must be allowed to log in
without TLS (slixmpp: unencrypted_plain). It therefore listens on loopback only.
Point clients at the listen address with their usual JIDs; each client is an actor
of the script, named after its JID, with the password it logged in with (PLAIN; a
placeholder for other mechanisms). Ctrl-C stops recording and writes the script.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "record",
        help="record real clients' sessions as a script",
        description="Proxy client connections to an XMPP server and write what happened\n"
        "as a .scs script that replays against that server.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help=f"loopback address the clients connect to (default: {DEFAULT_LISTEN})",
    )
    parser.add_argument(
        "--upstream",
        required=True,
        metavar="HOST:PORT",
        help="the XMPP server's client port (c2s, plain TCP)",
    )
    parser.add_argument(
        "-o", "--output", required=True, type=Path, metavar="FILE", help="the script to write"
    )
    parser.add_argument(
        "--sessions",
        type=_positive_int,
        metavar="N",
        help="stop after N client sessions have ended (default: run until Ctrl-C)",
    )
    parser.set_defaults(func=record_command)


def record_command(args: argparse.Namespace) -> int:
    try:
        listen = split_address(args.listen, "--listen")
        upstream = split_address(args.upstream, "--upstream")
    except ValueError as exc:
        return _error(str(exc), EXIT_USAGE)
    if not _is_loopback(listen[0]):
        return _error(
            f"--listen {args.listen}: the recorder listens on loopback only "
            "(clients send their passwords to it in clear text); use 127.0.0.1:PORT",
            EXIT_USAGE,
        )
    if not args.output.parent.is_dir():
        return _error(
            f"-o {args.output}: the directory {args.output.parent} does not exist", EXIT_USAGE
        )
    return asyncio.run(_record(listen, upstream, args.output, args.sessions))


async def _record(
    listen: tuple[str, int], upstream: tuple[str, int], output: Path, sessions: int | None
) -> int:
    problem = await _probe(upstream)
    if problem:
        return _error(problem, EXIT_UNAVAILABLE)
    recording = Recording()
    proxy = RecordingProxy(upstream, recording, report=_say)
    try:
        port = await proxy.start(*listen)
    except OSError as exc:
        return _error(
            f"cannot listen on {listen[0]}:{listen[1]}: {os_reason(exc)}", EXIT_UNAVAILABLE
        )
    until = f"after {sessions} sessions" if sessions else "on Ctrl-C"
    _say(
        f"recording: clients connect to {listen[0]}:{port}, forwarded to "
        f"{upstream[0]}:{upstream[1]}; {output} is written {until}"
    )
    try:
        await _wait_for_stop(proxy, sessions)
    finally:
        await proxy.stop()
    return _write(recording, output, upstream)


async def _wait_for_stop(proxy: RecordingProxy, sessions: int | None) -> None:
    """Until Ctrl-C / SIGTERM, or until enough sessions have ended."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on every platform
            loop.add_signal_handler(signum, stop.set)
    waiters: list[asyncio.Task[object]] = [asyncio.create_task(stop.wait())]
    if sessions:
        waiters.append(asyncio.create_task(proxy.wait_sessions(sessions)))
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)


def _write(recording: Recording, output: Path, upstream: tuple[str, int]) -> int:
    for warning in recording.warnings:
        _say(f"warning: {warning}")
    if not recording.actors:
        return _error(
            f"no client session was recorded: {output} was not written", EXIT_NOTHING_WRITTEN
        )
    text = recording.script_text(
        description=[f"Recorded by scansion-py record through {upstream[0]}:{upstream[1]}."]
    )
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(text)
        return _error(
            f"cannot write {output}: {os_reason(exc)} (the script is on standard output)",
            EXIT_NOTHING_WRITTEN,
        )
    _say(f"wrote {output}: {len(recording.actors)} actors, {len(recording.steps)} steps")
    return EXIT_OK


async def _probe(address: tuple[str, int]) -> str | None:
    """Why the upstream server cannot be reached, or None (checked before clients come)."""
    host, port = address
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            _, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        return (
            f"cannot reach the upstream server {host}:{port}: no answer within {PROBE_TIMEOUT:g} s"
        )
    except OSError as exc:
        return f"cannot reach the upstream server {host}:{port}: {os_reason(exc)}"
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return None


def split_address(text: str, option: str) -> tuple[str, int]:
    """`HOST:PORT` or `[IPv6]:PORT`; ValueError says what to write."""
    host, colon, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not colon or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{option} {text}: expected HOST:PORT, e.g. 127.0.0.1:5222")
    return host, int(port)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, not {text!r}")
    return int(text)


def _say(message: str) -> None:
    print(f"scansion-py record: {message}", file=sys.stderr, flush=True)


def _error(message: str, code: int) -> int:
    _say(message)
    return code
