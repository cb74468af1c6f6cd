"""The HTML report in a real headless Chromium: the page renders the matrix, its script
runs without a console error, it fetches nothing, and a screenshot is kept in
tests/artifacts/ for a human to look at.
"""

from __future__ import annotations

import dataclasses
import functools
from datetime import UTC, datetime
from pathlib import Path

from lxml import html as lxml_html

from harness.reporting.html import to_html, write_html
from harness.results import (
    Failure,
    InvalidStanza,
    Mark,
    MatrixResult,
    RunResult,
    ScriptResult,
    Status,
    TrafficEntry,
)
from tests.support_chromium import browse, screenshot
from tests.support_results import romeo_steps

MATCHED = '<iq type="result" from="localhost" id="v1">\n  <query xmlns="jabber:iq:version"/>\n</iq>'
CLOSEST = '<iq type="error" from="localhost" id="v1">\n  <error type="cancel"/>\n</iq>'


_steps = functools.partial(romeo_steps, received=MATCHED, first_line=9, line_gap=3, duration_s=0.01)


def sample_matrix() -> MatrixResult:
    """Three targets, one script they disagree on, one schema finding, one target down."""
    path = Path("specs/core/version.scs")
    other = Path("specs/core/login.scs")
    passing = ScriptResult(
        path, "The server tells its version", Status.PASSED, 0.2, _steps(*[Status.PASSED] * 4)
    )
    failing = ScriptResult(
        path,
        "The server tells its version",
        Status.FAILED,
        5.1,
        _steps(Status.PASSED, Status.PASSED, Status.FAILED),
        Failure(
            15,
            2,
            "Romeo",
            "receives",
            "no matching stanza within 5 s",
            '<iq type="result" id="v1"/>',
            CLOSEST,
            "/iq/@type: expected 'result', received 'error'",
            1,
            ("iq", "@type"),
            (Mark("received", (), "type"),),
        ),
        traffic=(TrafficEntry(0.1, "Romeo", "received", CLOSEST, step=2),),
    )
    login = ScriptResult(
        other,
        "A client logs in & <binds>",
        Status.PASSED,
        0.1,
        _steps(Status.PASSED, Status.PASSED),
    )
    login_invalid = dataclasses.replace(
        login,
        invalid=(
            InvalidStanza(1, 12, "Romeo", "<presence type='bogus'/>", ("/presence/@type: bad",)),
        ),
    )
    return MatrixResult(
        [
            RunResult("prosody", [login, passing], 1.2, server="Prosody 0.12.3", validated=True),
            RunResult(
                "reference",
                [login_invalid, failing],
                5.3,
                server="scansion-py reference server 0.1.0",
                validated=True,
            ),
            RunResult("ejabberd", [], 0.0, unreachable="cannot connect to 127.0.0.1:1: refused"),
        ],
        datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
        5.4,
    )


def test_console_messages_are_caught(chromium: list[str], tmp_path: Path) -> None:
    """The check below would see a script error: a page with one shows it."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><script>noSuchFunction();</script></body></html>")
    _, console = browse(chromium, "--dump-dom", page.as_uri())
    assert any("Uncaught ReferenceError" in message for message in console), console


def test_report_renders_in_chromium(chromium: list[str], tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    write_html(sample_matrix(), page)
    # The passing prosody cell of the first row starts closed; its anchor must open it.
    dom, console = browse(chromium, "--dump-dom", page.as_uri() + "#d0-0")
    assert console == [], "the page logs nothing and throws nothing"
    document = lxml_html.fromstring(dom)
    table = document.get_element_by_id("matrix")
    headers = [(th.text, th.findtext("span")) for th in table.findall("thead/tr/th")]
    assert headers == [
        ("Script", None),
        ("prosody", "Prosody 0.12.3"),
        ("reference", "scansion-py reference server 0.1.0"),
        ("ejabberd", ""),
    ]
    rows = table.findall("tbody/tr")
    cells = [[" ".join(td.text_content().split()) for td in row.findall("td")] for row in rows]
    assert cells == [["PASS", "PASS ⚠ 1", "—"], ["PASS", "FAIL", "—"]]
    assert rows[1].get("class") == "differs failing"
    assert "A client logs in & <binds>" in rows[0].find("th").text_content()
    assert [td.text_content() for td in table.findall("tfoot/tr/td")] == [
        "2/2",
        "1/2",
        "unreachable",
    ]
    assert document.get_element_by_id("d0-0").get("open") is not None, "the anchor's JS ran"
    folded = document.get_element_by_id("d1-1")
    assert folded.get("open") is None, "the divergence above already shows this failure"
    assert document.get_element_by_id("d0-1").get("open") is not None, "schema findings show"
    divergence = document.find_class("diverge")[0].text_content()
    assert "Where prosody and reference diverge: line 15, Romeo receives" in divergence
    sides = [side.text_content() for side in document.find_class("side")]
    assert 'type="result"' in sides[0] and 'type="error"' in sides[1]
    marked = [mark.text_content() for mark in document.find_class("side")[1].iter("mark")]
    assert marked == ['type="error"'], "only what the matcher counted is marked"
    assert "Unreachable: cannot connect to 127.0.0.1:1: refused" in dom
    assert "/presence/@type: bad" in dom
    fetched = document.xpath("//script[@src] | //link[@href] | //img[@src] | //iframe")
    assert fetched == [], "self-contained: nothing is fetched"


def test_report_screenshot(chromium: list[str], tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    write_html(sample_matrix(), page)
    screenshot(chromium, page.as_uri(), "html_report.png", "1280,1400")


def test_text_from_servers_is_escaped() -> None:
    matrix = sample_matrix()
    page = to_html(matrix)
    assert "<binds>" not in page and "&lt;binds&gt;" in page
    assert "<presence type='bogus'/>" not in page
