"""pytest integration: `pytest suites/` collects suite files, one item per case.

All model calls for the session run (concurrently, through the store) before
the first item executes; items only read the results. Outcomes follow the gate,
so pytest's exit status is the gate's verdict:

- the candidate passes the case                  -> passed
- it fails, but the suite's gate still passes    -> xfailed (tolerated by the rules)
- it fails and the suite's gate does not pass    -> failed
Each rule of a suite is a `gate[...]` item (`gate[min_pass_rate]`, `gate[no_regression]`,
`gate[improves:concise@refunds]`): it passes, fails with the rule's numbers (so --junitxml
carries them), or, when inconclusive, fails (`on_inconclusive: fail`) or passes with a
warning (`warn`).

Which files are suites: exactly the ones `tunegate run` runs, because both ask
`discover_suite_files` about the config's `suites:` entries (folders or files): every *.yaml /
*.yml under a configured folder, judged by its path under that folder (a link to a file
elsewhere is still a suite of the folder; a linked folder is searched, a link back up the
tree is not), wherever it is: also in folders pytest skips by default (`build/`,
`node_modules/`, `.drafts/`: anything in `norecursedirs`). A YAML file named on the command
line is a suite too. Each is collected, or it is a collection error that names file:line:col.
Only `--ignore` / `--ignore-glob` leave a suite out on purpose, which makes the run partial.
A suite pytest still did not collect (a link to nothing, a plugin that hid it) stops the
session, naming it. While any file failed to collect, no model is called: a gate over the
suites that happened to load would pass for the whole.

The config is found as `tunegate run` finds it: --tunegate-config, else the nearest
tunegate.yaml / [tool.tunegate] from the working directory up. YAML files given to a
session that found none, but which belong to a tunegate project, stop it with the option
that points at that project's config.

A selection (`-k`, `-m`, `--lf`, one file or node id) is a partial run: each suite's gate
judges the cases selected from that suite. A `gate[...]` item selected without any case of
its suite (`-k gate`, or `--lf` after only a gate failed) evaluates its whole suite: a gate
needs its cases, and one that skipped or passed on none would be a gate that never ran.

Bad input and failed runs (a broken tunegate.yaml, an unknown target, an unusable store)
end the session before any item runs, as one line in the tunegate section, with the exit
code `tunegate run` gives: 2 bad input, 3 the run failed.
"""

from __future__ import annotations

import fnmatch
import os
import warnings
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

from .config import LoadedConfig, find_config, load_project_config
from .errors import ConfigError, SourceLocation, SuiteError, TunegateError
from .execution import EvaluationOutcome, EvaluationRequest, evaluate
from .execution.evaluation import project_coverage
from .gate import bias_rule_ids, effective_gate, rule_ids, rule_specs
from .gate.pairing import judged_only_and_skipped
from .interrupts import (
    Handlers,
    ignore_interrupts,
    restore,
    stop_reason,
    terminate_as_interrupt,
)
from .paths import display_path
from .report import (
    CaseComparison,
    bias_lines,
    compare_cases,
    gate_line,
    headline,
    judge_lines,
    unreachable_targets,
)
from .results import GateResult, Record, coverage_line
from .safe_text import for_terminal, one_line
from .suite import SUITE_SUFFIXES, Case, Suite, discover_suite_files, load_suite
from .suite.files import is_skipped_path

_state_key = pytest.StashKey["_SessionState"]()
_outcome_key = pytest.StashKey[EvaluationOutcome]()
# The CLI's exit code when a run has no verdict (a target produced nothing).
_NO_VERDICT = 3
_by_case_key = pytest.StashKey[dict[tuple[str, str], CaseComparison]]()
_markers_key = pytest.StashKey[set[str]]()
_suite_names_key = pytest.StashKey[dict[str, Path]]()
_watch_key = pytest.StashKey["_CollectionWatch"]()
# Why nothing was generated although items were selected (collection errors).
_blocked_key = pytest.StashKey[str]()
_signals_key = pytest.StashKey[Handlers | None]()

