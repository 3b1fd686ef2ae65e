"""The `tunegate` command. Exit codes: 0 gate passed, 1 gate failed, 2 bad input, 3 run failed."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .api import run
from .config import LoadedConfig, load_project_config
from .errors import SourceLocation, TunegateError
from .execution.targets import check_targets
from .paths import display_path
from .report import (
    error_lines,
    gate_line,
    headline,
    summarize_suites,
    unreachable_targets,
    verdict_of,
)
from .results import Results
from .safe_text import for_terminal
from .suite import load_suites, suite_json_schema

__all__ = ["main"]

EXIT_PASSED, EXIT_GATE_FAILED, EXIT_INPUT, EXIT_RUNTIME = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"tunegate: error: {message}\n")
        raise SystemExit(EXIT_INPUT)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tunegate",
        description="Evaluate a fine-tuned model against its base on your suites, and gate it.",
        epilog="Exit codes: 0 gate passed, 1 gate failed, 2 bad input, 3 the run failed.",
    )
    parser.add_argument("--version", action="version", version=f"tunegate {__version__}")
    parser.add_argument("--config", type=Path, help="tunegate.yaml or pyproject.toml to use")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run suites against the base and candidate targets")
    run.add_argument("suites", nargs="*", type=Path, help="suite files or folders")
    run.add_argument("--base", help="base target name (default: config `base`)")
    run.add_argument("--candidate", help="candidate target name (default: config `candidate`)")
    run.add_argument("--out", type=Path, help="folder for run outputs (default: config `out`)")
    run.add_argument("--label", help="a label for this run, e.g. iteration-3")
    run.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar (default: a bar on a terminal, a plain line every 10 s "
        "elsewhere; --no-progress for none)",
    )

    validate = sub.add_parser("validate", help="check suite files and the config")
    validate.add_argument("suites", nargs="*", type=Path)

    schema = sub.add_parser("schema", help="print the suite JSON Schema")
    schema.add_argument("--results", action="store_true", help="print the results.json schema")
    return parser


def _say(text: str, *, error: bool = False) -> None:
    """Print text that may hold outside content (outputs, server messages, names): with
    control characters made visible, so nothing can steer the terminal."""
    print(for_terminal(text), file=sys.stderr if error else sys.stdout)


def _tolerant_streams() -> None:
    # A console that cannot show a character (e.g. a Latin-1 terminal) gets an escape,
    # not a UnicodeEncodeError at the end of a paid-for run.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    _tolerant_streams()
    args = _parser().parse_args(argv)
    try:
        if args.command == "schema":
            schema = Results.model_json_schema() if args.results else suite_json_schema()
            print(json.dumps(schema, indent=2))
            return EXIT_PASSED
        loaded = load_project_config(args.config)
        if args.command == "validate":
            return _validate(loaded, args.suites)
        return _run(loaded, args)
    except TunegateError as exc:
        _say(f"tunegate: error: {exc}", error=True)
        return exc.exit_code
    except KeyboardInterrupt:
        _say("tunegate: interrupted; completed generations are kept in the store", error=True)
        return EXIT_RUNTIME
    except Exception as exc:  # a bug in tunegate or a plugin, not bad input
        if os.environ.get("TUNEGATE_DEBUG"):
            raise
        _say(
            f"tunegate: internal error: {type(exc).__name__}: {exc}. Completed generations are "
            "kept in the store; rerun with TUNEGATE_DEBUG=1 for the traceback and report it.",
            error=True,
        )
        return EXIT_RUNTIME


def _validate(loaded: LoadedConfig, given: list[Path]) -> int:
    problems: list[str] = []
    try:
        suites = load_suites(given or [loaded.resolve(p) for p in loaded.config.suites])
    except TunegateError as exc:  # still check the targets: report every problem at once
        suites, problems = [], [str(exc)]
    for suite in suites:
        templates = len({c.template_id for c in suite.cases})
        _say(
            f"ok  {SourceLocation(suite.path)}: suite '{suite.name}', {templates} case(s) "
            f"expanding to {len(suite.cases)}"
        )
        for warning in suite.warnings:
            _say(str(warning))
    # Every target a run could use, built as a run builds it: no model is called or loaded.
    config = loaded.config
    for check in check_targets(loaded):
        if check.problem is not None:
            problems.append(check.problem)
            continue
        roles = [r for r in ("base", "candidate") if getattr(config, r) == check.name]
        _say(f"ok  target '{check.name}' ({', '.join([check.provider, *roles])})")
    for problem in problems:
        _say(f"tunegate: error: {problem}", error=True)
    return EXIT_INPUT if problems else EXIT_PASSED


def _run(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    outcome = run(
        args.suites,
        candidate=args.candidate,
        base=args.base,
        label=args.label,
        config=loaded,
        out=args.out,
        progress=args.progress,
    )
    results = outcome.results
    for info in results.suites:
        for warning in info.warnings:
            _say(warning, error=True)
    for s in summarize_suites(results):
        base = "–" if s.base_pass_rate is None else f"{s.base_pass_rate:.0%}"
        cand = "–" if s.candidate_pass_rate is None else f"{s.candidate_pass_rate:.0%}"
        gate = "no rule" if s.gate_status is None else s.gate_status
        _say(
            f"{s.suite:<24} base {base:>5}  candidate {cand:>5}  "
            f"regressed {s.regressed:>3}  improved {s.improved:>3}  gate {gate}"
        )
    for line in error_lines(results):
        _say(line)
    stats = results.stats
    shared = f" ({stats.shared} from a concurrent run)" if stats.shared else ""
    _say(
        f"{stats.calls} model calls, {stats.cached} from the store{shared}, "
        f"{stats.errors} errors"
    )
    for g in results.gate:
        _say(f"gate {gate_line(g)}")
    if results.coverage:
        # Said last, beside the verdict, so a selection's verdict is never read as the whole's.
        _say(f"{results.coverage} (latest-partial, not latest, points at this run)")
    _say(f"{headline(results)}; report: {display_path(outcome.report_path)}")
    if verdict_of(results) == "inconclusive" and results.gate_passed:
        _say(
            "tunegate: warning: the verdict is inconclusive and every undecided rule says "
            "on_inconclusive: warn, so the gate lets the candidate through",
            error=True,
        )
    dead = unreachable_targets(results)
    if dead:
        # A verdict on a model that produced nothing would be meaningless.
        _say(
            f"tunegate: error: every generation of {', '.join(dead)} failed (see above); fix the "
            "target and run again: completed generations are kept in the store",
            error=True,
        )
        return EXIT_RUNTIME
    return EXIT_PASSED if results.gate_passed else EXIT_GATE_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
