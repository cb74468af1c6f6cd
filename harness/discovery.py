"""Which script files a command line names: files as given, directories searched for *.scs.

With no path, the bundled suites: `harness/suites` in an installed package (the
wheel ships `specs/` there), or `specs/` beside the package in a checkout.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from pathlib import Path

SCRIPT_SUFFIX = ".scs"
_PACKAGE = Path(__file__).resolve().parent


def bundled_suites() -> Path:
    """Where the suites shipped with scansion-py are (relative to the working directory
    when below it, so reports show `specs/core/login.scs`)."""
    installed = _PACKAGE / "suites"
    found = installed if installed.is_dir() else _PACKAGE.parent / "specs"
    try:
        return found.relative_to(Path.cwd())
    except ValueError:
        return found


def find_scripts(paths: Sequence[Path]) -> list[Path]:
    """Files in the order given, each directory's `*.scs` (recursive) sorted after it.

    A file is taken whatever its name, since the user named it. Hidden directories
    (`.git`, `.venv`) are not searched and symlinked directories are not followed,
    so a walk never loops. A path named twice is listed once. Raises
    FileNotFoundError (with `.filename`) for a path that does not exist.
    """
    found: dict[Path, None] = {}
    for path in paths:
        if path.is_dir():
            found.update(dict.fromkeys(_scripts_under(path)))
        elif path.exists():
            found[path] = None
        else:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
    return list(found)


def _scripts_under(directory: Path) -> list[Path]:
    scripts: list[Path] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = [name for name in dirs if not name.startswith(".")]
        scripts += [Path(root, name) for name in files if name.endswith(SCRIPT_SUFFIX)]
    return sorted(scripts)
