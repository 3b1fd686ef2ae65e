"""SIGTERM handled as Ctrl-C, for `tunegate run` and for `pytest suites/`.

A cancelled CI job or a `kill` sends SIGTERM, whose default ends the process at once and
leaves the run `running` in the store until the next run marks it abandoned. Raised as
SIGINT instead, it goes through the machinery in place for Ctrl-C (Python's, or asyncio's,
which cancels the run cleanly): the run is marked `interrupted` and its claims released.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

__all__ = ["Handlers", "ignore_interrupts", "restore", "stop_reason", "terminate_as_interrupt"]

Handlers = dict[signal.Signals, Any]
_stopped_by = {"signal": "interrupted"}


def stop_reason() -> str:
    """What stopped the run, for its one line: `interrupted` or `terminated (SIGTERM)`."""
    return _stopped_by["signal"]


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _stopped_by["signal"] = "terminated (SIGTERM)"
    if callable(signal.getsignal(signal.SIGINT)):
        signal.raise_signal(signal.SIGINT)
    else:  # SIGINT ignored since start-up (`tunegate run &` in a script): stop all the same
        raise KeyboardInterrupt


def terminate_as_interrupt() -> Handlers | None:
    """Handle SIGTERM as Ctrl-C from now on; the handlers it replaced, for `restore`."""
    if threading.current_thread() is not threading.main_thread():
        return None  # only the main thread may set handlers; the caller's own apply
    _stopped_by["signal"] = "interrupted"
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGTERM, _on_sigterm)
    return previous


def ignore_interrupts() -> None:
    """The results are written: from here on the exit code is the verdict's, whatever
    signal arrives while the summary prints or the interpreter exits."""
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)


def restore(handlers: Handlers | None) -> None:
    for signum, handler in (handlers or {}).items():
        signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
