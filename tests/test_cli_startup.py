"""`scansion-py` loads only what the command given needs, so it starts fast: `--help`
imports no command's machinery, and `lint` neither the runner nor the client."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.cli import COMMANDS, main

HEAVY = ("harness.runner", "harness.client", "harness.parser", "lxml", "rich", "lark", "asyncio")
PROBE = """
import contextlib, io, sys
from harness.cli import main
with contextlib.redirect_stdout(io.StringIO()) as shown:
    code = main(sys.argv[1:])
print(code, shown.getvalue().count("\\n"), *sorted(set(sys.modules) & set(sys.argv[0].split(","))))
"""


def _loaded(*argv: str) -> tuple[int, int, set[str]]:
    """(exit code, lines printed, which of HEAVY got imported) for `scansion-py ARGV`."""
    finished = subprocess.run(
        [sys.executable, "-c", PROBE.replace("sys.argv[0]", repr(",".join(HEAVY))), *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 0, finished.stderr
    code, lines, *modules = finished.stdout.split()
    return int(code), int(lines), set(modules)


def test_help_lists_every_command_and_loads_none_of_them() -> None:
    code, lines, modules = _loaded("--help")
    assert code == 0 and lines > 10
    assert modules == set()


def test_each_command_still_has_its_own_help(capsys: pytest.CaptureFixture[str]) -> None:
    for command in COMMANDS:
        assert main([command, "--help"]) == 0
        assert f"usage: scansion-py {command}" in capsys.readouterr().out
    assert main(["serve", "--help"]) == 0  # an entry-point command
    assert "usage: scansion-py serve" in capsys.readouterr().out


def test_lint_needs_neither_runner_nor_client(tmp_path) -> None:
    script = tmp_path / "one.scs"
    script.write_text(
        "# one\n\n[Client] Romeo\n\tjid: romeo@localhost\n\tpassword: p\n\n---\n\nRomeo connects\n"
    )
    code, _, modules = _loaded("lint", str(script))
    assert code == 0
    assert "harness.parser" in modules
    assert not modules & {"harness.runner", "harness.client"}
