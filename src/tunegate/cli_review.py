"""The review commands of the `tunegate` door: `review export` and `review import`.

Kept apart from cli.py like the training commands; each is a thin call into
`tunegate.review`. docs/review.md.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import LoadedConfig

__all__ = ["add_review_commands", "run_review_command"]

Say = Callable[..., None]


def add_review_commands(sub: Any, shared: argparse.ArgumentParser) -> None:
    review = sub.add_parser(
        "review",
        help="export judged outputs for people to rate, and import their ratings",
        description="Human review of the judge: export a run's judged outputs to a CSV, "
        "have people rate them, import the ratings. Each run then reports the judge's "
        "agreement with them (docs/review.md).",
    )
    actions = review.add_subparsers(dest="review_command", required=True, metavar="{export,import}")
    export = actions.add_parser(
        "export",
        parents=[shared],
        help="write a run's judged outputs to a CSV, the ones to look at first on top",
    )
    export.add_argument(
        "run",
        nargs="?",
        type=Path,
        help="a run folder or its results.json (default: the project's latest run)",
    )
    export.add_argument("--out", type=Path, required=True, help="the CSV file to write")
    export.add_argument(
        "--force",
        action="store_true",
        help="replace --out if it exists (it may hold ratings not imported yet)",
    )
    imports = actions.add_parser(
        "import",
        parents=[shared],
        help="store the ratings of a review CSV for the judge-agreement statistics",
    )
    imports.add_argument("file", type=Path, help="the CSV that review export wrote, rated")
    imports.add_argument(
        "--rater", help="who rated: fills the rater cell of rows that leave it empty"
    )
    imports.add_argument(
        "--run",
        type=Path,
        help="the run the file was exported from, its folder or results.json: every rating "
        "must name one of its judged outputs (default: the project's latest run)",
    )


def run_review_command(args: argparse.Namespace, loaded: LoadedConfig, say: Say) -> int:
    if args.review_command == "export":
        return _export(args, loaded, say)
    return _import(args, loaded, say)


def _run(args: argparse.Namespace, loaded: LoadedConfig) -> Path:
    """The run named on the command line, else the project's latest full run."""
    return args.run if args.run is not None else loaded.resolve(loaded.config.out) / "latest"


def _export(args: argparse.Namespace, loaded: LoadedConfig, say: Say) -> int:
    from .paths import display_path
    from .review import export_review

    run = _run(args, loaded)
    summary = export_review(run, args.out, force=args.force)
    shown = display_path(summary.path)
    if not summary.rows:
        say(
            f"tunegate: wrote {shown} with no rows: the run has no judged check with an output "
            "(judged checks need `judge:`; docs/metrics.md)"
        )
        return 0
    say(
        f"tunegate: wrote {summary.rows} row(s) to {shown}, most urgent first; "
        f"{summary.flagged} flagged for review"
    )
    say(
        "fill human_label (pass or fail; base, candidate or tie on pair rows), optionally "
        f"human_score, and rater; then: tunegate review import {shown}"
    )
    return 0


def _import(args: argparse.Namespace, loaded: LoadedConfig, say: Say) -> int:
    from .paths import display_path
    from .review import import_ratings

    run = _run(args, loaded)
    summary = import_ratings(args.file, loaded.store_path, args.rater, run=run)
    notes = [f"checked against the run {display_path(run)}"]
    if summary.skipped:
        notes.append(f"{summary.skipped} row(s) without a rating skipped")
    if summary.duplicates:
        notes.append(f"{summary.duplicates} identical duplicate row(s) counted once")
    say(
        f"tunegate: imported {summary.imported} rating(s) from {display_path(summary.path)} "
        f"into {display_path(summary.store)}; {'; '.join(notes)}"
    )
    return 0
