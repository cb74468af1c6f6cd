"""Requirement catalogs, @checks ids, per-requirement verdicts and what they do to the exit
status, on the embedded reference server and on Prosody 0.12.3 (tests/requirements/)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.catalog import CatalogError, load_catalog
from harness.cli import main
from tests.conftest import ROOT

SCRIPTS = ROOT / "tests" / "requirements"
FORMS = ROOT / "tests" / "forms"
ENTRY = """
[[requirement]]
id = "x-1-1"
section = "1"
title = "Intro"
level = "{level}"
text = "a statement"
"""
SCRIPT = "# Checks\n@checks {ids}\n[Client] Romeo\n\tjid: romeo@localhost\n---\nRomeo connects\n"


def catalog(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "requirements.toml"
    path.write_text('spec = "XEP-0045"\n' + body, encoding="utf-8")
    load_catalog.cache_clear()
    return path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (ENTRY.format(level="MUSTN'T"), 'level "MUSTN\'T" is not one of'),
        (ENTRY.format(level="MUST") * 2, "requirement id 'x-1-1' is given twice"),
        ('[[requirement]]\nid = "x"\nsection = "1"\nlevel = "MUST"\n', "'text' is missing"),
        (ENTRY.format(level="MUST") + "colour = 'red'\n", "unknown key 'colour'"),
        ("requirement = 3\n", "must be an array of tables"),
    ],
)
def test_a_bad_catalog_is_refused_with_the_reason(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(CatalogError, match=re.escape(message)):
        load_catalog(catalog(tmp_path, body))


def test_lint_rejects_an_unknown_requirement_id_at_its_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog(tmp_path, ENTRY.format(level="MUST"))
    script = tmp_path / "a.scs"
    script.write_text(SCRIPT.format(ids="x-1-1 x-1-2"), encoding="utf-8")
    assert main(["lint", str(script)]) == 1
    out = capsys.readouterr().out
    assert f"{script}:2:15: unknown requirement id 'x-1-2'" in out
    assert "did you mean 'x-1-1'?" in out
    script.write_text(SCRIPT.format(ids="x-1-1"), encoding="utf-8")
    assert main(["lint", str(script)]) == 0


def test_run_refuses_unknown_ids_before_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog(tmp_path, ENTRY.format(level="MUST"))
    script = tmp_path / "a.scs"
    script.write_text(SCRIPT.format(ids="x-9-9"), encoding="utf-8")
    assert main(["run", str(script)]) == 2
    assert "unknown requirement id 'x-9-9'" in capsys.readouterr().err


def verdicts(report: dict) -> dict[str, dict]:
    return {row["id"]: row["verdicts"] for row in report["requirements"]}


def test_verdicts_on_the_reference_server(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    html = tmp_path / "report.html"
    code = main(["run", str(SCRIPTS), "--timeout", "1", "--json", str(out), "--html", str(html)])
    assert code == 1  # not_run.scs fails a step that checks nothing: that fails the run
    report = json.loads(out.read_text(encoding="utf-8"))
    got = verdicts(report)
    reference = {rid: cells["reference"] for rid, cells in got.items()}
    assert reference["t-7.2.3-1"]["status"] == "pass"
    assert reference["t-7.2.16-1"] == {
        "status": "fail",
        "script": str(SCRIPTS / "should_miss.scs"),
        "line": 42,
        "reason": "no matching stanza within 1 s",
    }
    assert reference["t-7.8-1"]["status"] == "not applicable"
    assert "does not advertise urn:example:no-such-feature" in reference["t-7.8-1"]["reason"]
    assert reference["t-7.9-1"]["status"] == "not run"
    assert reference["t-7.9-1"]["reason"].startswith("not reached: stopped at line 40:")
    assert reference["t-1-1"] == {
        "status": "not run",
        "script": None,
        "line": None,
        "reason": "not testable: binds the client only",
    }
    assert report["requirements_summary"]["reference"] == {
        "passed": 1,
        "must_failed": 0,
        "should_missed": 1,
        "may_failed": 0,
        "not_applicable": 1,
        "not_run": 2,
    }
    page = html.read_text(encoding="utf-8")
    assert '<section id="requirements">' in page
    assert "<q>the service MUST send the new occupant&#x27;s presence to all occupants</q>" in page
    for anchor in re.findall(r'<a href="#(d\d+-\d+)"', page.split('id="requirements"')[1]):
        assert f'id="{anchor}"' in page  # each verdict links to its evidence


def test_a_should_miss_is_a_warning_and_a_must_failure_fails(
    capsys: pytest.CaptureFixture[str],
) -> None:
    should = [str(SCRIPTS / "should_miss.scs"), str(SCRIPTS / "must_pass.scs")]
    assert main(["run", *should, "--timeout", "1"]) == 0
    out = capsys.readouterr().out
    assert "WARN  t-7.2.16-1 (SHOULD, 7.2.16)" in out
    assert "1 pass, 0 MUST failed, 1 SHOULD missed (warnings)" in out
    assert main(["run", str(FORMS / "in_order_fail.scs"), "--timeout", "1"]) == 1
    assert "FAIL  test-7.2.3-1 (MUST, 7.2.3)" in capsys.readouterr().out


@pytest.mark.prosody
def test_verdicts_per_target_with_prosody(tmp_path: Path, prosody: tuple[str, int]) -> None:
    out = tmp_path / "report.json"
    target = f"prosody={prosody[0]}:{prosody[1]}"
    scripts = [str(SCRIPTS / "should_miss.scs"), str(SCRIPTS / "must_pass.scs")]
    code = main(["run", *scripts, "-t", "reference", "-t", target, "--json", str(out)])
    assert code == 0
    got = verdicts(json.loads(out.read_text(encoding="utf-8")))
    for name in ("reference", "prosody"):
        assert got["t-7.2.3-1"][name]["status"] == "pass"
        assert got["t-7.2.16-1"][name]["status"] == "fail"
        assert got["t-7.2.16-1"][name]["line"] == 42
