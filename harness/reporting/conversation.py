"""One script on one target, as the HTML report shows it: the diagram, the script, the stanzas.

Three linked panes: the sequence diagram (harness.reporting.sequence), the
script's source with line numbers and each step marked passed, failed or not
reached, and an inspector that shows the stanzas behind the arrow or step
picked. Clicking an arrow selects its step in the source; clicking a line of
the source selects the step's arrows. Differences in a failed step's expected
and closest stanzas are marked as the matcher counted them.
"""

from __future__ import annotations

import functools
import html
import itertools
from pathlib import Path

from harness.parser import ScriptError, parse_file
from harness.reporting.marked_xml import marked_lines
from harness.reporting.sequence import Row, rows, sequence_svg
from harness.results import Failure, Mark, ScriptResult

NOT_REACHED = "not-reached"


def conversation_html(result: ScriptResult, ident: str) -> str:
    """The three panes for one cell; `ident` keeps its element ids apart from other cells'."""
    if not result.traffic:
        return '<p class="muted">No traffic recorded.</p>'
    found = rows(result)
    view = f"{ident}-v"
    source = _source(result)
    views = "".join(
        _view(result, row, f"{view}-r{i}") for i, row in enumerate(found) if row.kind != "event"
    )
    return (
        f'<div class="conversation" id="{ident}">'
        f'<div class="diagram">{sequence_svg(result, found, f"{ident}-svg", view)}</div>'
        f"{source}"
        '<div class="inspector"><p class="hint muted">Click an arrow or a script line to see '
        f"its stanzas.</p>{views}</div></div>"
    )


def marked_pre(text: str, marks: tuple[Mark, ...], side: str) -> str:
    """A stanza in a <pre>, each differing attribute, text or element in a <mark>."""
    lines = []
    for line in marked_lines(text, marks, side):
        shown = []
        for differs, parts in itertools.groupby(line, key=lambda part: part[1]):
            escaped = html.escape("".join(part for part, _ in parts))
            shown.append(f'<mark class="diff">{escaped}</mark>' if differs else escaped)
        lines.append("".join(shown))
    return f'<pre class="xml">{chr(10).join(lines)}</pre>'


def failure_stanzas(failure: Failure) -> str:
    """Expected and closest (or unexpected) stanzas of a failure, differences marked."""
    parts = []
    if failure.expected is not None:
        parts.append("<h5>Expected</h5>" + marked_pre(failure.expected, failure.marks, "expected"))
    if failure.closest is not None:
        nothing = failure.action == "receives nothing"
        label = "Received" if nothing else "Closest received"
        held = "" if failure.buffered is None else f" ({failure.buffered} buffered)"
        marks = (Mark("received", ()),) if nothing else failure.marks
        parts.append(f"<h5>{label}{held}</h5>" + marked_pre(failure.closest, marks, "received"))
    if failure.explanation:
        parts.append(f'<p class="why">{html.escape(failure.explanation)}</p>')
    return "".join(parts)


def _view(result: ScriptResult, row: Row, ident: str) -> str:
    step = result.steps[row.step] if row.step < len(result.steps) else None
    where = f" · step {row.step + 1}" + (f", line {step.line}" if step else "")
    failure = result.failure
    if row.kind == "failed" and failure is not None and failure.action != "receives nothing":
        head = f"{failure.actor} {failure.action}{where}: {failure.message}"
        body = failure_stanzas(failure)
    else:
        verb = "sent" if row.kind == "sent" else "received"
        count = f" ({row.count} alike)" if row.count > 1 else ""
        head = f"{row.actor} {verb}{count}{where} · {row.t:.3f} s"
        if row.kind == "faint":
            head += " · no step asked for it"
        elif row.kind == "failed":
            head += " · it broke the silence the step expected"
        whole = (Mark("received", ()),) if row.kind == "failed" else ()
        body = "".join(marked_pre(result.traffic[i].text, whole, "received") for i in row.entries)
    return (
        f'<div class="view {row.kind}" id="{ident}" hidden>'
        f'<p class="view-head">{html.escape(head)}</p>{body}</div>'
    )


@functools.lru_cache(maxsize=64)
def _script(path: Path, mtime_ns: int, size: int) -> tuple[str, list[int]]:
    """A script's text and its steps' lines, parsed once for all its targets (the file's
    modification time and size key the cache, so an edited script is read again)."""
    return path.read_text(encoding="utf-8"), [step.line for step in parse_file(path).steps]


def _source(result: ScriptResult) -> str:
    """The script, numbered by the list; a step's lines carry its index, its action line
    also its outcome (the stylesheet draws the line numbers and outcome marks)."""
    try:
        stat = result.path.stat()
        text, step_lines = _script(result.path, stat.st_mtime_ns, stat.st_size)
    except (OSError, UnicodeDecodeError, ScriptError):
        return '<div class="source muted">The script\'s source is not readable here.</div>'
    outcome = {step.index: step.status.value for step in result.steps}
    owner: dict[int, int] = {}
    lines = text.splitlines()
    for index, first in enumerate(step_lines):
        end = step_lines[index + 1] if index + 1 < len(step_lines) else len(lines) + 1
        owner.update((number, index) for number in range(first, end))
    items = []
    for number, line in enumerate(lines, start=1):
        step = owner.get(number)
        attrs = ""
        if step is not None:
            attrs = f' data-step="{step}"'
            if step_lines[step] == number:  # the action line carries the outcome
                attrs += f' class="step {outcome.get(step, NOT_REACHED)}"'
        items.append(f"<li{attrs}>{html.escape(line)}</li>")
    return f'<div class="source"><ol>{"".join(items)}</ol></div>'
