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

Every *.yaml / *.yml file under a configured suites folder is a suite: it is collected, or it
is a collection error that names file:line:col. While any file failed to collect, no model is
called: a gate over the suites that happened to load would pass for the whole.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any, NoReturn

import pytest

from .config import CONFIG_FILE, LoadedConfig, load_project_config
from .errors import ConfigError, SourceLocation, SuiteError, TunegateError
from .execution import EvaluationOutcome, EvaluationRequest, evaluate
from .gate import effective_gate, rule_ids, rule_specs
from .paths import display_path
from .report import CaseComparison, compare_cases, gate_line, headline
from .results import GateResult, Record
from .safe_text import for_terminal, one_line
from .suite import SUITE_SUFFIXES, Case, Suite, load_suite

_config_key = pytest.StashKey[LoadedConfig]()
_outcome_key = pytest.StashKey[EvaluationOutcome]()
_by_case_key = pytest.StashKey[dict[tuple[str, str], CaseComparison]]()
_markers_key = pytest.StashKey[set[str]]()
_suite_names_key = pytest.StashKey[dict[str, Path]]()
_watch_key = pytest.StashKey["_CollectionWatch"]()
# Why nothing was generated although items were selected (collection errors).
_blocked_key = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tunegate", "tunegate suites")
    group.addoption("--tunegate-base", metavar="NAME", help="base target (default: config)")
    group.addoption("--tunegate-candidate", metavar="NAME", help="candidate target")
    group.addoption("--tunegate-out", metavar="DIR", help="folder for run outputs")
    group.addoption("--tunegate-label", metavar="TEXT", help="label for this run")
    group.addoption("--tunegate-config", metavar="FILE", help="tunegate.yaml to use")
    group.addoption(
        "--tunegate-no-progress",
        action="store_true",
        help="no progress output while generating (default: a bar on a terminal, "
        "a line every 10 s elsewhere)",
    )


def _loaded(config: pytest.Config) -> LoadedConfig:
    if _config_key not in config.stash:
        try:
            config.stash[_config_key] = load_project_config(
                config.getoption("tunegate_config"), start=config.rootpath
            )
        except TunegateError as exc:
            raise pytest.UsageError(f"tunegate: {exc}") from None
    return config.stash[_config_key]


def _is_suite_file(file_path: Path, config: pytest.Config) -> bool:
    if file_path.suffix not in SUITE_SUFFIXES or file_path.name == CONFIG_FILE:
        return False
    loaded = _loaded(config)
    roots = [loaded.resolve(p).resolve() for p in loaded.config.suites]
    # A YAML file named on the command line counts too; a folder only if it is a suites root,
    # so fixture YAML under tests/ is never mistaken for a suite.
    given = {Path(a.split("::")[0]).resolve() for a in config.args}
    resolved = file_path.resolve()
    # Every YAML file there is a suite, whatever it holds: one that does not load is a
    # collection error, never silently skipped (a typo in `cases:` must not pass the gate).
    return resolved in given or any(r in resolved.parents for r in roots)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if _is_suite_file(file_path, parent.config):
        return SuiteFile.from_parent(parent, path=file_path)
    return None


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
        for rule_id in rule_ids(rule_specs(gate)):
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


class CaseFailure(Exception):
    """A case the candidate failed; the message is the whole story."""


class _TunegateItem(pytest.Item):
    def _outcome(self) -> EvaluationOutcome:
        blocked = self.config.stash.get(_blocked_key, None)
        if blocked is not None:  # only with --continue-on-collection-errors
            self._not_evaluated(blocked)
        if _outcome_key not in self.config.stash:  # e.g. `-k gate` selected no case
            pytest.skip("no case was selected, so nothing was generated")
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
            pytest.skip("no case of this suite was selected")
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
    ]
    lines.append(f"prompt:    {case.prompt}")
    if case.reference:
        lines.append(f"reference: {case.reference}")
    for role, records in (("base", comp.base), ("candidate", comp.candidate)):
        for r in records:
            lines.append(_record_line(role, r))
    return "\n".join(lines)


def _record_line(role: str, r: Record) -> str:
    head = f"{role} ({r.target})" + (f" sample {r.sample}" if r.sample else "")
    if r.error:
        return f"{head}: ERROR {one_line(r.error)}"
    verdict = (
        "pass"
        if r.passed
        else "FAIL "
        + "; ".join(
            f"{n}: {s.reason or f'value {s.value} < {s.threshold}'}"
            for n, s in r.scores.items()
            if not s.passed
        )
    )
    output = (r.output or "").strip().replace("\n", "\\n")
    if len(output) > 300:
        output = output[:299] + "…"
    return f"{head}: {output!r}\n    -> {verdict}"


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Iterator[None]:
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


def _run_evaluation(session: pytest.Session, items: list[_TunegateItem]) -> None:
    config = session.config
    loaded = _loaded(config)
    suites: dict[str, Suite] = {}
    selected: set[tuple[str, str]] = set()
    for item in items:
        if isinstance(item, CaseItem):
            selected.add((item.case.suite, item.case.id))
            suites.setdefault(item.case.suite, item.parent.suite)  # type: ignore[union-attr]
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
        )
        # Generation happens before any item runs; let its progress bar reach the terminal.
        uncaptured = capture.global_and_fixture_disabled() if capture else nullcontext()
        with uncaptured:
            outcome = evaluate(request)
    except TunegateError as exc:
        pytest.exit(f"tunegate: {for_terminal(str(exc))}", returncode=exc.exit_code)
    config.stash[_outcome_key] = outcome
    config.stash[_by_case_key] = {(c.suite, c.case_id): c for c in compare_cases(outcome.results)}


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    blocked = config.stash.get(_blocked_key, None)
    if blocked is not None:
        terminalreporter.section("tunegate")
        _write(terminalreporter, f"{blocked}; no model was called")
    if _outcome_key not in config.stash:
        return
    outcome = config.stash[_outcome_key]
    results = outcome.results
    tr = terminalreporter
    tr.section("tunegate")
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
    for g in results.gate:
        _write(tr, f"gate {gate_line(g)}")
    stats = results.stats
    _write(tr, f"{stats.calls} model calls, {stats.cached} from the store, {stats.errors} errors")
    if results.coverage:
        _write(tr, f"{results.coverage} (latest-partial, not latest, points at this run)")
    _write(tr, f"{headline(results)}; report: {display_path(outcome.report_path)}")


def _write(reporter: Any, text: str) -> None:
    reporter.write_line(one_line(text))