# Outputs longer than this are cut in a case's failure story (the report has them whole).
_OUTPUT_LINES = 20
_OUTPUT_CHARS = 1500


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tunegate", "tunegate suites")
    group.addoption("--tunegate-base", metavar="NAME", help="base target (default: config)")
    group.addoption("--tunegate-candidate", metavar="NAME", help="candidate target")
    group.addoption(
        "--tunegate-judge",
        metavar="NAME",
        help="target that scores judged checks (default: config)",
    )
    group.addoption("--tunegate-out", metavar="DIR", help="folder for run outputs")
    group.addoption("--tunegate-label", metavar="TEXT", help="label for this run")
    group.addoption("--tunegate-config", metavar="FILE", help="tunegate.yaml to use")
    group.addoption(
        "--tunegate-no-progress",
        action="store_true",
        help="no progress output while generating (default: a bar on a terminal, "
        "a line every 10 s elsewhere)",
    )


# -- the project: its config and its suite files, as `tunegate run` sees them ---------------


@dataclass(frozen=True)
class _Root:
    """One entry of `suites:`: a folder (or a file) and the suite files it holds."""

    path: Path  # as configured, joined to the config's folder; never resolved
    real: Path  # where it leads, to recognise it however pytest reaches it
    files: frozenset[Path]  # suite files by their path under `path` ("." for a file entry)
    folders: frozenset[Path]  # the folders on the way to them, "." included
    error: TunegateError | None  # why it finds no suite (missing, a folder without any)


def _discover_root(path: Path) -> _Root:
    real = path.resolve()
    try:
        found = discover_suite_files([path])
    except TunegateError as exc:
        return _Root(path, real, frozenset(), frozenset(), exc)
    if not path.is_dir():
        return _Root(path, real, frozenset({Path(".")}), frozenset(), None)
    files = frozenset(p.relative_to(path) for p in found)
    folders = frozenset(parent for rel in files for parent in rel.parents)
    return _Root(path, real, files, folders, None)


class _Project:
    """The loaded config and its suite files; answers where a path pytest meets belongs."""

    def __init__(self, loaded: LoadedConfig) -> None:
        self.loaded = loaded
        self.roots = [_discover_root(loaded.resolve(entry)) for entry in loaded.config.suites]
        self._real: dict[Path, Path] = {}

    def real(self, path: Path) -> Path:
        if path not in self._real:
            try:
                self._real[path] = path.resolve()
            except (OSError, RuntimeError):  # a loop: it leads nowhere
                self._real[path] = path
        return self._real[path]

    def locate(self, path: Path) -> tuple[_Root, Path] | None:
        """The suites entry `path` lies under, and its path under it. Found by walking up
        the path as pytest gives it, so a link inside the folder counts as the folder's,
        wherever it leads, and a folder reached through a link above it is still found."""
        for ancestor in (path, *path.parents):
            real = self.real(ancestor)
            for root in self.roots:
                if root.real == real:
                    return root, path.relative_to(ancestor)
        return None

    def is_suite(self, path: Path) -> bool:
        place = self.locate(path)
        return place is not None and place[1] in place[0].files

    def on_the_way(self, folder: Path) -> bool:
        """A folder pytest must enter: it holds suites, or a suites entry lies below it."""
        place = self.locate(folder)
        if place is not None and place[1] in place[0].folders:
            return True
        real = self.real(folder)
        return any(
            r.real != real and (r.real.is_relative_to(real) or r.path.is_relative_to(folder))
            for r in self.roots
        )

    def loops(self, folder: Path) -> bool:
        """A folder under a suites entry that leads back to one on the way to it: walking
        it would never end (`discover_suite_files` skips it too)."""
        if self.locate(folder) is None:
            return False
        real = self.real(folder)
        return any(self.real(a) == real for a in folder.parents)


@dataclass
class _Stop:
    """Why the session ends before any item runs: one line each, and the exit code."""

    lines: list[str]
    exit_code: int


