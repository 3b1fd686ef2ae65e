"""How paths are shown to people: relative to the working directory when inside it."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

__all__ = ["display_path", "not_a_plain_file", "staged_file"]


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


def not_a_plain_file(out: Path) -> str | None:
    """Why `out` must not be replaced by a file tunegate writes, or None. A file is written
    beside its target and renamed over it, which would turn a device (/dev/null), a FIFO or
    a link into a plain file: only a missing path or a regular file may be replaced."""
    try:
        mode = out.lstat().st_mode
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        return f"cannot be checked ({getattr(exc, 'strerror', None) or exc})"
    if stat.S_ISLNK(mode):
        return "is a link; name the file itself"
    if not stat.S_ISREG(mode):
        return "is not a regular file (a device, a FIFO or a socket); name a file"
    return None


@contextlib.contextmanager
def staged_file(out: Path) -> Iterator[Path]:
    """A fresh temporary path beside `out` to write to; renamed over `out` when the block
    ends without error, removed otherwise. A crash or a reader never sees half a file, and
    nothing is left behind. Raises ValueError (naming why) for an `out` that must not be
    replaced; OSError as the file system gives it."""
    problem = not_a_plain_file(out)
    if problem is not None:
        raise ValueError(problem)
    staged = out.with_name(f".{out.name}.{secrets.token_hex(6)}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        yield staged
        os.replace(staged, out)
    finally:
        with contextlib.suppress(OSError, ValueError):
            staged.unlink(missing_ok=True)
