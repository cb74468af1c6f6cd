"""The conversation view of the HTML report, rendered by headless Chromium from real runs.

A passing and a failing multi-actor MUC script run against the reference server;
the page must draw one arrow per stanza sent and per stanza a step matched, the
failing step in red, and a click on that arrow must show the expected and closest
stanzas with exactly the differing attribute marked. Screenshots of both go to
tests/artifacts/ for a person to look at.
"""

from __future__ import annotations

import asyncio
import functools
from datetime import UTC, datetime
from pathlib import Path

from lxml import html as lxml_html

from harness.matcher import expected_from_text
from harness.model import Action, Script
from harness.parser import parse_file
from harness.reporting.html import write_html
from harness.reporting.sequence import rows
from harness.results import MatrixResult, RunResult, ScriptResult, Status, TrafficEntry
from harness.runner import RunOptions, run_on_target
from harness.targets import parse_target
from tests.conftest import ROOT
from tests.support_chromium import browse, screenshot

PASSING = ROOT / "specs" / "muc" / "muc_presence_probe.scs"
# The one change that makes it fail: Juliet joins as a participant, not a visitor.
RIGHT, WRONG = 'role="participant"', 'role="visitor"'
RED = "rgb(207, 34, 46)"  # --fail

# Appended to the page: a real click on the line of the second step (Romeo sends his join).
CLICK_SECOND_STEP_LINE = """<script>
document.querySelector('.source li.step[data-step="1"]')
  .dispatchEvent(new MouseEvent('click', {bubbles: true}));
</script>"""

# Appended to the page: a real click on the failing arrow, then what Chromium computed.
CLICK_FAILED_ARROW = """<script>
(function(){
  var arrow = document.querySelector('.msg.failed');
  arrow.dispatchEvent(new MouseEvent('click', {bubbles: true}));
  var line = arrow.querySelector('line');
  document.body.setAttribute('data-failed-stroke', getComputedStyle(line).stroke);
})();
</script>"""


@functools.cache
def run(path: Path) -> ScriptResult:
    script = parse_file(path)
    options = RunOptions(timeout=0.5, record_traffic=True)
    return asyncio.run(run_on_target(script, parse_target("reference"), options))


def failing_script(tmp_path: Path) -> Path:
    text = PASSING.read_text(encoding="utf-8")
    assert RIGHT in text
    path = tmp_path / "muc_presence_probe_wrong_role.scs"
    path.write_text(text.replace(RIGHT, WRONG, 1), encoding="utf-8")
    return path