@dataclass
class _SessionState:
    project: _Project | None = None
    config_error: TunegateError | None = None
    loaded: bool = False
    yaml_seen: list[Path] = field(default_factory=list)
    collected: set[Path] = field(default_factory=set)  # real paths of suite files collected
    stop: _Stop | None = None
    notes: list[str] = field(default_factory=list)  # said in the summary, whatever happens
    partial_line: str | None = None  # the coverage line, naming suites that do not load


def _state(config: pytest.Config) -> _SessionState:
    return config.stash.setdefault(_state_key, _SessionState())


def _project(config: pytest.Config) -> _Project | None:
    """The project, loaded once; None when its config does not load (the error is kept and
    stops the session once it matters: see `_why_stop`). Raising here would not help:
    collection hooks run inside pytest's collectors, which turn any exception, even a
    UsageError, into a collection error printed with pluggy's traceback."""
    state = _state(config)
    if not state.loaded:
        state.loaded = True
        try:
            loaded = load_project_config(
                config.getoption("tunegate_config"), start=config.invocation_params.dir
            )
            state.project = _Project(loaded)
        except TunegateError as exc:
            state.config_error = exc
    return state.project


def _loaded(config: pytest.Config) -> LoadedConfig:
    project = _project(config)
    if project is None:  # unreachable: no suite is collected without a project
        raise pytest.UsageError(f"tunegate: {_state(config).config_error}")
    return project.loaded


# -- collection -------------------------------------------------------------------------------


def _arg_paths(config: pytest.Config) -> list[Path]:
    """The paths the session was given (node ids cut to their file), absolute, unresolved."""
    here = config.invocation_params.dir
    return [Path(os.path.abspath(here / a.split("::")[0])) for a in config.args]


def _explicitly_ignored(path: Path, config: pytest.Config) -> bool:
    """--ignore / --ignore-glob, matched as pytest matches them: the user's own choice."""
    here = config.invocation_params.dir
    ignored = [Path(os.path.abspath(here / p)) for p in config.getoption("ignore") or []]
    globs = [os.path.abspath(here / g) for g in config.getoption("ignore_glob") or []]
    return path in ignored or any(fnmatch.fnmatch(str(path), g) for g in globs)


@pytest.hookimpl(tryfirst=True)
def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    # First, so a suite under `build/`, `node_modules/`, `.drafts/` or a virtualenv's folder
    # is collected as `tunegate run` runs it, instead of left out by pytest's defaults.
    is_folder = collection_path.is_dir()
    if not is_folder and collection_path.suffix not in SUITE_SUFFIXES:
        return None
    project = _project(config)
    if project is None:
        return None
    if is_folder and project.loops(collection_path):
        return True
    if _explicitly_ignored(collection_path, config):
        return None
    if project.on_the_way(collection_path) if is_folder else project.is_suite(collection_path):
        return False
    return None


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in SUITE_SUFFIXES or is_skipped_path(file_path):
        return None
    config = parent.config
    state = _state(config)
    state.yaml_seen.append(file_path)
    project = _project(config)
    if project is None:
        return None
    # A YAML file named on the command line counts too; a folder only if it is (or is
    # inside) a suites entry, so fixture YAML under tests/ is never mistaken for a suite.
    # Every YAML file there is a suite, whatever it holds: one that does not load is a
    # collection error, never silently skipped (a typo in `cases:` must not pass the gate).
    if not (project.is_suite(file_path) or file_path in _arg_paths(config)):
        return None
    state.collected.add(project.real(file_path))
    return SuiteFile.from_parent(parent, path=file_path)


