"""Target profiles and fresh names: the suite on another domain, given accounts, facts, and
the same Prosody used twice in a row by parallel runs without collisions."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.parser import parse_file
from harness.profile import AccountMode, Profile, ProfileError, load_profile
from harness.results import ScriptResult, Status
from harness.runner import RunOptions, run_scripts
from harness.targets import Target
from harness.variables import RunVariables
from reference.config import ServerConfig
from reference.server import ReferenceServer
from tests.conftest import ROOT

SPECS = ROOT / "specs"
FORMS = ROOT / "tests" / "forms"


def test_fresh_values_are_shared_in_a_run_and_differ_between_runs() -> None:
    one, two = RunVariables(), RunVariables()
    assert one.lookup("room") == one.lookup("room") != two.lookup("room")
    assert one.lookup("unique:Romeo") == f"romeo-{one.token}"
    assert one.lookup("unique:romeo") != one.lookup("unique:juliet")
    assert re.fullmatch(r"room-[0-9a-f]{8}", one.lookup("room") or "")
    assert one.lookup("nothing") is None


def test_a_profile_file_with_every_field(tmp_path: Path) -> None:
    path = tmp_path / "example.toml"
    path.write_text(
        'name = "example"\naddress = "xmpp.example.org:5222"\ntls = "require"\n'
        'domain = "example.org"\n[accounts]\nmode = "given"\n'
        '[accounts.actors.Romeo]\njid = "r@example.org"\npassword = "pw"\n'
        '[facts]\nregistration = true\nsoftware = "Prosody"\n',
        encoding="utf-8",
    )
    profile = load_profile(path)
    assert (profile.domain, profile.muc, profile.tls) == (
        "example.org",
        "conference.example.org",
        "require",
    )
    assert profile.accounts is AccountMode.GIVEN
    assert profile.account_for("Romeo") is not None
    assert profile.fact("registration") and profile.fact("software")
    assert not profile.fact("anything else")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('domian = "x"\n', "unknown key 'domian'"),
        ('tls = "maybe"\n', "tls must be"),
        ('[accounts]\nmode = "guess"\n', "accounts.mode must be 'any', 'given' or 'register'"),
        ('[accounts]\nmode = "given"\n', "needs [accounts.actors.NAME] tables"),
        ("[facts]\nn = 3\n", "[facts] holds"),
        ("domain = \n", "not a TOML file"),
    ],
)
def test_a_bad_profile_names_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError, match=re.escape(message)):
        load_profile(path)
    assert main(["run", str(SPECS / "core" / "login.scs"), "--profile", str(path)]) == 2


# The suites that pass on both the reference and Prosody 0.12.3; the XEP-0045 suite
# finds requirements both break, so its runs are compared by verdicts instead.
LIKENESS = [SPECS / "core", SPECS / "muc", SPECS / "prosody"]
XEP0045 = SPECS / "xep0045"
# A third of the XEP-0045 suite (in file order) is enough to see names collide or
# verdicts depend on the domain, at a third of the cost.
XEP0045_SAMPLE = [str(path) for path in sorted(XEP0045.glob("*.scs"))[::3]]


def test_specs_pass_on_another_domain(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    paths = [str(path) for path in LIKENESS]
    assert main(["run", *paths, "--domain", "example.test", "--json", str(report)]) == 0
    expected = sum(len(list(path.rglob("*.scs"))) for path in LIKENESS)
    assert json.loads(report.read_text())["summary"]["passed"] == expected


def verdicts(report: Path) -> dict[str, str]:
    data = json.loads(report.read_text())
    return {
        row["id"]: next(iter(row["verdicts"].values()))["status"] for row in data["requirements"]
    }


def test_the_xep0045_verdicts_do_not_depend_on_the_domain(tmp_path: Path) -> None:
    here, there = tmp_path / "localhost.json", tmp_path / "example.json"
    main(["run", *XEP0045_SAMPLE, "--json", str(here)])
    main(["run", *XEP0045_SAMPLE, "--domain", "example.test", "--json", str(there)])
    assert verdicts(here) == verdicts(there)
    assert "pass" in verdicts(here).values()


def test_the_wrong_domain_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The domain really reaches the server: a JID written for localhost fails on example.test."""
    script = tmp_path / "fixed.scs"
    script.write_text("# Fixed\n[Client] Romeo\n\tjid: romeo@localhost\n---\nRomeo connects\n")
    assert main(["run", str(script), "--domain", "example.test"]) == 1
    assert "host-unknown (this server is example.test)" in capsys.readouterr().out
    assert main(["run", str(script)]) == 0


