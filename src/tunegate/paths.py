"""How paths are shown to people: relative to the working directory when inside it."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["display_path"]


def display_path(path: Path) -> str:
    """The path as the user named it: links are not followed, so a suite reached through a
    link under suites/ is shown there, not at its target."""
    here = Path.cwd()
    for candidate in (Path(os.path.abspath(path)), path.resolve()):
        try:
            return str(candidate.relative_to(here))
        except ValueError:
            continue
    return str(path)