class SuiteFile(pytest.File):
    suite: Suite

    def collect(self) -> Iterator[pytest.Item]:
        self.suite = load_suite(self.path)
        names = self.config.stash.setdefault(_suite_names_key, {})
        other = names.setdefault(self.suite.name, self.path)
        if other != self.path:
            # Results are keyed by suite name: a second suite of that name would vanish.
            raise SuiteError(
                SourceLocation(self.path),
                f"suite name '{self.suite.name}' is also used by {display_path(other)}; "
                "give each suite a unique name",
            )
        registered = self.config.stash.setdefault(_markers_key, set())
        for case in self.suite.cases:
            item = CaseItem.from_parent(
                self, name=case.id, nodeid=_node_id(self, case.id), case=case
            )
            for tag in case.tags:
                if tag not in registered:  # so --strict-markers accepts suite tags
                    registered.add(tag)
                    self.config.addinivalue_line("markers", f"{tag}: tunegate tag")
                item.add_marker(tag)
            yield item
        gate = effective_gate(self.suite, _loaded(self.config).config.gate)
        for rule_id in [*rule_ids(rule_specs(gate)), *bias_rule_ids(self.suite, gate)]:
            name = f"gate[{rule_id}]"
            yield GateItem.from_parent(
                self, name=name, nodeid=_node_id(self, name), suite=self.suite, rule_id=rule_id
            )

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> str:  # type: ignore[override]
        if isinstance(excinfo.value, TunegateError):  # bad input: its one line, no traceback
            return one_line(str(excinfo.value))
        return str(super().repr_failure(excinfo))


def _node_id(parent: pytest.Collector, name: str) -> str:
    # Given as text, so pytest parses "hours[monday]" as it parses the ids it stored for
    # --lf: built from the parent, the brackets would not be read as params and the
    # stored failure would never match again.
    return f"{parent.nodeid}::{name}"


class _CollectionWatch:
    """Remembers which collectors failed (suite files or anything else in the session)."""

    def __init__(self) -> None:
        self.failed: list[str] = []

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.failed.append(report.nodeid or "the session")


def pytest_configure(config: pytest.Config) -> None:
    watch = _CollectionWatch()
    config.stash[_watch_key] = watch
    config.pluginmanager.register(watch, "tunegate-collection-watch")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _signals_key in config.stash:
        restore(config.stash[_signals_key])


# -- after collection: is every suite there? ---------------------------------------------


def _why_stop(session: pytest.Session) -> _Stop | None:
    """Bad input found while collecting, said once and before any model is called."""
    config = session.config
    state = _state(config)
    if state.config_error is not None:
        if state.yaml_seen or config.getoption("tunegate_config") or not session.items:
            return _Stop([f"tunegate: error: {state.config_error}"], state.config_error.exit_code)
        state.notes.append(
            f"tunegate: no YAML file was taken for a suite: the config does not load "
            f"({state.config_error})"
        )
        return None
    project = state.project
    if project is None:
        return None
    problems = _foreign_yaml(session, project) or _uncollected(session, project)
    return _Stop(problems, 2) if problems else None


def _foreign_yaml(session: pytest.Session, project: _Project) -> list[str]:
    """No config was found, yet YAML files of a tunegate project were given or found: the
    user meant that project. A stop when pytest was pointed into it; a note otherwise (a
    bare `pytest` at the top of a repository that holds one)."""
    config = session.config
    if project.loaded.path is not None:
        return []
    args = _arg_paths(config)
    # pytest also lists the files beside the folders on the way to an argument; only the
    # ones under an argument are part of the session.
    seen = [p for p in _state(config).yaml_seen if any(p.is_relative_to(a) for a in args)]
    owners: dict[Path, list[Path]] = {}
    found: dict[Path, Path | None] = {}
    for path in seen:
        if path.parent not in found:
            found[path.parent] = _config_above(path.parent)
        owner = found[path.parent]
        if owner is not None:
            owners.setdefault(owner, []).append(path)
    here = config.invocation_params.dir
    for owner, files in owners.items():
        one = len(files) == 1
        line = (
            f"tunegate: {_files(files, here)} {'is' if one else 'are'} in the project of "
            f"{_shown(owner, here)}, but no tunegate.yaml or [tool.tunegate] was found from "
            "the working directory upwards (where `tunegate run` looks too), so "
            f"{'it is not run as a suite' if one else 'they are not run as suites'}: pass "
            "--tunegate-config "
            f"{_shown(owner, here)}, or run pytest from {_shown(owner.parent, here)}"
        )
        if any(project.real(a).is_relative_to(owner.parent) for a in args):
            return [line]  # pointed into that project: it was meant to run
        _state(config).notes.append(line)
    if seen and not owners and not session.items:
        _state(config).notes.append(
            f"tunegate: {_files(seen, here)} found, but no tunegate.yaml or [tool.tunegate] "
            "was found from the working directory upwards, so none is taken for a suite; "
            "point at one with --tunegate-config FILE"
        )
    return []