def page_of(result: ScriptResult, path: Path, extra: str = "") -> Path:
    matrix = MatrixResult(
        [RunResult("reference", [result], result.duration_s)], datetime.now(UTC), 1.0
    )
    write_html(matrix, path)
    if extra:
        path.write_text(path.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return path


def arrows_per_step(script: Script, result: ScriptResult) -> dict[int, int]:
    """What the diagram must draw: one arrow per sends, one per stanza a receives matched."""
    wanted = {}
    for step in result.steps:
        if step.status is not Status.PASSED:
            continue
        source = script.steps[step.index]
        if source.action is Action.SENDS:
            wanted[step.index] = 1
        elif source.action is Action.RECEIVES:
            wanted[step.index] = len(expected_from_text(source.xml or "", lambda a, f: "x@y"))
    return wanted


def drawn(document: lxml_html.HtmlElement, kinds: tuple[str, ...]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for arrow in document.xpath("//*[local-name()='g'][contains(@class, 'msg')]"):
        if arrow.get("class").split()[1] in kinds:
            step = int(arrow.get("data-step") or arrow.get("data-during"))
            counts[step] = counts.get(step, 0) + 1
    return counts


def test_passing_script_draws_one_arrow_per_step(chromium: list[str], tmp_path: Path) -> None:
    result = run(PASSING)
    assert result.status is Status.PASSED, result.failure
    page = page_of(result, tmp_path / "passing.html", CLICK_SECOND_STEP_LINE)
    dom, console = browse(chromium, "--dump-dom", page.as_uri() + "#d0-0")
    assert console == []
    document = lxml_html.fromstring(dom)
    assert drawn(document, ("sent", "matched")) == arrows_per_step(parse_file(PASSING), result)
    assert drawn(document, ("failed",)) == {}
    lanes = [t.text for t in document.xpath("//*[local-name()='text'][@class='lane-name']")]
    assert lanes[:4] == ["Romeo", "Juliet", "Nurse", "server"]
    assert len(lanes) == 5 and lanes[4].startswith("probing-"), "the room has its own"
    steps = document.xpath("//div[@class='source']//li[contains(@class, 'step')]")
    assert len(steps) == len(parse_file(PASSING).steps)
    assert {li.get("class") for li in steps} == {"step passed", "step passed selected"}
    # The click on that line selected its one arrow and showed its stanza.
    selected = document.xpath("//*[local-name()='g'][contains(@class, 'selected')]")
    assert [(g.get("class"), g.get("data-step")) for g in selected] == [("msg sent selected", "1")]
    shown = [v for v in document.find_class("view") if v.get("hidden") is None]
    assert [v.get("id") for v in shown] == [selected[0].get("data-view")]
    assert '<x xmlns="http://jabber.org/protocol/muc"/>' in shown[0].text_content()
    screenshot(chromium, page.as_uri() + "#d0-0", "conversation_passing.png")


def test_failing_step_is_red_and_shows_expected_and_closest(
    chromium: list[str], tmp_path: Path
) -> None:
    path = failing_script(tmp_path)
    result = run(path)
    assert result.status is Status.FAILED and result.failure is not None
    failure = result.failure
    page = page_of(result, tmp_path / "failing.html", CLICK_FAILED_ARROW)
    dom, console = browse(chromium, "--dump-dom", page.as_uri())
    assert console == []
    document = lxml_html.fromstring(dom)
    assert drawn(document, ("sent", "matched")) == arrows_per_step(parse_file(path), result)
    assert drawn(document, ("failed",)) == {failure.step: 1}
    assert document.body.get("data-failed-stroke") == RED
    failed_line = document.xpath("//div[@class='source']//li[contains(@class, 'failed')]")[0]
    assert failed_line.get("class") == "step failed selected", "the click selected its line"
    assert failed_line.getparent().index(failed_line) + 1 == failure.line, "numbered lines"
    shown = [v for v in document.find_class("view") if v.get("hidden") is None]
    assert len(shown) == 1, "the click shows the failing step's panel, and only it"
    headings = [h.text for h in shown[0].iter("h5")]
    assert headings[0] == "Expected" and headings[1].startswith("Closest received")
    closest = shown[0].find_class("xml")[1]
    assert [m.text_content() for m in closest.iter("mark")] == [RIGHT]
    expected = shown[0].find_class("xml")[0]
    assert [m.text_content() for m in expected.iter("mark")] == []
    later = document.xpath("//div[@class='source']//li[contains(@class, 'step not-reached')]")
    assert len(later) == len(parse_file(path).steps) - failure.step - 1
    screenshot(chromium, page.as_uri(), "conversation_failing.png")


def test_runs_of_unmatched_stanzas_fold_into_one_arrow() -> None:
    presence = '<presence from="room@conference.localhost/Nurse"/>'
    traffic = [TrafficEntry(0.1 * i, "Romeo", "received", presence, step=1) for i in range(4)]
    traffic += [TrafficEntry(0.5 + 0.1 * i, "Juliet", "received", presence) for i in range(2)]
    result = ScriptResult(Path("x.scs"), "x", Status.PASSED, 1.0, traffic=tuple(traffic))
    found = rows(result)
    assert [(row.actor, row.kind, row.count, row.entries) for row in found] == [
        ("Romeo", "faint", 4, (0, 1, 2, 3)),
        ("Juliet", "faint", 1, (4,)),
        ("Juliet", "faint", 1, (5,)),
    ]
    assert found[0].label == "presence ← room/Nurse"
