"""The servers under test, each in its own process so its CPU time can be read from /proc.

- `reference`: bench/serve_reference.py in a child process (uvloop, any password).
- `prosody`: Prosody 0.12 via ../shared/prosody/prosody-oracle, with the real clock
  (its frozen test clock stalls bursts of more than about 8 KiB) unless the scripts
  run need the frozen one (`real_clock=False`).
- `ejabberd`: ejabberd 23.01 via ../shared/ejabberd/ejabberd-target.
- any other name: the reference server of another source tree (`source`), such as
  a checkout of an earlier commit, to measure a change before and after in one run.

`../shared` is found next to the repository unless SCANSION_SHARED says otherwise;
without it only `reference` can run. Server CPU is the sum of user and system time
of the server process and all its descendants (ejabberd authenticates through a
child program), read from /proc/PID/stat.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SCANSION_SHARED", ROOT.parent / "shared"))
NAMES = ("reference", "prosody", "ejabberd")
SHARED_TARGETS = ("prosody", "ejabberd")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_START_TIMEOUT = 600.0  # the shared scripts install the Debian package when it is missing
_STOP_TIMEOUT = 120.0


class TargetUnavailable(Exception):
    """A target that cannot run here; the message says why and what to do."""


def free_port() -> int:
    """A free loopback port whose +58 neighbour (the servers' HTTP port) is free too."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port + 58 < 65536 and _is_free(port + 58):
            return port
    raise TargetUnavailable("no free loopback port pair found")


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after it.
    return text[text.rindex(")") + 2 :].split()


def _descendants(pid: int) -> Iterator[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    pending = [pid]
    while pending:
        current = pending.pop()
        yield current
        pending.extend(children.get(current, ()))


def process_tree_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of `pid` and its live descendants, or None if `pid` is gone."""
    total_ticks = 0
    for index, member in enumerate(_descendants(pid)):
        fields = _stat_fields(member)
        if fields is None:
            if index == 0:
                return None
            continue
        # After the command name: state is field 0, utime 11, stime 12 (proc(5) 14 and 15).
        total_ticks += int(fields[11]) + int(fields[12])
    return total_ticks / _CLOCK_TICKS


@dataclass
class TargetServer:
    """One running server: where to connect and which process does the work."""

    name: str
    port: int = 0
    pid: int | None = None
    note: str = ""
    # Prosody's test clock is frozen, which stalls bursts; scripts that check
    # timestamps need it frozen, load needs it real.
    real_clock: bool = True
    source: Path = ROOT  # the source tree whose reference server runs (not Prosody/ejabberd)
    _process: asyncio.subprocess.Process | None = field(default=None, repr=False)

    def cpu_seconds(self) -> float | None:
        return process_tree_cpu_seconds(self.pid) if self.pid is not None else None

    async def start(self, port: int | None) -> None:
        """Start a new server process, on `port` or on a free one."""
        if self.name in SHARED_TARGETS:
            await self._start_shared(port or free_port())
        else:
            await self._start_reference(port or 0)

    async def stop(self) -> None:
        if self._process is not None:
            if self._process.returncode is None:
                self._process.terminate()
                try:
                    await asyncio.wait_for(self._process.wait(), 10.0)
                except TimeoutError:
                    self._process.kill()
                    await self._process.wait()
            self._process = None
        elif self.port:
            await _run_script(self._script(), "stop", self.port, _STOP_TIMEOUT)
        self.pid = None
        self.port = 0

    async def _start_reference(self, port: int) -> None:
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(
                filter(None, [str(self.source), os.environ.get("PYTHONPATH")])
            ),
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.serve_reference",
            "--port",
            str(port),
            cwd=self.source,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            line = await asyncio.wait_for(process.stdout.readline(), 30.0)  # type: ignore[union-attr]
        except TimeoutError:
            line = b""
        words = line.decode().split()
        if len(words) != 2 or words[0] != "listening" or not words[1].isdigit():
            if process.returncode is None:
                process.kill()
            _, err = await process.communicate()
            reason = err.decode(errors="replace").strip().splitlines()
            raise TargetUnavailable(
                "the reference server did not start: "
                + (reason[-1] if reason else "no output within 30 s")
            )
        self._process = process
        self.port = int(words[1])
        self.pid = process.pid
        self.note = f"pid {process.pid}"

    def _script(self) -> Path:
        if self.name == "prosody":
            return SHARED / "prosody" / "prosody-oracle"
        return SHARED / "ejabberd" / "ejabberd-target"

    async def _start_shared(self, port: int) -> None:
        script = self._script()
        if not script.exists():
            raise TargetUnavailable(
                f"{script} is absent: {self.name} needs the shared material "
                f"(set SCANSION_SHARED to its directory)"
            )
        await _run_script(script, "start", port, _START_TIMEOUT, real_clock=self.real_clock)
        self.port = port
        state = Path(f"/tmp/prosody-oracle-{port}/prosody.pid")
        if self.name == "ejabberd":
            state = Path(f"/tmp/ejabberd-target-{port}/ejabberd.pid")
        try:
            self.pid = int(state.read_text().strip())
            self.note = f"pid {self.pid}"
        except (OSError, ValueError):
            self.pid = None
            self.note = f"no pid in {state}: server CPU not measured"


async def _run_script(
    script: Path, command: str, port: int, timeout: float, *, real_clock: bool = True
) -> None:
    """Run a shared start/stop script. Its output goes to a file, not a pipe: the server
    it daemonizes inherits the descriptors and would hold a pipe open forever."""
    env = {key: value for key, value in os.environ.items() if key != "ORACLE_REAL_CLOCK"}
    if real_clock:
        env["ORACLE_REAL_CLOCK"] = "1"
    with tempfile.TemporaryFile() as errors:
        process = await asyncio.create_subprocess_exec(
            str(script),
            command,
            str(port),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=errors,
        )
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            if process.returncode is None:
                process.kill()
            await process.wait()
            raise TargetUnavailable(
                f"{script.name} {command} {port} took over {timeout:g} s"
            ) from None
        errors.seek(0)
        reason = errors.read().decode(errors="replace").strip()
    if process.returncode != 0:
        reason = reason or f"exit status {process.returncode}"
        raise TargetUnavailable(f"{script.name} {command} {port} failed: {reason}")