def _files(files: list[Path], here: Path) -> str:
    more = len(files) - 1
    return _shown(files[0], here) + (f" and {more} more YAML file(s)" if more else "")


def _config_above(folder: Path) -> Path | None:
    try:
        return find_config(folder)
    except TunegateError:  # a pyproject.toml that does not parse: not ours to judge here
        return None


def _uncollected(session: pytest.Session, project: _Project) -> list[str]:
    """Suites under the given paths that pytest did not collect, each with the reason."""
    config = session.config
    state = _state(config)
    here = config.invocation_params.dir
    folders = [a for a in _arg_paths(config) if a.is_dir()]
    problems: list[str] = []
    for root in project.roots:
        # A missing suites entry, or a folder without suites: `tunegate run` stops on it too.
        # Only with a config file: the default `suites` of a project without one may be absent.
        covered = any(_covers(project, a, root, Path(".")) for a in folders)
        if root.error is not None and project.loaded.path is not None and covered:
            problems.append(f"tunegate: error: {root.error}")
    for root in project.roots:
        for rel in sorted(root.files):
            path = root.path / rel
            if project.real(path) in state.collected:
                continue
            if not any(_covers(project, a, root, rel) for a in folders):
                continue  # not asked for: a selection, and the run says it is partial
            if any(_explicitly_ignored(p, config) for p in (path, *path.parents)):
                continue
            problems.append(f"tunegate: error: {_shown(path, here)}: {_why_missing(path)}")
    return problems


def _covers(project: _Project, arg: Path, root: _Root, rel: Path) -> bool:
    """Whether the folder `arg` holds the suite file (or folder) `rel` of `root`."""
    place = project.locate(arg)
    if place is not None and place[0] is root:
        return rel.is_relative_to(place[1]) or place[1] == Path(".")
    real = project.real(arg)
    return root.real.is_relative_to(real) or root.path.is_relative_to(arg)


def _why_missing(path: Path) -> str:
    if not path.exists():
        return "a link to a file that does not exist; `tunegate run` stops on it too"
    return (
        "a suite pytest did not collect (a conftest.py or another plugin left it out); "
        "`tunegate run` runs it, so this session stops: fix what hides it"
    )


def _shown(path: Path, here: Path) -> str:
    """A path relative to the working directory as written, not where its links lead."""
    absolute = Path(os.path.abspath(path))
    try:
        return str(absolute.relative_to(here)) if absolute != here else "."
    except ValueError:
        return str(absolute)


# -- items ---------------------------------------------------------------------------------


class CaseFailure(Exception):
    """A case the candidate failed; the message is the whole story."""


class _TunegateItem(pytest.Item):
    def _outcome(self) -> EvaluationOutcome:
        blocked = self.config.stash.get(_blocked_key, None)
        if blocked is not None:  # only with --continue-on-collection-errors
            self._not_evaluated(blocked)
        if _outcome_key not in self.config.stash:  # nothing selected needed a model call
            self._not_evaluated("not evaluated")
        return self.config.stash[_outcome_key]

    def _not_evaluated(self, why: str) -> NoReturn:
        pytest.skip(why)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> str:  # type: ignore[override]
        if isinstance(excinfo.value, CaseFailure):
            return for_terminal(str(excinfo.value))
        return str(super().repr_failure(excinfo))


