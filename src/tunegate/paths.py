"""How paths are shown to people: relative to the working directory when inside it."""

from __future__ import annotations

from pathlib import Path

__all__ = ["display_path"]


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
