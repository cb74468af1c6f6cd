"""`scansion-py lint` and the command line around it: output, summary, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness import __version__
from harness.cli import main
from harness.discovery import find_scripts
from tests.conftest import CORPUS, ROOT, SEEDS

PROJECT_SEEDS = ROOT / "specs" / "prosody"
GOOD = "# Good\n[Client] Romeo\n\tjid: romeo@localhost\n---\nRomeo connects\n"
BAD = "# Bad\n[Client] Romeo\n\tjid: romeo@localhost\n---\nRomoe connects\n"


def test_lint_clean_scripts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(PROJECT_SEEDS)]) == 0
    out = capsys.readouterr().out
    assert out == "5 scripts, 0 errors\n"


def test_lint_the_whole_shared_corpus(capsys: pytest.CaptureFixture[str]) -> None:
    if not (SEEDS.is_dir() and CORPUS.is_dir()):
        pytest.skip("the shared seeds and corpus are absent")
    assert main(["lint", str(SEEDS), str(CORPUS)]) == 0
    assert capsys.readouterr().out == "36 scripts, 0 errors\n"


def test_lint_reports_each_error_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a_good.scs").write_text(GOOD, encoding="utf-8")
    (tmp_path / "b_bad.scs").write_text(BAD, encoding="utf-8")
    assert main(["lint", str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{tmp_path / 'b_bad.scs'}:5:1: unknown actor 'Romoe'",
        "    Romoe connects",
        "    ^",
        "hint: did you mean 'Romeo'?",
        "",
        "2 scripts, 1 error",
    ]


def test_lint_a_missing_path_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.scs"
    assert main(["lint", str(PROJECT_SEEDS), str(missing)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"scansion-py lint: no such file or directory: {missing}\n"


def test_lint_a_directory_without_scripts_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lint", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"scansion-py lint: no .scs scripts in {tmp_path}\n"


@pytest.mark.parametrize("argv", [["lint"], [], ["frobnicate"], ["lint", "--bogus", "x"]])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "usage: scansion-py" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"scansion-py {__version__}\n"


def test_help_lists_lint(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: scansion-py" in out
    assert "lint" in out


def test_installed_console_script() -> None:
    script = Path(sys.executable).with_name("scansion-py")
    if not script.exists():
        pytest.skip(f"{script} is not installed (pip install -e .)")
    done = subprocess.run(
        [str(script), "lint", str(PROJECT_SEEDS)], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "5 scripts, 0 errors\n", "")
    failed = subprocess.run(
        [str(script), "lint", "/nonexistent/dir"], capture_output=True, text=True, timeout=60
    )
    assert failed.returncode == 2
    assert "/nonexistent/dir" in failed.stderr


def test_find_scripts_order_and_rules(tmp_path: Path) -> None:
    (tmp_path / "b.scs").write_text(GOOD)
    (tmp_path / "a.scs").write_text(GOOD)
    (tmp_path / "notes.txt").write_text("not a script")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.scs").write_text(GOOD)
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "d.scs").write_text(GOOD)
    named = tmp_path / "notes.txt"
    found = find_scripts([named, tmp_path, tmp_path / "a.scs"])
    assert found == [
        named,
        tmp_path / "a.scs",
        tmp_path / "b.scs",
        tmp_path / "sub" / "c.scs",
    ]


def test_find_scripts_missing_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as caught:
        find_scripts([tmp_path, tmp_path / "gone"])
    assert caught.value.filename == str(tmp_path / "gone")
