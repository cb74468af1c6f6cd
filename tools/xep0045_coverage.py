"""How much of XEP-0045 the suite in specs/xep0045 checks.

The target set is every requirement a client connection can test on the
service (binds service or both, `testable = true`) at the MUST, MUST NOT,
SHOULD and SHOULD NOT levels (REQUIRED, SHALL, SHALL NOT and RECOMMENDED
count with them). A requirement is covered when some step of some script
names it in `@checks`. Prints the figure, the uncovered requirements, and any
id a script names that the catalog does not know (exit 1 then).

    python tools/xep0045_coverage.py [--uncovered]
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

from harness.catalog import CATALOG_NAME, Requirement, load_catalog
from harness.parser import parse_file

SUITE = Path(__file__).resolve().parents[1] / "specs" / "xep0045"


def catalog(suite: Path = SUITE) -> list[Requirement]:
    return list(load_catalog(suite / CATALOG_NAME).requirements.values())


def target_set(requirements: list[Requirement]) -> list[Requirement]:
    """The service-side, client-testable MUST/SHOULD-level requirements."""
    return [r for r in requirements if r.service_testable and (r.blocking or r.advisory)]


def checked_ids(suite: Path = SUITE) -> dict[str, list[str]]:
    """Requirement id -> the scripts (path:line) whose steps check it."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted(suite.glob("*.scs")):
        script = parse_file(path)
        for check in script.checks:
            found[check.id].append(f"{path.name}:{check.line}")
        for step in script.steps:
            for check in step.checks:
                found[check.id].append(f"{path.name}:{check.line}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uncovered", action="store_true", help="list the uncovered ones")
    args = parser.parse_args(argv)
    requirements = catalog()
    known = {r.id for r in requirements}
    checked = checked_ids()
    unknown = sorted(set(checked) - known)
    targets = target_set(requirements)
    covered = [r for r in targets if r.id in checked]
    print(
        f"{len(requirements)} requirements; target set (service-side, client-testable "
        f"MUST/SHOULD levels): {len(targets)}; covered: {len(covered)} "
        f"({100 * len(covered) / len(targets):.1f}%)"
    )
    by_level: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in targets:
        by_level[r.level][0] += 1
        by_level[r.level][1] += r.id in checked
    for level, (total, done) in sorted(by_level.items()):
        print(f"  {level:12} {done:3}/{total}")
    if args.uncovered:
        for r in targets:
            if r.id not in checked:
                print(f"  uncovered {r.id} {r.level}: {r.text[:110]}")
    for ident in unknown:
        print(f"unknown id {ident} in {', '.join(checked[ident])}", file=sys.stderr)
    return 1 if unknown else 0


if __name__ == "__main__":
    sys.exit(main())
