"""JUnit XML (`--junit FILE`) so CI systems show one test case per script.

Test cases are named as `pytest --junitxml` names the same scripts, so a CI's test
history carries over between the two runners: `name` is the script's path as
given, its `/` turned into `.` (`specs.core.login.scs`), `classname` is empty (or
the target's name when one run covers several targets), and the script's title is
the test case property "title" (the pytest plugin records it too).

One <testsuite> per target in a <testsuites> root; a failed script carries
<failure>, an errored one <error>, both with the same text the console prints.
An unreachable target is one errored test case ("target reachable"), so a run
where nothing ran never reads as green.
With `-v` the stanzas exchanged go into the test case's <system-out>; with
`--validate`, schema-invalid stanzas the target sent go into <system-err> (they
do not fail the case: the outcome is the script's). The server's own name and
version, when it gave them, is the suite property "server".
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lxml import etree

from harness.reporting import failure_text, invalid_text, location, traffic_text
from harness.reporting.json_report import TOOL
from harness.results import MatrixResult, RunResult, ScriptResult, Status


def to_junit(run: RunResult | MatrixResult, timestamp: datetime | None = None) -> bytes:
    runs = run.runs if isinstance(run, MatrixResult) else [run]
    when = (timestamp or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S")
    root = etree.Element(
        "testsuites",
        name=TOOL,
        **_counts(
            sum(r.total + _unreachable(r) for r in runs),
            sum(r.failed for r in runs),
            sum(r.errored + _unreachable(r) for r in runs),
            max((r.duration_s for r in runs), default=0.0),  # targets run side by side
        ),
    )
    for one in runs:
        suite = etree.SubElement(
            root,
            "testsuite",
            name=_xml_safe(f"{TOOL} against {one.target}"),
            timestamp=when,
            **_counts(
                one.total + _unreachable(one),
                one.failed,
                one.errored + _unreachable(one),
                one.duration_s,
            ),
        )
        properties = etree.SubElement(suite, "properties")
        if one.server is not None:
            etree.SubElement(properties, "property", name="server", value=_xml_safe(one.server))
        if one.interrupted:
            etree.SubElement(properties, "property", name="interrupted", value="true")
        # Several targets: the target names the class, so CI tools keep cases apart.
        classname = one.target if len(runs) > 1 else ""
        if one.unreachable is not None:
            case = etree.SubElement(
                suite,
                "testcase",
                name="target reachable",
                classname=classname or "target",
                time="0",
            )
            error = etree.SubElement(
                case, "error", message=_xml_safe(one.unreachable), type="unreachable"
            )
            error.text = _xml_safe(f"{one.target}: {one.unreachable}")
        for script in one.scripts:
            _testcase(suite, script, classname)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _unreachable(run: RunResult) -> int:
    return 0 if run.unreachable is None else 1


def _counts(tests: int, failures: int, errors: int, duration_s: float) -> dict[str, Any]:
    return {
        "tests": str(tests),
        "failures": str(failures),
        "errors": str(errors),
        "skipped": "0",
        "time": f"{duration_s:.3f}",
    }


def _testcase(suite: etree._Element, result: ScriptResult, classname: str) -> None:
    case = etree.SubElement(
        suite,
        "testcase",
        name=_xml_safe(case_name(result.path)),
        classname=_xml_safe(classname),
        file=_xml_safe(str(result.path)),
        time=f"{result.duration_s:.3f}",
    )
    if result.title:
        properties = etree.SubElement(case, "properties")
        etree.SubElement(properties, "property", name="title", value=_xml_safe(result.title))
    if result.failure is not None:
        case.set("line", str(result.failure.line))
        tag = "failure" if result.status is Status.FAILED else "error"
        outcome = etree.SubElement(
            case,
            tag,
            message=_xml_safe(f"{location(result)}: {result.failure.message}"),
            type=tag,
        )
        outcome.text = _xml_safe(failure_text(result))
    if result.traffic:
        etree.SubElement(case, "system-out").text = _xml_safe(traffic_text(result))
    if result.invalid:
        etree.SubElement(case, "system-err").text = _xml_safe(invalid_text(result))


def case_name(path: Path) -> str:
    """The test case name `pytest --junitxml` gives the script: its node id (the path,
    relative) with `/` as `.`."""
    return path.as_posix().replace("/", ".")


def _xml_safe(text: str) -> str:
    """Drop characters XML 1.0 cannot carry (a server may send anything)."""
    return "".join(
        ch
        for ch in text
        if ch in "\t\n\r"
        or 0x20 <= ord(ch) <= 0xD7FF
        or 0xE000 <= ord(ch) <= 0xFFFD
        or ord(ch) >= 0x10000
    )


def write_junit(run: RunResult | MatrixResult, path: Path) -> None:
    path.write_bytes(to_junit(run))
