"""Suite files on disk: which paths may be read as suites, and how much of them.

A suite argument is user input like any other. `tunegate run /dev/zero` must not read
forever, a FIFO named `x.yaml` must not block, and `tunegate run /` must not walk the
whole file system. Everything here refuses such paths with a SuiteError (exit 2) that
names the path and the fix, before any YAML is parsed.

Limits (documented in the README, under Running):

- a suite file holds at most `MAX_SUITE_BYTES` (50 MB): the example suites are a few KB,
  and 10,000 cases (the most a suite may expand to) fit in a few MB;
- a folder walked for suites holds at most `MAX_SUITE_FILES` (1,000) YAML files and
  `MAX_WALK_ENTRIES` (100,000) files and folders: more means the wrong folder was given
  (a home folder, a repository with its virtual environment), and the walk stops there;
- `/` is never walked.

Callers: `yaml_source.load_yaml` reads through `read_suite_file` (so the config file is
bounded too); the doors (`tunegate run / validate`, `tunegate.run`) call
`check_suite_arguments` on the paths they are given; the loader's folder walk counts what
it sees with a `WalkBudget` and skips `is_skipped_name` files.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from ..errors import SourceLocation, SuiteError

__all__ = [
    "GROUP_LIST_FOLDER",
    "MAX_SUITE_BYTES",
    "MAX_SUITE_FILES",
    "MAX_WALK_ENTRIES",
    "SKIPPED_NAMES",
    "WalkBudget",
    "check_suite_arguments",
    "check_suite_file",
    "check_suite_folder",
    "is_skipped_name",
    "is_skipped_path",
    "read_suite_file",
]

MAX_SUITE_BYTES = 50 * 1024 * 1024
MAX_SUITE_FILES = 1_000
MAX_WALK_ENTRIES = 100_000
# Project files that live beside suites but are never suites (`tunegate run .`).
SKIPPED_NAMES = frozenset({"tunegate.yaml", "tunegate.yml", "pyproject.toml"})

# O_NONBLOCK makes opening a FIFO return at once instead of waiting for a writer; it
# changes nothing for a regular file. Windows has no FIFOs and no such flag.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


def check_suite_file(path: Path) -> None:
    """Refuse a path that is missing, or is not a regular file (a folder is the caller's
    business), or is larger than a suite may be. Nothing is opened: a FIFO stays unread."""
    try:
        info = path.stat()  # follows a symlink: what matters is what would be read
    except FileNotFoundError:
        raise SuiteError(SourceLocation(path), "no such file or directory") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise SuiteError(SourceLocation(path), f"cannot read this path ({_reason(exc)})") from None
    _check_kind(path, info.st_mode)
    _check_size(path, info.st_size)


def read_suite_file(path: Path, *, limit: int = MAX_SUITE_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; a SuiteError otherwise.

    The kind is checked on the open descriptor, so a file swapped for a FIFO between a
    check and the read still cannot block, and the read stops after `limit + 1` bytes
    whatever the file claims its size is (/proc files say 0)."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise SuiteError(SourceLocation(path), "file not found") from None
    except IsADirectoryError:
        raise SuiteError(SourceLocation(path), "is a folder, not a YAML file") from None
    except (OSError, ValueError) as exc:
        if isinstance(exc, OSError) and exc.errno == errno.ENXIO:  # a socket, on some systems
            raise SuiteError(SourceLocation(path), _not_regular("a socket")) from None
        raise SuiteError(SourceLocation(path), f"cannot read the file: {_reason(exc)}") from None
    try:  # a folder opens too (on Linux), and a FIFO opens at once: look before reading
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise SuiteError(SourceLocation(path), "is a folder, not a YAML file")
        _check_kind(path, mode)
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as file:
        try:
            data = file.read(limit + 1)
        except OSError as exc:
            raise SuiteError(
                SourceLocation(path), f"cannot read the file: {_reason(exc)}"
            ) from None
    _check_size(path, len(data), limit=limit)
    return data


def check_suite_arguments(paths: Iterable[Path]) -> None:
    """Refuse, before any walk or read, a suite argument that is `/` or is not a regular
    file or a folder (a device, a FIFO, a socket). A missing path is left to the loader,
    which says so."""
    for path in paths:
        if path.is_dir():
            check_suite_folder(path)
        elif path.exists():
            check_suite_file(path)


def check_suite_folder(folder: Path) -> None:
    """Refuse to search `/` for suites: the walk would cross the whole file system."""
    if _is_root(folder):
        raise SuiteError(
            SourceLocation(folder),
            "tunegate does not search the whole file system for suites; pass your suites "
            "folder (e.g. suites/) or suite files",
        )


def is_skipped_name(name: str) -> bool:
    """A project file that lives beside suites but is never one (`tunegate run .`)."""
    return name in SKIPPED_NAMES


# Group lists (`vars: {group: {groups: groups/customers.yaml}}`) live in a folder of this
# name beside the suites: YAML, but never suites.
GROUP_LIST_FOLDER = "groups"


def is_skipped_path(path: Path) -> bool:
    """A file found while searching a folder for suites that is not one: tunegate.yaml,
    or a group list in a `groups/` folder."""
    return is_skipped_name(path.name) or path.parent.name == GROUP_LIST_FOLDER


class WalkBudget:
    """Bounds one search of a folder for suites: call `entries(n)` for each folder listed
    and `suite_file()` for each suite file found; past a limit, a SuiteError naming the
    folder stops the walk (a home folder, a repository with its virtual environment)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.seen = 0
        self.found = 0

    def entries(self, count: int) -> None:
        self.seen += count
        if self.seen > MAX_WALK_ENTRIES:
            raise SuiteError(
                SourceLocation(self.folder), _too_large(f"{MAX_WALK_ENTRIES:,} entries")
            )

    def suite_file(self) -> None:
        self.found += 1
        if self.found > MAX_SUITE_FILES:
            raise SuiteError(
                SourceLocation(self.folder), _too_large(f"{MAX_SUITE_FILES:,} YAML files")
            )


def _check_kind(path: Path, mode: int) -> None:
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return
    kinds = (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    kind = next((name for test, name in kinds if test(mode)), "not a regular file")
    raise SuiteError(SourceLocation(path), _not_regular(kind))


def _not_regular(kind: str) -> str:
    return f"is {kind}, not a regular file; pass the path of a YAML file instead"


def _check_size(path: Path, size: int, *, limit: int = MAX_SUITE_BYTES) -> None:
    if size > limit:
        raise SuiteError(
            SourceLocation(path),
            f"larger than {_megabytes(limit)}, the most tunegate reads from one file; "
            "split it into several suite files",
        )


def _megabytes(size: int) -> str:
    return f"{size / 2**20:g} MB" if size >= 2**20 else f"{size:,} bytes"


def _too_large(what: str) -> str:
    return (
        f"holds more than {what}, too many for a suites folder (the search stopped there); "
        "pass the folder that holds your suites, or the suite files themselves"
    )


def _is_root(folder: Path) -> bool:
    try:
        resolved = folder.resolve()
    except (OSError, RuntimeError):
        return False
    return resolved == Path(resolved.anchor)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)
