"""`scansion-py diff`: run scripts against two targets and show where they part ways.

For each script whose steps do not turn out the same on both targets, prints
the first diverging step with what each target delivered there side by side
(lines found on one side only are highlighted). Exit codes: 0 both targets
agree on every step of every script, 1 some script diverges, 2 usage or script
error, 3 a target unreachable, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

from rich import box
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from harness.reporting.divergence import (
    NOT_REACHED,
    Divergence,
    Side,
    first_divergence,
)
from harness.reporting.marked_xml import Line, marked_lines
from harness.reporting.matrix import CELL_LABELS
from harness.results import MatrixResult
from harness.run_command import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    add_timeout_option,
    add_tls_options,
    load_scripts,
    load_targets,
)
from harness.runner import RunOptions, run_matrix

_OUTCOME_STYLES = {
    "passed": "bold green",
    "failed": "bold red",
    "errored": "bold magenta",
    NOT_REACHED: "dim",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "diff",
        help="show where two servers diverge on the same scripts",
        description="Run scripts against two targets and show, for each script they do not "
        "agree on, the first diverging step with both targets' stanzas side by side.",
    )
    parser.add_argument(
        "paths", nargs="+", type=Path, metavar="SCRIPT", help="script files or directories"
    )
    parser.add_argument(
        "--target",
        "-t",
        action="append",
        dest="targets",
        required=True,
        metavar="TARGET",
        help="give it twice: HOST:PORT, tls://HOST:PORT, reference, or NAME=ADDRESS",
    )
    add_timeout_option(parser)
    add_tls_options(parser)
    parser.set_defaults(func=diff_command)


def diff_command(args: argparse.Namespace) -> int:
    err = Console(stderr=True, highlight=False)
    targets = load_targets(args.targets, err, command="diff")
    if targets is None:
        return EXIT_USAGE
    if len(targets) != 2:
        err.print(
            f"scansion-py diff: give exactly two --target options (got {len(targets)})",
            markup=False,
        )
        return EXIT_USAGE
    scripts = load_scripts(args.paths, None, err, command="diff")
    if scripts is None:
        return EXIT_USAGE
    options = RunOptions(
        timeout=args.timeout, tls=args.tls, insecure=args.insecure, record_traffic=True
    )
    matrix = asyncio.run(run_matrix(scripts, targets, options, jobs=os.cpu_count() or 1))
    out = Console(highlight=False)
    return print_diff(matrix, out)


def print_diff(matrix: MatrixResult, out: Console) -> int:
    """Print each script's verdict on both targets and its divergence; the exit code."""
    left, right = matrix.runs
    for run in (left, right):
        if run.unreachable is not None:
            out.print(Text(f"{run.target}: unreachable: {run.unreachable}", style="bold red"))
    if matrix.interrupted:
        return EXIT_INTERRUPTED
    if left.unreachable is not None or right.unreachable is not None:
        return EXIT_UNREACHABLE
    diverging = 0
    for path in matrix.paths:
        a, b = matrix.cell(path, left.target), matrix.cell(path, right.target)
        if a is None or b is None:
            continue
        divergence = first_divergence(a, b, left.target, right.target)
        line = Text.assemble(
            ("differ" if divergence else "same  ", "bold yellow" if divergence else "dim"),
            f"  {path}  ",
            (CELL_LABELS[a.status][0], CELL_LABELS[a.status][1]),
            f" on {left.target}, ",
            (CELL_LABELS[b.status][0], CELL_LABELS[b.status][1]),
            f" on {right.target}",
        )
        out.print(line, soft_wrap=True)
        if divergence is not None:
            diverging += 1
            out.print(divergence_panel(divergence))
    noun = "script" if len(matrix.paths) == 1 else "scripts"
    out.print(
        Text(
            f"{diverging} of {len(matrix.paths)} {noun} diverge between "
            f"{left.target} and {right.target}",
            style="bold yellow" if diverging else "bold green",
        )
    )
    return EXIT_FAILED if diverging else EXIT_OK


def divergence_panel(divergence: Divergence) -> Panel:
    """The diverging step: the expected stanza, then both targets side by side."""
    table = Table(box=box.SIMPLE, expand=True, show_edge=False, pad_edge=False)
    for side in (divergence.left, divergence.right):
        table.add_column(
            Text.assemble(
                (side.target, "bold"), "  ", (side.outcome, _OUTCOME_STYLES[side.outcome])
            ),
            ratio=1,
            overflow="fold",
        )
    table.add_row(_side(divergence.left), _side(divergence.right))
    parts: list[RenderableType] = []
    if divergence.expected is not None:
        expected = marked_lines(divergence.expected, divergence.expected_marks, "expected")
        parts += [Text("expected:", style="bold"), *map(_marked, expected), Text("")]
    parts.append(table)
    title = f"line {divergence.line}: {divergence.actor} {divergence.action}"
    return Panel(Group(*parts), title=title, title_align="left", box=box.ROUNDED)


def _side(side: Side) -> Group:
    parts: list[RenderableType] = [Text(side.message)]
    for stanza in side.stanzas:
        for line in marked_lines(stanza, side.marks):
            parts.append(_marked(line))
    if side.explanation:
        parts.append(Text("why: " + side.explanation, style="italic"))
    return Group(*parts)


def _marked(line: Line) -> Text:
    """A stanza line with what differs under the matching rules in bold yellow."""
    return Text.assemble(*((text, "bold yellow" if differs else "") for text, differs in line))
