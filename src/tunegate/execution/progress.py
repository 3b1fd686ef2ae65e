"""Progress on a terminal (rich), silence elsewhere: CI logs stay readable."""

from __future__ import annotations

import sys
from typing import Protocol

from ..safe_text import one_line

__all__ = ["NullProgress", "Progress", "make_progress"]


class Progress(Protocol):
    def start(self, total: int, cached: int) -> None: ...
    def status(self, text: str) -> None: ...
    def advance(self, target: str) -> None: ...
    def stop(self) -> None: ...


class NullProgress:
    def start(self, total: int, cached: int) -> None:
        return None

    def status(self, text: str) -> None:
        return None

    def advance(self, target: str) -> None:
        return None

    def stop(self) -> None:
        return None


class RichProgress:
    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._task: object | None = None

    def start(self, total: int, cached: int) -> None:
        self._bar.start()
        self._task = self._bar.add_task(
            f"generating ({cached} from the store)", total=total, completed=cached
        )

    def status(self, text: str) -> None:
        if self._task is not None:
            self._bar.update(self._task, description=_plain(text))  # type: ignore[arg-type]

    def advance(self, target: str) -> None:
        if self._task is not None:
            self._bar.update(self._task, advance=1, description=_plain(f"generating: {target}"))  # type: ignore[arg-type]

    def stop(self) -> None:
        self._bar.stop()


def _plain(text: str) -> str:
    # Target names come from the config: never rich markup, never terminal controls.
    from rich.markup import escape

    return escape(one_line(text))


def make_progress(enabled: bool | None = None) -> Progress:
    """`enabled=None` shows progress only when stderr is a terminal."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    return RichProgress() if enabled else NullProgress()