def test_given_accounts_replace_the_script_s_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "given.toml"
    profile.write_text(
        '[accounts]\nmode = "given"\n'
        '[accounts.actors.Romeo]\njid = "montague@localhost"\npassword = "pw"\n',
        encoding="utf-8",
    )
    report = tmp_path / "r.json"
    script = SPECS / "core" / "login.scs"
    assert main(["run", str(script), "--profile", str(profile), "-v", "--json", str(report)]) == 0
    assert "Romeo -- connected as montague@localhost/" in capsys.readouterr().out


def test_facts_from_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    script = str(FORMS / "needs_fact_unmet.scs")
    assert main(["run", script]) == 0
    assert "N/A" in capsys.readouterr().out
    assert main(["run", script, "--fact", "registration"]) == 0
    assert "PASS" in capsys.readouterr().out


@pytest.mark.prosody
def test_parallel_runs_twice_on_one_prosody(prosody: tuple[str, int]) -> None:
    """run --jobs 4 and pytest -n 4, each twice, against the same long-lived server."""
    target = f"prosody={prosody[0]}:{prosody[1]}"
    paths = [str(path) for path in LIKENESS]
    for _ in range(2):
        assert main(["run", *paths, "-t", target, "--jobs", "4"]) == 0
    for _ in range(2):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                *paths,
                "-n",
                "4",
                "-q",
                "-p",
                "no:cacheprovider",
                f"--scansion-target={target}",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=ROOT,
        )
        assert done.returncode == 0, done.stdout[-3000:]


def test_the_xep0045_suite_twice_in_parallel_on_one_prosody(
    prosody: tuple[str, int], tmp_path: Path
) -> None:
    """Fresh names keep concurrent runs apart: the same verdicts both times."""
    target = f"prosody={prosody[0]}:{prosody[1]}"
    runs = [tmp_path / "first.json", tmp_path / "second.json"]
    for report in runs:
        main(["run", *XEP0045_SAMPLE, "-t", target, "--jobs", "4", "--json", str(report)])
    assert verdicts(runs[0]) == verdicts(runs[1])
    assert "pass" in verdicts(runs[0]).values()


def run_on_reference(config: ServerConfig, mode: AccountMode) -> ScriptResult:
    """login.scs against an in-process reference server with real accounts."""

    async def scenario() -> ScriptResult:
        async with ReferenceServer(config) as server:
            target = Target("ref", "127.0.0.1", server.port, profile=Profile(accounts=mode))
            run = await run_scripts([parse_file(SPECS / "core" / "login.scs")], target, OPTIONS)
            return run.scripts[0]

    return asyncio.run(scenario())


OPTIONS = RunOptions(timeout=2.0, tls="off")


def test_accounts_by_in_band_registration() -> None:
    """XEP-0077: the account is created, then SCRAM proves its password."""
    config = ServerConfig(starttls=False, accounts={}, allow_registration=True)
    assert run_on_reference(config, AccountMode.REGISTER).status is Status.PASSED
    assert config.accounts is not None and len(config.accounts) == 1


def test_registration_refused_or_absent_fails_the_login() -> None:
    closed = ServerConfig(starttls=False, accounts={}, allow_registration=False)
    result = run_on_reference(closed, AccountMode.REGISTER)
    assert result.status is Status.FAILED and result.failure is not None
    assert "does not offer in-band registration (XEP-0077)" in result.failure.message
    unregistered = run_on_reference(
        ServerConfig(starttls=False, accounts={}, allow_registration=True), AccountMode.ANY
    )
    assert unregistered.failure is not None and "not-authorized" in unregistered.failure.message
