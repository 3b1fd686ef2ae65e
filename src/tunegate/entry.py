"""The console script's first step: load the CLI, treating a Ctrl-C during the load as an
interruption (one line, exit 3) like one during the run, never as a traceback."""

from __future__ import annotations

import sys

INTERRUPTED = 3


def main() -> int:
    try:
        from .cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("tunegate: interrupted; completed generations are kept in the store\n")
        return INTERRUPTED
    return cli_main()
