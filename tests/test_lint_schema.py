"""`scansion-py lint --schema`: schema violations located at the script's own lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from tests.conftest import CORPUS, ROOT, SEEDS

PROJECT_SEEDS = ROOT / "specs" / "prosody"
HEADER = (
    "# Schema\n"
    "[Client] Romeo\n"
    "\tjid: romeo@localhost\n"
    "[Client] Juliet\n"
    "\tjid: juliet@localhost\n"
    "---\n"
    "Romeo connects\n"
)
MUC_USER = "http://jabber.org/protocol/muc#user"


def lint(tmp_path: Path, body: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    script = tmp_path / "script.scs"
    script.write_text(HEADER + body, encoding="utf-8")
    code = main(["lint", "--schema", str(script)])
    return code, capsys.readouterr().out.splitlines()


def test_the_seeds_pass_with_the_form_without_type_as_a_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["lint", "--schema", str(PROJECT_SEEDS)]) == 0
    out = capsys.readouterr().out.splitlines()
    script = PROJECT_SEEDS / "muc_create_destroy.scs"
    assert out[0] == (
        f"{script}:288:4: schema warning: /iq/command[commands]/x[jabber:x:data]/@type: "
        "required attribute missing"
    )
    assert out[1:3] == ['                <x xmlns="jabber:x:data">', "                ^"]
    assert out[3].startswith("hint: a warning: 'sends' blocks are also checked as complete")
    assert out[4:] == ["", "5 scripts, 0 errors, 0 schema violations, 1 warning"]


def test_the_shared_seeds_and_corpus_pass(capsys: pytest.CaptureFixture[str]) -> None:
    if not (SEEDS.is_dir() and CORPUS.is_dir()):
        pytest.skip("the shared seeds and corpus are absent")
    assert main(["lint", "--schema", str(SEEDS), str(CORPUS)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "36 scripts, 0 errors, 0 schema violations, 2 warnings"
    warned = sorted(line.split(":")[0] for line in out if "schema warning" in line)
    assert warned == [
        str(CORPUS / "pubsub_preconditions.scs"),
        str(SEEDS / "muc_create_destroy.scs"),
    ]


def test_a_wrong_attribute_type_is_flagged_at_the_attribute(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = (
        "\n"
        "Romeo receives:\n"
        "\n"
        "\t<presence from='room@conference.localhost/Romeo'>\n"
        f"\t\t<x xmlns='{MUC_USER}'>\n"
        "\t\t\t<status code='110'/>\n"
        "\t\t\t<status\n"
        "\t\t\t    code='abc'/>\n"
        "\t\t</x>\n"
        "\t</presence>\n"
    )
    code, out = lint(tmp_path, body, capsys)
    assert code == 1
    assert out[0] == (
        f"{tmp_path / 'script.scs'}:15:8: schema: /presence/x[muc#user]/status[2]/@code: "
        "'abc' is not a valid int"
    )
    shown = " " * 20  # four for the quote, then three tabs of four and four spaces
    assert out[1:] == [f"{shown}code='abc'/>", f"{shown}^", "", ANY_SUMMARY]


ANY_SUMMARY = "1 script, 0 errors, 1 schema violation"


def test_a_misplaced_element_is_flagged_at_its_start_tag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = (
        "Romeo sends:\n"
        "  <presence to='room@conference.localhost/Romeo'>\n"
        "    <x xmlns='http://jabber.org/protocol/muc'/>\n"
        "  </presence>\n"
        "Romeo receives:\n"
        "  <presence from='room@conference.localhost/Romeo'>"
        "<!-- <item/> --><show>away</show>"
        f"<item xmlns='{MUC_USER}' role='participant'/></presence>\n"
    )
    code, out = lint(tmp_path, body, capsys)
    assert code == 1
    assert out[0] == (
        f"{tmp_path / 'script.scs'}:13:85: schema: /presence/item[muc#user]: "
        "<item> is not allowed here: muc#user has no top-level <item>"
    )
    assert out[-1] == ANY_SUMMARY


def test_each_violation_of_a_stanza_is_reported_in_line_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = (
        "Romeo sends:\n"
        "\t<message to='${Juliet's JID}' type='chatty'>\n"
        "\t\t<body>hi</body>\n"
        "\t</message>\n"
        "\t<iq type='fetch' id='1'/>\n"
    )
    code, out = lint(tmp_path, body, capsys)
    assert code == 1
    located = [line.split(": schema")[0] for line in out if ": schema" in line]
    script = tmp_path / "script.scs"
    assert located == [f"{script}:9:32", f"{script}:12:6"]
    assert out[-1] == "1 script, 0 errors, 2 schema violations"


def test_variables_markers_and_partial_expectations_are_not_flagged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = (
        "Romeo receives:\n"
        "\t<presence from='${Juliet's full JID}' to='{scansion:any}'>\n"
        f"\t\t<x xmlns='{MUC_USER}'><status code='{{scansion:capture:code}}'/></x>\n"
        "\t</presence>\n"
        "Romeo receives:\n"
        "\t<iq type='result'/>\n"
    )
    assert lint(tmp_path, body, capsys) == (0, ["1 script, 0 errors, 0 schema violations"])


def test_a_script_with_errors_is_not_schema_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = lint(tmp_path, "Romoe sends:\n\t<iq type='fetch'/>\n", capsys)
    assert code == 1
    assert not any("schema:" in line for line in out)
    assert out[-1] == "1 script, 1 error, 0 schema violations"


def test_without_schema_the_summary_is_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "script.scs"
    script.write_text(HEADER + "Romeo sends:\n\t<iq type='fetch' id='1'/>\n", encoding="utf-8")
    assert main(["lint", str(script)]) == 0
    assert capsys.readouterr().out == "1 script, 0 errors\n"
