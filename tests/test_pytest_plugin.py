"""The pytest plugin: `.scs` scripts as test items, run in a fresh pytest process each time."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lxml import etree

from tests.conftest import ROOT, free_port

pytest_plugins = ("pytester",)

PROJECT_SEEDS = ROOT / "specs" / "prosody"
SEED_NAMES = sorted(path.name for path in PROJECT_SEEDS.glob("*.scs"))

WRONG_EXPECTATION = """\
# Wrong expectation

[Client] Romeo
\tjid: romeo@localhost
\tpassword: password

---

Romeo connects

Romeo sends:
\t<iq type='get' id='v1' to='localhost'><query xmlns='urn:example:unsupported'/></iq>

Romeo receives:
\t<iq type='result' id='v2'/>
"""

BROKEN = "# Broken\n[Client] Romeo\n\tjid: romeo@localhost\n---\nRomeo jumps\n"


@pytest.fixture
def seeds(pytester: pytest.Pytester) -> Path:
    """The five seed scripts under specs/prosody/ of the pytester directory."""
    directory = pytester.path / "specs" / "prosody"
    directory.mkdir(parents=True)
    for name in SEED_NAMES:
        shutil.copy(PROJECT_SEEDS / name, directory / name)
    return directory


def test_the_seeds_run_as_test_items_named_by_their_path(
    pytester: pytest.Pytester, seeds: Path
) -> None:
    assert len(SEED_NAMES) == 5
    result = pytester.runpytest_subprocess("specs/prosody", "-v")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(
        [f"specs/prosody/{name} PASSED*" for name in SEED_NAMES], consecutive=True
    )


def test_the_plugin_loads_by_its_entry_point_name(
    pytester: pytest.Pytester, seeds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.runpytest_subprocess("specs/prosody").assert_outcomes()  # nothing collected
    pytester.runpytest_subprocess("specs/prosody", "-p", "scansion").assert_outcomes(passed=5)


@pytest.mark.long  # a pytest -n 2 inside the suite's own workers: over a minute on two cores
def test_the_seeds_pass_on_two_xdist_workers(pytester: pytest.Pytester, seeds: Path) -> None:
    result = pytester.runpytest_subprocess("specs/prosody", "-n", "2", "-v")
    result.assert_outcomes(passed=5)
    workers = {word for line in result.outlines for word in line.split() if word[:3] == "[gw"}
    assert workers == {"[gw0]", "[gw1]"}


@pytest.mark.parametrize(
    ("keyword", "selected"),
    [("password", "muc_password.scs"), ("broadcast", "muc_show_offline.scs")],
    ids=["path", "title"],
)
def test_k_selects_by_path_or_title(
    pytester: pytest.Pytester, seeds: Path, keyword: str, selected: str
) -> None:
    result = pytester.runpytest_subprocess("specs/prosody", "-v", "-k", keyword)
    result.assert_outcomes(passed=1, deselected=4)
    result.stdout.fnmatch_lines([f"specs/prosody/{selected} PASSED*"])


def test_junitxml_lists_every_script(pytester: pytest.Pytester, seeds: Path) -> None:
    (pytester.path / "specs" / "wrong.scs").write_text(WRONG_EXPECTATION, encoding="utf-8")
    result = pytester.runpytest_subprocess("specs", "--junitxml=report.xml", "--scansion-timeout=3")
    result.assert_outcomes(passed=5, failed=1)
    cases = etree.parse(str(pytester.path / "report.xml")).findall(".//testcase")
    names = sorted(case.get("name") for case in cases)
    assert names == sorted([f"specs.prosody.{name}" for name in SEED_NAMES] + ["specs.wrong.scs"])
    failed = [case for case in cases if case.find("failure") is not None]
    assert [case.get("name") for case in failed] == ["specs.wrong.scs"]
    assert "no matching stanza within 3 s" in failed[0].find("failure").text


def test_a_failing_script_reads_like_the_console_report(pytester: pytest.Pytester) -> None:
    pytester.makefile(".scs", wrong=WRONG_EXPECTATION)
    result = pytester.runpytest_subprocess("--scansion-timeout=3")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ Wrong expectation _*",
            "wrong.scs:14: Romeo receives",
            "no matching stanza within 3 s",
            "expected:",
            '  <iq type="result" id="v2"/>',
            "closest received (1 buffered):",
            '  <iq type="error" from="localhost" *id="v1">',
            "*<service-unavailable *",
            "why: nothing matching arrived within 3 s; closest of 1 buffered stanza:",
            "/iq/@type: expected 'result', received 'error'",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    assert "harness/" not in result.stdout.str()


def test_a_syntax_error_shows_the_script_line_and_fails_that_script_alone(
    pytester: pytest.Pytester, seeds: Path
) -> None:
    (pytester.path / "specs" / "broken.scs").write_text(BROKEN, encoding="utf-8")
    result = pytester.runpytest_subprocess("specs")
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(
        [
            "specs/broken.scs:5:7: expected an action (connects, disconnects, sends:, "
            "receives:) after the actor name, found 'jumps'",
            "    Romeo jumps",
            "          ^",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_an_unreachable_target_fails_each_script_with_the_reason(
    pytester: pytest.Pytester, seeds: Path
) -> None:
    port = free_port()
    result = pytester.runpytest_subprocess(
        "specs/prosody/muc_password.scs", f"--scansion-target=127.0.0.1:{port}"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "specs/prosody/muc_password.scs:13: Romeo connects",
            f"cannot connect to 127.0.0.1:{port}: connection refused",
        ]
    )


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--scansion-target=localhost", "target 'localhost' has no port"),
        ("--scansion-timeout=0", "expected seconds between 0 and 86400, got '0'"),
    ],
)
def test_bad_options_are_usage_errors(pytester: pytest.Pytester, option: str, message: str) -> None:
    result = pytester.runpytest_subprocess(option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{option.split('=')[0]}*{message}*"])


def test_scripts_close_every_socket_and_loop(
    pytester: pytest.Pytester, seeds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unclosed transports or loops warn when collected; here every warning is an error."""
    monkeypatch.setenv("PYTHONDEVMODE", "1")
    result = pytester.runpytest_subprocess("specs/prosody", "-W", "error")
    result.assert_outcomes(passed=5)


def test_python_tests_are_collected_as_usual_beside_scripts(
    pytester: pytest.Pytester, seeds: Path
) -> None:
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    pytester.runpytest_subprocess("test_plain.py").assert_outcomes(passed=1)
    pytester.runpytest_subprocess(".").assert_outcomes(passed=6)


def test_vv_adds_the_traffic_to_a_failure(pytester: pytest.Pytester) -> None:
    pytester.makefile(".scs", wrong=WRONG_EXPECTATION)
    quiet = pytester.runpytest_subprocess("--scansion-timeout=3")
    assert "traffic:" not in quiet.outlines
    result = pytester.runpytest_subprocess("--scansion-timeout=3", "-vv")
    result.stdout.fnmatch_lines(["traffic:", "*s Romeo -> sent", "*<iq type='get' id='v1'*"])