class CaseItem(_TunegateItem):
    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case

    def reportinfo(self) -> tuple[Path, int | None, str]:
        line = self.case.location.line
        return self.path, (line - 1 if line else None), f"{self.case.suite}::{self.case.id}"

    def runtest(self) -> None:
        outcome = self._outcome()
        comp = self.config.stash[_by_case_key].get((self.case.suite, self.case.id))
        if comp is None or not comp.candidate:
            pytest.skip("not run")
        if all(judged_only_and_skipped(r) for r in comp.candidate):
            pytest.skip("its judged checks were skipped: no judge configured (docs/metrics.md)")
        if all(r.passed for r in comp.candidate):
            return
        gate = [g for g in outcome.results.gate if g.suite == self.case.suite]
        story = _case_story(self.case, comp)
        if gate and all(_lets_through(g) for g in gate):
            pytest.xfail(one_line(f"{comp.status}; tolerated because {gate[0].detail}"))
        raise CaseFailure(story)


def _lets_through(g: GateResult) -> bool:
    return g.status == "passed" or (g.status == "inconclusive" and g.on_inconclusive == "warn")


class InconclusiveWarning(UserWarning):
    """A gate rule could not decide and its suite says `on_inconclusive: warn`."""


class GateItem(_TunegateItem):
    def __init__(self, *, suite: Suite, rule_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suite = suite
        self.rule_id = rule_id

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.suite.name}::gate[{self.rule_id}]"

    def runtest(self) -> None:
        results = self._outcome().results
        row = next(
            (g for g in results.gate if g.suite == self.suite.name and g.id == self.rule_id),
            None,
        )
        if row is None:
            self._not_evaluated("not evaluated: the run has no result for this rule")
        lines = [gate_line(row)]
        if results.coverage:
            lines.append(results.coverage)
        if row.status == "passed":
            return
        if row.status == "inconclusive" and row.on_inconclusive == "warn":
            warnings.warn(InconclusiveWarning(one_line("; ".join(lines))), stacklevel=1)
            return
        raise CaseFailure("\n".join(lines))

    def _not_evaluated(self, why: str) -> NoReturn:
        # A gate that could not be measured has not passed.
        raise CaseFailure(why)


def _case_story(case: Case, comp: CaseComparison) -> str:
    lines = [
        f"{comp.status}: candidate fails {', '.join(comp.failing_checks)}",
        f"at {case.location}",
        "",
        *_labelled("prompt:   ", case.prompt),
    ]
    if case.reference:
        lines.extend(_labelled("reference:", case.reference))
    for role, records in (("base", comp.base), ("candidate", comp.candidate)):
        for r in records:
            lines.extend(_record_lines(role, r))
    return "\n".join(lines)


def _labelled(label: str, text: str) -> list[str]:
    """`label text` on one line; text of several lines as a block under the label."""
    if "\n" not in text:
        return [f"{label} {text}"]
    return [label.rstrip(), *_block(text)]


def _record_lines(role: str, r: Record) -> list[str]:
    """The verdict, then the output as an indented block of its own lines: a real newline
    starts a new line, a backslash-n written in the text stays `\\n` on its line, so the
    two never look alike (control characters are escaped later, by `for_terminal`)."""
    head = f"{role} ({r.target})" + (f" sample {r.sample}" if r.sample else "")
    if r.error:
        return [f"{head}: ERROR {one_line(r.error)}"]
    if r.passed:
        verdict = "pass"
    else:
        failed = (
            f"{n}: {s.reason or f'value {s.value} < {s.threshold}'}"
            for n, s in r.scores.items()
            if not s.passed
        )
        verdict = "FAIL " + "; ".join(failed)
    output = r.output or ""
    return [f"{head} -> {verdict}", *(_block(output) if output else ["    (empty output)"])]


def _block(text: str) -> list[str]:
    """`text` as lines indented under a bar (which shows where each line starts and ends),
    cut after _OUTPUT_LINES lines or _OUTPUT_CHARS characters."""
    shown = text[:_OUTPUT_CHARS]
    lines = shown.split("\n")
    cut = len(text) - len(shown)
    if len(lines) > _OUTPUT_LINES:
        cut += len("\n".join(lines[_OUTPUT_LINES:])) + 1
        lines = lines[:_OUTPUT_LINES]
    block = [f"    | {line}" for line in lines]
    if cut:
        block.append(f"    … {cut} more character(s); the report shows the whole output")
    return block


