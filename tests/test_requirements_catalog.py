"""The XEP-0045 requirement catalog: well-formed, reconciled, and in step with its extractor."""

from __future__ import annotations

import importlib.util
import re
import sys
import tomllib
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "specs" / "xep0045" / "requirements.toml"
LEVELS = {
    "MUST",
    "MUST NOT",
    "REQUIRED",
    "SHALL",
    "SHALL NOT",
    "SHOULD",
    "SHOULD NOT",
    "RECOMMENDED",
    "NOT RECOMMENDED",
    "MAY",
    "OPTIONAL",
}


def _module(name: str):
    """A script of tools/, imported by path (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _requirements() -> list[dict]:
    return tomllib.loads(CATALOG.read_text(encoding="utf-8"))["requirement"]


def test_every_requirement_is_complete_and_uniquely_identified() -> None:
    requirements = _requirements()
    ids = [r["id"] for r in requirements]
    assert len(ids) == len(set(ids))
    for r in requirements:
        assert re.fullmatch(rf"xep0045-{re.escape(r['section'])}-\d+", r["id"]), r["id"]
        assert r["level"] in LEVELS
        assert r["binds"] in {"service", "client", "both"}
        assert r["title"] and r["text"]
        assert r["level"].split()[-1] in r["text"] or r["level"] in r["text"], r["id"]
        assert r["testable"] or r["why_not"], f"{r['id']} is untestable without a reason"


def test_numbering_follows_document_order_within_each_section() -> None:
    seen: Counter[str] = Counter()
    for r in _requirements():
        seen[r["section"]] += 1
        assert r["id"].endswith(f"-{seen[r['section']]}"), r["id"]


def test_client_only_requirements_are_not_claimed_testable() -> None:
    for r in _requirements():
        if r["binds"] == "client":
            assert not r["testable"], r["id"]


def test_catalog_matches_the_specification(shared_dir: Path) -> None:
    """Regenerating from the XEP changes nothing, and every keyword is accounted for."""
    xep = shared_dir / "docs" / "xep" / "xep-0045-1.35.5.xml"
    if not xep.exists():
        pytest.skip(f"{xep} is absent")
    extractor = _module("extract_requirements")
    assert extractor.main([str(xep), "-o", str(CATALOG), "--check"]) == 0
    root = extractor.parse(xep)
    keywords = extractor.keyword_counts(root)
    in_statements = sum(len(extractor.KEYWORD.findall(r["text"])) for r in _requirements())
    assert in_statements == sum(keywords.values())
    assert keywords["MUST"] + keywords["MUST NOT"] > 250


def test_the_suite_covers_the_service_side_requirements() -> None:
    """At least 90% of the client-testable service MUST/SHOULD requirements have a checking step."""
    coverage = _module("xep0045_coverage")
    requirements = coverage.catalog()
    checked = coverage.checked_ids()
    assert set(checked) <= {r.id for r in requirements}, "scripts name unknown ids"
    targets = coverage.target_set(requirements)
    covered = [r for r in targets if r.id in checked]
    assert len(covered) >= 0.9 * len(targets), f"{len(covered)}/{len(targets)} covered"
