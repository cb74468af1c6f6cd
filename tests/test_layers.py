"""The layers point one way: protocol <- harness, protocol <- reference, no cycle.

Walks every module's import statements (static, with `ast`), so the check runs
without importing anything. `python -m tests.test_layers` prints the graph.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("protocol", "harness", "reference")
# Which top-level parts each part may import.
ALLOWED = {"protocol": set(), "harness": {"protocol"}, "reference": {"protocol"}}


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


def import_graph() -> dict[str, dict[str, list[str]]]:
    """part -> imported part -> the modules of `part` that import it."""
    graph: dict[str, dict[str, list[str]]] = {part: defaultdict(list) for part in PACKAGES}
    for part in PACKAGES:
        for path in sorted((ROOT / part).rglob("*.py")):
            for other in _imported_packages(path) - {part}:
                graph[part][other].append(str(path.relative_to(ROOT)))
    return graph


def test_each_part_imports_only_the_layers_below_it() -> None:
    graph = import_graph()
    wrong = {
        f"{part} -> {other}": modules
        for part, edges in graph.items()
        for other, modules in edges.items()
        if other not in ALLOWED[part]
    }
    assert not wrong, f"imports against the layering: {wrong}"


def test_the_check_sees_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import harness.runner\nfrom reference.server import X\nfrom . import y\n")
    assert _imported_packages(module) == {"harness", "reference"}


if __name__ == "__main__":
    for part, edges in import_graph().items():
        for other, modules in sorted(edges.items()):
            print(f"{part} -> {other}  ({len(modules)} modules)")
    sys.exit(0)
