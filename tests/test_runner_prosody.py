"""The runner against a real Prosody 0.12.3: every seed and corpus script passes, and each
one, with a single expectation broken, fails at exactly that step within the timeout.
Also `scansion-py run` end to end, for each exit code.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.model import Action, Script
from harness.parser import parse_file
from harness.reporting.json_report import to_json
from harness.results import RunResult, Status
from harness.runner import RunOptions, run_scripts
from harness.targets import parse_target
from tests.conftest import CORPUS, ROOT, SEEDS, SHARED, free_port

pytestmark = pytest.mark.prosody

SCRIPTS = sorted(SEEDS.glob("*.scs")) + sorted(CORPUS.glob("*.scs"))
BROKEN_TIMEOUT = 3.0  # what a broken step waits; the steps before it must pass within it
# Broken in the default run (one per kind of script); the other variants run with --long.
SAMPLED = {"basic", "muc_create_destroy", "presence_preapproval", "tombstones"}
_ROOT_TAG = re.compile(r"""\s*<(?P<name>[\w.:-]+)(?P<attributes>(?:[^>"']|"[^"]*"|'[^']*')*)""")
_ATTRIBUTE = re.compile(r"""(?P<name>[\w.:-]+)\s*=\s*(?P<quote>["'])(?P<value>.*?)(?P=quote)""")


def restart(prosody: tuple[str, int]) -> None:
    """Fresh server state: scripts reuse users, rooms and nodes."""
    oracle = SHARED / "prosody" / "prosody-oracle"
    done = subprocess.run(
        [str(oracle), "restart", str(prosody[1])], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def run(scripts: list[Script], prosody: tuple[str, int], options: RunOptions) -> RunResult:
    target = parse_target(f"prosody={prosody[0]}:{prosody[1]}")
    return asyncio.run(run_scripts(scripts, target, options))


def break_expectation(block: str) -> str:
    """The same expected stanza with its first attribute value changed (or an id added)."""
    tag = _ROOT_TAG.match(block)
    assert tag is not None, block
    for attribute in _ATTRIBUTE.finditer(block, tag.start("attributes"), tag.end("attributes")):
        if not attribute["name"].startswith(("xmlns", "scansion:")):
            end = attribute.end("value")
            return block[:end] + "-broken" + block[end:]
    return block[: tag.end("name")] + ' id="broken-expectation"' + block[tag.end("name") :]


def broken_variant(script: Script) -> tuple[Script, int]:
    """The script with its last `receives` expectation broken, and that step's index."""
    index = max(i for i, step in enumerate(script.steps) if step.action is Action.RECEIVES)
    step = script.steps[index]
    broken = dataclasses.replace(step, xml=break_expectation(step.xml or ""))
    assert broken.xml != step.xml
    steps = (*script.steps[:index], broken, *script.steps[index + 1 :])
    return dataclasses.replace(script, steps=steps), index


@pytest.fixture(scope="module")
def corpus(shared_dir: Path) -> list[Script]:
    assert len(SCRIPTS) == 36, "5 seeds and 31 corpus scripts"
    return [parse_file(path) for path in SCRIPTS]


def test_every_script_passes(
    prosody: tuple[str, int], corpus: list[Script], capsys: pytest.CaptureFixture[str]
) -> None:
    restart(prosody)
    started, cpu = time.monotonic(), time.process_time()
    result = run(corpus, prosody, RunOptions())
    wall, cpu = time.monotonic() - started, time.process_time() - cpu
    failures = [
        f"{s.path.name}:{s.failure.line}: {s.failure.message}" for s in result.scripts if s.failure
    ]
    assert failures == []
    assert result.passed == 36 and result.ok
    steps = sum(len(script.steps) for script in result.scripts)
    assert steps == sum(len(script.steps) for script in corpus), "every step ran"
    with capsys.disabled():
        print(f"\n36 scripts against Prosody: {wall:.2f} s wall, {cpu:.2f} s harness CPU")


@pytest.mark.parametrize(
    "path",
    [
        path if path.stem in SAMPLED else pytest.param(path, marks=pytest.mark.long)
        for path in SCRIPTS
    ],
    ids=[path.stem for path in SCRIPTS],
)
def test_a_broken_expectation_fails_at_its_line(
    path: Path, prosody: tuple[str, int], corpus: list[Script]
) -> None:
    script = corpus[SCRIPTS.index(path)]
    variant, index = broken_variant(script)
    restart(prosody)
    result = run([variant], prosody, RunOptions(timeout=BROKEN_TIMEOUT))
    (outcome,) = result.scripts
    assert outcome.status is Status.FAILED, outcome.failure
    failure = outcome.failure
    assert failure is not None
    assert (failure.step, failure.line) == (index, script.steps[index].line)
    assert failure.action == "receives" and failure.actor == script.steps[index].actor
    assert "broken" in (failure.expected or "")
    assert [step.status for step in outcome.steps[:index]] == [Status.PASSED] * index
    reported = to_json(result)["scripts"][0]["failure"]
    assert (reported["line"], reported["step"]) == (script.steps[index].line, index)


def test_breaking_an_expectation_changes_exactly_one_attribute() -> None:
    assert break_expectation('<iq type="result" id="a1"/>') == '<iq type="result-broken" id="a1"/>'
    assert break_expectation("<presence/>") == '<presence id="broken-expectation"/>'
    assert break_expectation("\t<message>\n<body/></message>") == (
        '\t<message id="broken-expectation">\n<body/></message>'
    )
    assert break_expectation("<iq xmlns:s='x' scansion:strict='true' to='a'/>") == (
        "<iq xmlns:s='x' scansion:strict='true' to='a-broken'/>"
    )


def scansion(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", "run", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_cli_exit_0_when_all_pass(prosody: tuple[str, int], tmp_path: Path) -> None:
    restart(prosody)
    report = tmp_path / "report.json"
    junit = tmp_path / "junit.xml"
    done = scansion(
        str(SEEDS),
        "--target",
        f"{prosody[0]}:{prosody[1]}",
        "--json",
        str(report),
        "--junit",
        str(junit),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("PASS ") == 5
    assert "5 scripts: 5 passed, 0 failed, 0 errored" in done.stdout
    summary = json.loads(report.read_text())["summary"]
    assert (summary["total"], summary["passed"]) == (5, 5)
    assert junit.read_text().count("<testcase ") == 5


def test_cli_exit_1_names_the_failing_line(prosody: tuple[str, int], tmp_path: Path) -> None:
    source = (CORPUS / "basic.scs").read_text()
    broken = tmp_path / "basic_broken.scs"
    broken.write_text(
        source.replace("Romeo receives:\n\t<presence/>", "Romeo receives:\n\t<message/>")
    )
    assert broken.read_text() != source
    report = tmp_path / "report.json"
    done = scansion(
        str(broken),
        "--target",
        f"{prosody[0]}:{prosody[1]}",
        "--timeout",
        "3",
        "--json",
        str(report),
        "-v",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"FAIL   {broken}" in done.stdout
    assert f"{broken}:14: Romeo receives" in done.stdout
    assert "closest received (1 buffered):" in done.stdout
    assert "Romeo -> sent" in done.stdout, "-v shows the stanzas"
    failure = json.loads(report.read_text())["scripts"][0]["failure"]
    assert (failure["line"], failure["step"], failure["expected"]) == (14, 2, "<message/>")
    assert failure["closest"].startswith("<presence")


def test_cli_exit_2_on_a_script_error_before_connecting(tmp_path: Path, shared_dir: Path) -> None:
    (tmp_path / "good.scs").write_text((CORPUS / "basic.scs").read_text())
    (tmp_path / "bad.scs").write_text(
        "# Bad\n\n[Client] Romeo\n\tjid: r@localhost\n\n---\n\nJuliet connects\n"
    )
    port = free_port()  # nothing listens: a run would exit 3, linting must come first
    done = scansion(str(tmp_path), "--target", f"127.0.0.1:{port}")
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{tmp_path / 'bad.scs'}:8:" in done.stderr
    assert "nothing was run" in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "localhost"], "has no port"),
        (["missing-dir"], "no such file or directory: missing-dir"),
        (["--timeout", "soon"], "expected seconds"),
        (["-k", "no-such-script"], "no script matches -k 'no-such-script'"),
    ],
)
def test_cli_exit_2_on_usage_errors(args: list[str], message: str, shared_dir: Path) -> None:
    done = scansion(*([str(SEEDS)] if args[0].startswith("-") else []), *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr


def test_cli_exit_3_when_the_target_refuses(shared_dir: Path) -> None:
    port = free_port()
    done = scansion(str(SEEDS), "--target", f"127.0.0.1:{port}")
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"target unreachable: cannot connect to 127.0.0.1:{port}" in done.stdout