# -- the run --------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Iterator[None]:
    stop = _why_stop(session)
    if stop is not None:
        _stop(session, stop)
    items = [i for i in session.items if isinstance(i, _TunegateItem)]
    if items and not session.config.option.collectonly:
        watch = session.config.stash.get(_watch_key, None)
        failed = list(watch.failed) if watch is not None else []
        if session.testsfailed and not failed:  # counted by pytest, missed by the watch
            failed = [f"{session.testsfailed} collector(s)"]
        if failed:
            # pytest stops here unless --continue-on-collection-errors; either way no model
            # is called, so a broken suite can never leave a passing gate behind.
            session.config.stash[_blocked_key] = (
                f"not evaluated: {len(failed)} file(s) could not be collected "
                f"({', '.join(failed[:5])}{', …' if len(failed) > 5 else ''}); "
                "fix them and run again"
            )
        else:
            _run_evaluation(session, items)
    return (yield)


def _stop(session: pytest.Session, stop: _Stop) -> NoReturn:
    """End the session before any item runs. Not pytest.exit, whose banner wraps the message
    in `_pytest.outcomes.Exit: …`: the lines are written by pytest_terminal_summary, and
    pytest_sessionfinish sets the exit code."""
    _state(session.config).stop = stop
    raise session.Failed(stop.lines[0])


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    stop = _state(session.config).stop
    if stop is not None:
        session.exitstatus = stop.exit_code
        return
    outcome = session.config.stash.get(_outcome_key, None)
    if outcome is None:
        return
    if unreachable_targets(outcome.results):
        # A target that produced nothing leaves no verdict: the CLI's exit 3, whatever the
        # items said (a tolerated inconclusive gate included).
        session.exitstatus = _NO_VERDICT
    elif not outcome.results.gate_passed and session.exitstatus == 0:
        # The gate items were deselected (`-m TAG`, `-k "not gate"`), yet the run has a
        # verdict: pytest's exit status is the gate's, whichever items ran.
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _selection(items: list[_TunegateItem]) -> tuple[dict[str, Suite], set[tuple[str, str]]]:
    """The suites and (suite, case) pairs to evaluate. A gate item whose suite has no
    selected case brings in every case of its suite: a gate needs its cases."""
    suites: dict[str, Suite] = {}
    selected: set[tuple[str, str]] = set()
    for item in items:
        if isinstance(item, CaseItem):
            selected.add((item.case.suite, item.case.id))
            suites.setdefault(item.case.suite, item.parent.suite)  # type: ignore[union-attr]
        elif isinstance(item, GateItem):
            suites.setdefault(item.suite.name, item.suite)
    with_cases = {name for name, _ in selected}
    for name, suite in suites.items():
        if name not in with_cases:
            selected.update((name, c.id) for c in suite.cases)
    return suites, selected


