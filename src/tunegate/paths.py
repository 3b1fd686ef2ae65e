"""How paths are shown to people: relative to the working directory when inside it."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["display_path"]


def display_path(path: Path) -> str:
    """The path as the user named it: links are not followed, so a suite reached through a
    link under suites/ is shown there, not at its target."""
    here = Path.cwd()
    try:
        candidates = (Path(os.path.abspath(path)), path.resolve())
    except (OSError, ValueError):  # e.g. a NUL byte in a name the user gave
        return str(path)
    for candidate in candidates:
        try:
            return str(candidate.relative_to(here))
        except ValueError:
            continue
    return str(path)
