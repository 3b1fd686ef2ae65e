"""The `tunegate` command. Exit codes: 0 gate passed, 1 gate failed or inconclusive,
2 bad input, 3 run failed.

Ctrl-C and SIGTERM stop a run the same way: the run is marked `interrupted` in the store,
its claims are released, and the command exits 3 with one line. Once the run's results
are written they are the answer: an interrupt after that no longer changes the exit code.

This module imports little at the top: the rest of tunegate (pydantic, scipy, statsmodels,
about a second) is imported inside `main`, where a Ctrl-C is handled like any other.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from . import __version__
from .cli_import import add_import_commands, run_import_command
from .cli_review import add_review_commands, run_review_command
from .cli_training import COMMANDS as TRAINING_COMMANDS
from .cli_training import add_training_commands, needs_config, run_training_command
from .errors import ConfigError, SourceLocation, TunegateError
from .interrupts import ignore_interrupts, restore, stop_reason, terminate_as_interrupt

if TYPE_CHECKING:
    from .config import LoadedConfig
    from .execution import EvaluationOutcome
    from .suite import Case, Suite

__all__ = ["main"]

EXIT_PASSED, EXIT_GATE_FAILED, EXIT_INPUT, EXIT_RUNTIME = 0, 1, 2, 3
_ROLES = ("base", "candidate", "judge")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"tunegate: error: {message}\n")
        raise SystemExit(EXIT_INPUT)


_CONFIG_HELP = "tunegate.yaml or pyproject.toml to use (before or after the command)"


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tunegate",
        description="Evaluate a fine-tuned model against its base on your suites, and gate it.",
        epilog="Exit codes: 0 gate passed, 1 gate failed or inconclusive, 2 bad input, "
        "3 the run failed (also on Ctrl-C or SIGTERM before the results are written).",
    )
    parser.add_argument("--version", action="version", version=f"tunegate {__version__}")
    parser.add_argument("--config", type=Path, help=_CONFIG_HELP)
    # `tunegate run --config x.yaml` too: SUPPRESS keeps the value given before the command
    # when none is given after it.
    shared = _Parser(add_help=False)
    shared.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=_CONFIG_HELP)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser(
        "run", parents=[shared], help="run suites against the base and candidate targets"
    )
    run.add_argument("suites", nargs="*", type=Path, help="suite files or folders")
    _role_options(run)
    run.add_argument(
        "--out",
        type=Path,
        help="folder for the run folders and the latest links (default: config `out`); the "
        "store stays where the config puts it (`store:`, else <config out>/tunegate.db), "
        "since it is the cache every run shares",
    )
    run.add_argument("--label", help="a label for this run, e.g. iteration-3")
    run.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar (default: a bar on a terminal, a plain line every 10 s "
        "elsewhere; --no-progress for none)",
    )

    validate = sub.add_parser(
        "validate", parents=[shared], help="check suite files, the config, targets and store"
    )
    validate.add_argument("suites", nargs="*", type=Path, help="suite files or folders")
    _role_options(validate)

    schema = sub.add_parser("schema", help="print the suite JSON Schema")
    schema.add_argument("--results", action="store_true", help="print the results.json schema")
    add_training_commands(sub, shared)
    add_review_commands(sub, shared)
    add_import_commands(sub, shared)
    return parser


def _role_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", help="base target name (default: config `base`)")
    parser.add_argument("--candidate", help="candidate target name (default: config `candidate`)")
    parser.add_argument(
        "--judge", help="target that scores judged checks (default: config `judge`)"
    )


# Output -----------------------------------------------------------------------------


def _say(text: str, *, error: bool = False) -> None:
    """Print text that may hold outside content (outputs, server messages, names): with
    control characters made visible, so nothing can steer the terminal."""
    from .safe_text import for_terminal

    _write(for_terminal(text), sys.stderr if error else sys.stdout)


def _write(text: str, stream: TextIO) -> None:
    try:
        print(text, file=stream)
    except BrokenPipeError:
        _discard(stream)


def _discard(stream: TextIO) -> None:
    """The reader went away (`tunegate run | head -1`): send the rest of this stream to
    /dev/null, so neither this write nor the flush at exit fails, and the exit code stays
    the verdict's."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError):  # not a real file (a test's capture): nothing to redirect
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _flush_output() -> None:
    # A pipe is block-buffered: a closed reader shows up only when the buffer is flushed.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            _discard(stream)
            stream.flush()  # what was buffered now goes to /dev/null
        except (OSError, ValueError):
            pass