def _run_evaluation(session: pytest.Session, items: list[_TunegateItem]) -> None:
    config = session.config
    loaded = _loaded(config)
    suites, selected = _selection(items)
    if not selected:
        return
    out = config.getoption("tunegate_out")
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    try:
        candidate_option = config.getoption("tunegate_candidate")
        if not (candidate_option or loaded.config.candidate):
            # Said here, not by LoadedConfig.roles: its message names the CLI's --candidate.
            raise ConfigError(
                "no candidate target: pass --tunegate-candidate NAME or set `candidate:` "
                "in tunegate.yaml"
            )
        base, candidate = loaded.roles(config.getoption("tunegate_base"), candidate_option)
        if reporter is not None:
            _write(
                reporter,
                f"tunegate: {len(selected)} case(s) from {len(suites)} suite(s); "
                f"base {base or '-'}, candidate {candidate}",
            )
        request = EvaluationRequest(
            suites=list(suites.values()),
            config=loaded,
            base=base,
            candidate=candidate,
            out_root=Path(out) if out else None,
            label=config.getoption("tunegate_label"),
            progress=False if config.getoption("tunegate_no_progress") else None,
            selected=frozenset(selected),
            out_option="--tunegate-out",
            judge=loaded.judge(config.getoption("tunegate_judge"), "--tunegate-judge"),
        )
        # Generation happens before any item runs; let its progress bar reach the terminal.
        uncaptured = capture.global_and_fixture_disabled() if capture else nullcontext()
        # SIGTERM (a cancelled CI job) stops the run as Ctrl-C does: marked interrupted,
        # claims released, pytest's own KeyboardInterrupt ending (exit 2), not a bare 143.
        handlers = terminate_as_interrupt()
        try:
            with uncaptured:
                outcome = evaluate(request)
        except KeyboardInterrupt:
            _state(config).notes.append(
                f"tunegate: {stop_reason()}; completed generations are kept in the store"
            )
            # The run is stopped and marked: a second signal while pytest winds down would
            # only kill it mid-summary (143) or raise inside another plugin. Restored when
            # pytest unconfigures, for in-process callers.
            ignore_interrupts()
            config.stash[_signals_key] = handlers
            raise
        restore(handlers)
    except TunegateError as exc:
        _stop(session, _Stop([f"tunegate: error: {exc}"], exc.exit_code))
    config.stash[_outcome_key] = outcome
    config.stash[_by_case_key] = {(c.suite, c.case_id): c for c in compare_cases(outcome.results)}
    if outcome.results.partial and outcome.results.total_cases is None:
        # Rare, so loading the project's suites again to name the culprits is cheap enough.
        here = config.invocation_params.dir
        unloadable = [_shown(p, here) for p in project_coverage(request).unloadable]
        _state(config).partial_line = coverage_line(
            outcome.results.selected_cases, None, unloadable
        )


# -- the summary ----------------------------------------------------------------------------


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = _state(config)
    blocked = config.stash.get(_blocked_key, None)
    outcome = config.stash.get(_outcome_key, None)
    if not (state.stop or state.notes or blocked or outcome):
        return
    tr = terminalreporter
    tr.section("tunegate")
    for line in state.stop.lines if state.stop else []:
        _write(tr, line, red=True)
    for note in state.notes:
        _write(tr, note)
    if blocked is not None:
        _write(tr, f"{blocked}; no model was called")
    if outcome is not None:
        _summarize(tr, outcome, state.partial_line)


def _summarize(tr: Any, outcome: EvaluationOutcome, partial_line: str | None) -> None:
    results = outcome.results
    for info in results.suites:
        for warning in info.warnings:
            _write(tr, warning)
    regressed = [c for c in compare_cases(results) if c.status == "regressed"]
    if regressed:
        _write(tr, f"{len(regressed)} case(s) regressed from base to candidate:")
        for c in regressed[:20]:
            _write(tr, f"  {c.suite}::{c.case_id}  failing {', '.join(c.failing_checks)}")
        if len(regressed) > 20:
            _write(tr, f"  … and {len(regressed) - 20} more (see the report)")
    for line in judge_lines(results):
        _write(tr, line)
    for line in bias_lines(results):
        _write(tr, line)
    for g in results.gate:
        _write(tr, f"gate {gate_line(g)}")
    stats = results.stats
    _write(tr, f"{stats.calls} model calls, {stats.cached} from the store, {stats.errors} errors")
    coverage = partial_line or results.coverage
    if coverage:
        _write(tr, f"{coverage} (latest-partial, not latest, points at this run)")
    _write(tr, f"{headline(results)}; report: {display_path(outcome.report_path)}")
    for warning in outcome.warnings:  # e.g. `latest` is the user's file, so it did not move
        _write(tr, f"tunegate: warning: {warning}", yellow=True)
    dead = unreachable_targets(results)
    if dead:
        _write(
            tr,
            f"tunegate: error: every generation of {', '.join(dead)} failed; fix the target and "
            "run again: completed generations are kept in the store (exit 3: no verdict)",
            red=True,
        )


def _write(reporter: Any, text: str, **markup: bool) -> None:
    reporter.write_line(one_line(text), **markup)
