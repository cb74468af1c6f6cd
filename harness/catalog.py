"""Requirement catalogs: the statements of a specification that scripts check (`@checks ID`).

A catalog is a TOML file, `requirements.toml`, next to the scripts or in a
parent directory (the nearest one wins), or given with `--catalog FILE`:

    spec = "XEP-0045"
    version = "1.35.5"

    [[requirement]]
    id = "xep0045-7.2.3-1"
    section = "7.2.3"
    title = "Presence Broadcast"
    level = "MUST"        # MUST, MUST NOT, SHOULD, SHOULD NOT, MAY, REQUIRED, RECOMMENDED, OPTIONAL
    text = "the quoted sentence"
    binds = "service"     # service | client | both
    testable = true
    why_not = ""          # when testable = false: why

Lint and `run` reject a script naming an id its catalog does not hold.
"""

from __future__ import annotations

import difflib
import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.model import Script
from harness.parser import ScriptError

CATALOG_NAME = "requirements.toml"
BLOCKING = frozenset({"MUST", "MUST NOT", "REQUIRED", "SHALL", "SHALL NOT"})
ADVISORY = frozenset({"SHOULD", "SHOULD NOT", "RECOMMENDED", "NOT RECOMMENDED"})
OPTIONAL = frozenset({"MAY", "OPTIONAL"})
LEVELS = BLOCKING | ADVISORY | OPTIONAL
BINDS = ("service", "client", "both")


class CatalogError(ValueError):
    """A catalog the harness cannot use; the message names the file and the entry."""


@dataclass(frozen=True)
class Requirement:
    id: str
    section: str
    title: str
    level: str
    text: str
    binds: str = "service"
    testable: bool = True
    why_not: str = ""
    spec: str = ""

    @property
    def blocking(self) -> bool:
        """A failure of it fails the run (MUST, MUST NOT, REQUIRED...)."""
        return self.level in BLOCKING

    @property
    def advisory(self) -> bool:
        """A failure of it is a warning (SHOULD, SHOULD NOT, RECOMMENDED...)."""
        return self.level in ADVISORY

    @property
    def service_testable(self) -> bool:
        """It binds the service (or both sides) and a client connection can check it."""
        return self.testable and self.binds != "client"


@dataclass(frozen=True)
class Catalog:
    path: Path
    spec: str
    version: str
    requirements: dict[str, Requirement]


_FIELDS = {
    "id": str,
    "section": str,
    "title": str,
    "level": str,
    "text": str,
    "binds": str,
    "testable": bool,
    "why_not": str,
}
_REQUIRED = ("id", "section", "level", "text")


@functools.cache
def load_catalog(path: Path) -> Catalog:
    """Read and check a catalog (cached: every script of a directory shares it)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read the catalog: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: not a TOML file: {exc}") from None
    spec = str(data.get("spec", ""))
    entries = data.get("requirement", [])
    if not isinstance(entries, list):
        raise CatalogError(f"{path}: 'requirement' must be an array of tables ([[requirement]])")
    requirements: dict[str, Requirement] = {}
    for number, entry in enumerate(entries, 1):
        requirement = _requirement(entry, f"{path}: requirement {number}", spec)
        if requirement.id in requirements:
            raise CatalogError(f"{path}: requirement id {requirement.id!r} is given twice")
        requirements[requirement.id] = requirement
    return Catalog(path, spec, str(data.get("version", "")), requirements)


def _requirement(entry: Any, where: str, spec: str) -> Requirement:
    if not isinstance(entry, dict):
        raise CatalogError(f"{where}: expected a table")
    for key in _REQUIRED:
        if key not in entry:
            raise CatalogError(f"{where}: '{key}' is missing")
    for key, value in entry.items():
        kind = _FIELDS.get(key)
        if kind is None:
            raise CatalogError(f"{where}: unknown key {key!r}; keys are {', '.join(_FIELDS)}")
        if not isinstance(value, kind):
            raise CatalogError(f"{where}: '{key}' must be a {kind.__name__}")
    if entry["level"] not in LEVELS:
        raise CatalogError(
            f"{where} ({entry['id']}): level {entry['level']!r} is not one of "
            + ", ".join(sorted(LEVELS))
        )
    if entry.get("binds", "service") not in BINDS:
        raise CatalogError(f"{where} ({entry['id']}): binds must be one of {', '.join(BINDS)}")
    return Requirement(spec=spec, **{"title": "", **entry})


def find_catalog(script_path: Path) -> Path | None:
    """The nearest `requirements.toml` in the script's directory or a parent."""
    for directory in script_path.resolve().parents:
        candidate = directory / CATALOG_NAME
        if candidate.is_file():
            return candidate
    return None


def catalog_for(script: Script, override: Path | None = None) -> Catalog | None:
    """The catalog a script's ids refer to: `override`, or the nearest one."""
    path = override or find_catalog(script.path)
    return None if path is None else load_catalog(path)


def unknown_ids(script: Script, catalog: Catalog | None, lines: list[str]) -> list[ScriptError]:
    """A located error for every `@checks` id the catalog does not hold (or with no catalog)."""
    errors = []
    checks = [*script.checks, *(check for step in script.steps for check in step.checks)]
    for check in checks:
        if catalog is not None and check.id in catalog.requirements:
            continue
        hint: str | None
        if catalog is None:
            message = f"requirement id {check.id!r}, but no {CATALOG_NAME} is found"
            hint = f"put a {CATALOG_NAME} beside the script or above it, or pass --catalog FILE"
        else:
            message = f"unknown requirement id {check.id!r} (not in {catalog.path})"
            guess = difflib.get_close_matches(check.id, list(catalog.requirements), n=1)
            hint = f"did you mean {guess[0]!r}?" if guess else None
        source = lines[check.line - 1] if 0 < check.line <= len(lines) else None
        errors.append(ScriptError(script.path, check.line, check.column, message, hint, source))
    return errors


def requirement_errors(script: Script, override: Path | None = None) -> list[ScriptError]:
    """What is wrong with the script's `@checks` ids (an unusable catalog included)."""
    if not script.requirement_ids():
        return []
    try:
        catalog = catalog_for(script, override)
    except CatalogError as exc:
        return [ScriptError(script.path, 0, 0, str(exc))]
    lines = script.path.read_text(encoding="utf-8").split("\n")
    return unknown_ids(script, catalog, lines)