def _tolerant_streams() -> None:
    # A console that cannot show a character (e.g. a Latin-1 terminal) gets an escape,
    # not a UnicodeEncodeError at the end of a paid-for run.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


# Entry point ------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """The command line. With `argv=None` (the `tunegate` command) the process exits with
    the returned code next, so interrupts stay ignored after this returns: a late Ctrl-C
    must not turn a verdict into a -2. Given `argv` (tests, scripts), the signal handlers
    are restored on return."""
    handlers = terminate_as_interrupt()
    try:
        return _main(argv)
    finally:
        _flush_output()
        if argv is None:
            ignore_interrupts()
        else:
            restore(handlers)


def _main(argv: Sequence[str] | None) -> int:
    _tolerant_streams()
    try:
        args = _parser().parse_args(argv)
        if args.command == "schema":
            return _schema(results=args.results)
        from .config import load_project_config

        if args.command in TRAINING_COMMANDS:
            config = load_project_config(args.config) if needs_config(args.command) else None
            return run_training_command(args, config, _say)
        if args.command == "import":
            return run_import_command(args, _say)
        if args.command == "review":
            return run_review_command(args, load_project_config(args.config), _say)
        loaded = load_project_config(args.config)
        if args.command == "validate":
            return _validate(loaded, args)
        return _run(loaded, args)
    except TunegateError as exc:
        _say(f"tunegate: error: {exc}", error=True)
        return exc.exit_code
    except KeyboardInterrupt:
        _say(
            f"tunegate: {stop_reason()}; completed generations are kept in the store",
            error=True,
        )
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


def _schema(*, results: bool) -> int:
    from .results import Results
    from .suite import suite_json_schema

    schema = Results.model_json_schema() if results else suite_json_schema()
    _write(json.dumps(schema, indent=2), sys.stdout)
    return EXIT_PASSED


# validate ---------------------------------------------------------------------------


def _validate(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    """Every problem at once, as pytest lists every broken file: each suite file, the
    roles, every target (those the run would not use only warn), the store path, the
    `contamination:` file."""
    from .execution.evaluation import contaminated_cases
    from .execution.store import store_path_problem
    from .gate import unmatched_default_rules

    problems: list[str] = []
    suites = _validate_suites(loaded, args.suites, problems)
    problems += [
        f"{loaded.locate(where)}: {message}"
        for where, message in unmatched_default_rules(suites, loaded.config.gate)
    ]
    for suite in suites:
        templates = len({c.template_id for c in suite.cases})
        _say(
            f"ok  {SourceLocation(suite.path)}: suite '{suite.name}', {templates} case(s) "
            f"expanding to {len(suite.cases)}"
        )
        for warning in suite.warnings:
            _say(str(warning))
    warnings = _validate_targets(loaded, args, problems, suites)
    store = store_path_problem(loaded.store_path)
    if store is not None:
        problems.append(store)
    try:  # read as `run` reads it, so validate says what run would stop on
        contaminated_cases(loaded)
    except ConfigError as exc:
        problems.append(str(exc))
    for text in warnings:
        _say(f"tunegate: warning: {text}", error=True)
    for problem in problems:
        _say(f"tunegate: error: {problem}", error=True)
    return EXIT_INPUT if problems else EXIT_PASSED


def _validate_suites(loaded: LoadedConfig, given: list[Path], problems: list[str]) -> list[Suite]:
    from .suite import discover_suite_files, load_suite
    from .suite.files import check_suite_arguments

    files: dict[Path, None] = {}  # ordered, each file once
    for path in given or [loaded.resolve(p) for p in loaded.config.suites]:
        try:
            check_suite_arguments([path])
            files.update(dict.fromkeys(discover_suite_files([path])))
        except TunegateError as exc:
            problems.append(str(exc))
    suites: list[Suite] = []
    for file in files:
        try:
            suites.append(load_suite(file))
        except TunegateError as exc:  # the next file may be broken too: say so as well
            problems.append(str(exc))
    problems.extend(_duplicate_names(suites))
    return suites


def _duplicate_names(suites: list[Suite]) -> list[str]:
    """What `load_suites` refuses first, for every pair (suite names key the results)."""
    seen: dict[str, Path] = {}
    problems = []
    for suite in suites:
        if suite.name in seen:
            problems.append(
                f"{SourceLocation(suite.path)}: suite name '{suite.name}' is also used by "
                f"{SourceLocation(seen[suite.name])}; give each suite a unique name"
            )
        seen.setdefault(suite.name, suite.path)
    return problems


def _validate_targets(
    loaded: LoadedConfig, args: argparse.Namespace, problems: list[str], suites: list[Suite]
) -> list[str]:
    """Check the roles as `run` resolves them, then every target: a problem is an error
    for a target the run would use and a warning for any other. Returns the warnings."""
    from .config import undefined_target
    from .execution.runner import pair_method_problem
    from .execution.targets import check_targets

    config = loaded.config
    chosen: dict[str, str | None] = {}
    try:
        chosen["base"], chosen["candidate"] = loaded.roles(args.base, args.candidate)
    except ConfigError as exc:  # no candidate: `run` would stop here
        problems.append(str(exc))
    chosen["judge"] = getattr(args, "judge", None) or config.judge
    for role, name in chosen.items():
        if name is not None and name not in config.targets:
            problems.append(undefined_target(role, name, config))
    warnings: list[str] = []
    for check in check_targets(loaded):
        roles = [r for r in _ROLES if chosen.get(r) == check.name]
        if check.problem is None:
            _say(f"ok  target '{check.name}' ({', '.join([check.provider, *roles])})")
            if roles:
                warnings.extend(check.notes)
            if check.cannot_score is not None and {"base", "candidate"} & set(roles):
                # As `run` would stop on it: the first pair case of each suite says where.
                problems.extend(
                    pair_method_problem(case, check.cannot_score) for case in _scored_pairs(suites)
                )
        elif roles:
            problems.append(check.problem)
        else:
            # `run` builds only the base and the candidate: this one cannot stop it.
            warnings.append(f"{check.problem} (a warning only: not the base, candidate or judge)")
    return warnings


def _scored_pairs(suites: list[Suite]) -> list[Case]:
    """The first pair case of each suite that asks `pair_method: loglikelihood`."""
    firsts = []
    for suite in suites:
        case = next(
            (c for c in suite.cases if c.pair is not None and c.pair_method == "loglikelihood"),
            None,
        )
        if case is not None:
            firsts.append(case)
    return firsts


# run --------------------------------------------------------------------------------


def _run(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    from .api import run

    outcome = run(
        args.suites,
        candidate=args.candidate,
        base=args.base,
        label=args.label,
        config=loaded,
        out=args.out,
        progress=args.progress,
        judge=args.judge,
    )
    # The results are written and the run is recorded: they are the answer now.
    ignore_interrupts()
    return _summary(outcome)


def _summary(outcome: EvaluationOutcome) -> int:
    from .paths import display_path
    from .report import (
        bias_lines,
        error_lines,
        gate_line,
        headline,
        judge_lines,
        summarize_suites,
        unreachable_targets,
        verdict_of,
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
    for line in judge_lines(results):
        _say(line)
    for line in bias_lines(results):
        _say(line)
    stats = results.stats
    shared = f" ({stats.shared} from a concurrent run)" if stats.shared else ""
    _say(f"{stats.calls} model calls, {stats.cached} from the store{shared}, {stats.errors} errors")
    for g in results.gate:
        _say(f"gate {gate_line(g)}")
    coverage = outcome.coverage_line or results.coverage
    if coverage:
        # Said last, beside the verdict, so a selection's verdict is never read as the whole's.
        _say(f"{coverage} (latest-partial, not latest, points at this run)")
    _say(f"{headline(results)}; report: {display_path(outcome.report_path)}")
    for warning in outcome.warnings:
        _say(f"tunegate: warning: {warning}", error=True)
    dead = unreachable_targets(results)
    if verdict_of(results) == "inconclusive" and results.gate_passed and not dead:
        _say(
            "tunegate: warning: the verdict is inconclusive and every undecided rule says "
            "on_inconclusive: warn, so the gate lets the candidate through",
            error=True,
        )
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
