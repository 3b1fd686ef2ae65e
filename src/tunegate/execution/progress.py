"""Progress: a bar on a terminal (rich), a plain line every few seconds elsewhere (CI logs),
nothing when asked for none."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Protocol, TextIO

from ..safe_text import one_line

__all__ = ["DEFAULT_INTERVAL_S", "LineProgress", "NullProgress", "Progress", "make_progress"]

# Often enough that a CI job never looks hung, rarely enough that a log stays short.
DEFAULT_INTERVAL_S = 10.0


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


class LineProgress:
    """One plain line every `interval` seconds while generating, one per model load, and a
    last one at the end: for logs, where a redrawn bar would be noise."""

    def __init__(
        self,
        stream: TextIO,
        interval: float = DEFAULT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._ticker: threading.Thread | None = None
        self._started: float | None = None
        self._total = self._cached = self._done = 0

    def start(self, total: int, cached: int) -> None:
        self._started = self._clock()
        self._total, self._cached, self._done = total, cached, cached
        if self._done < self._total:
            self._line(self._counts())
            # A thread, not the event loop: a long in-process generation can hold the loop.
            self._ticker = threading.Thread(
                target=self._tick, name="tunegate-progress", daemon=True
            )
            self._ticker.start()

    def status(self, text: str) -> None:
        self._line(text)

    def advance(self, target: str) -> None:
        self._done += 1

    def stop(self) -> None:
        self._stopped.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        if self._started is not None:
            self._line(self._counts())
            self._started = None

    def _tick(self) -> None:
        while not self._stopped.wait(self._interval):
            self._line(self._counts())

    def _counts(self) -> str:
        elapsed = max(0, round(self._clock() - (self._started or 0.0)))
        return f"{self._done}/{self._total} generations, {self._cached} from the store, {elapsed} s"

    def _line(self, text: str) -> None:
        with self._lock:
            try:
                self._stream.write(f"tunegate: {one_line(text)}\n")
                self._stream.flush()
            except (OSError, ValueError):
                pass  # a closed or broken stream must not end a paid-for run


def _plain(text: str) -> str:
    # Target names come from the config: never rich markup, never terminal controls.
    from rich.markup import escape

    return escape(one_line(text))


def make_progress(enabled: bool | None = None, *, interval: float = DEFAULT_INTERVAL_S) -> Progress:
    """`None`: a bar when stderr is a terminal, plain lines every `interval` seconds when it
    is not (CI); `True`: always the bar; `False`: nothing."""
    if enabled is False:
        return NullProgress()
    if enabled or _is_terminal(sys.stderr):
        return RichProgress()
    return LineProgress(sys.stderr, interval)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False
