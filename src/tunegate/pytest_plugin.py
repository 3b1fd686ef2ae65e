"""pytest integration: `pytest suites/` collects suite files, one item per case.

All model calls for the session run (concurrently, through the store) before
the first item executes; items only read the results. Outcomes follow the gate,
so pytest's exit status is the gate's verdict:

- the candidate passes the case                  -> passed
- it fails, but the suite's gate still passes    -> xfailed (tolerated by min_pass_rate)
- it fails and the suite's gate fails            -> failed
Each suite also gets a `gate` item that states the rule and the measured value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest

from .config import LoadedConfig, load_project_config
from .errors import SuiteError, TunegateError
from .execution import EvaluationOutcome, EvaluationRequest, evaluate
from .paths import display_path
from .report import CaseComparison, compare_cases
from .results import GateResult, Record
from .safe_text import for_terminal, one_line
from .suite import SUITE_SUFFIXES, Case, Suite, load_suite

_config_key = pytest.StashKey[LoadedConfig]()
_outcome_key = pytest.StashKey[EvaluationOutcome]()
_by_case_key = pytest.StashKey[dict[tuple[str, str], CaseComparison]]()
_markers_key = pytest.StashKey[set[str]]()

_SUITE_SHAPE = re.compile(r"^cases\s*:", re.MULTILINE)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tunegate", "tunegate suites")
    group.addoption("--tunegate-base", metavar="NAME", help="base target (default: config)")
    group.addoption("--tunegate-candidate", metavar="NAME", help="candidate target")
    group.addoption("--tunegate-out", metavar="DIR", help="folder for run outputs")
    group.addoption("--tunegate-label", metavar="TEXT", help="label for this run")
    group.addoption("--tunegate-config", metavar="FILE", help="tunegate.yaml to use")


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
    if file_path.suffix not in SUITE_SUFFIXES or file_path.name == "tunegate.yaml":
        return False
    loaded = _loaded(config)
    roots = [loaded.resolve(p).resolve() for p in loaded.config.suites]
    # A YAML file named on the command line counts too; a folder only if it is a suites root,
    # so fixture YAML under tests/ is never mistaken for a suite.
    given = {Path(a.split("::")[0]).resolve() for a in config.args}
    resolved = file_path.resolve()
    if resolved not in given and not any(r in resolved.parents for r in roots):
        return False
    try:
        return bool(_SUITE_SHAPE.search(file_path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError):
        return False


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if _is_suite_file(file_path, parent.config):
        return SuiteFile.from_parent(parent, path=file_path)
    return None


class SuiteFile(pytest.File):
    suite: Suite

    def collect(self) -> Iterator[pytest.Item]:
        self.suite = load_suite(self.path)
        registered = self.config.stash.setdefault(_markers_key, set())
        for case in self.suite.cases:
            item = CaseItem.from_parent(self, name=case.id, case=case)
            for tag in case.tags:
                if tag not in registered:  # so --strict-markers accepts suite tags
                    registered.add(tag)
                    self.config.addinivalue_line("markers", f"{tag}: tunegate tag")
                item.add_marker(tag)
            yield item
        yield GateItem.from_parent(self, name="gate", suite=self.suite)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> str:  # type: ignore[override]
        if isinstance(excinfo.value, SuiteError):
            return for_terminal(str(excinfo.value))
        return str(super().repr_failure(excinfo))


class CaseFailure(Exception):
    """A case the candidate failed; the message is the whole story."""


class _TunegateItem(pytest.Item):
    def _outcome(self) -> EvaluationOutcome:
        if _outcome_key not in self.config.stash:  # e.g. `-k gate` selected no case
            pytest.skip("no case was selected, so nothing was generated")
        return self.config.stash[_outcome_key]

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
        if gate and all(g.passed for g in gate):
            pytest.xfail(one_line(f"{comp.status}; tolerated because {gate[0].detail}"))
        raise CaseFailure(story)


class GateItem(_TunegateItem):
    def __init__(self, *, suite: Suite, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suite = suite

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.suite.name}::gate"

    def runtest(self) -> None:
        gates = [g for g in self._outcome().results.gate if g.suite == self.suite.name]
        if not gates:
            pytest.skip("no case of this suite was selected")
        failed = [g for g in gates if not g.passed]
        if failed:
            raise CaseFailure("\n".join(_gate_line(g) for g in failed))


def _gate_line(g: GateResult) -> str:
    value = "–" if g.value is None else f"{g.value:.1%}"
    return f"gate failed: {g.suite} {g.rule} = {value}, needs {g.threshold:.1%} ({g.detail})"


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
        base, candidate = loaded.roles(
            config.getoption("tunegate_base"), config.getoption("tunegate_candidate")
        )
        if reporter is not None:
            _write(
                reporter,
                f"tunegate: {len(selected)} case(s) from {len(suites)} suite(s); "
                f"base {base or '-'}, candidate {candidate}"
            )
        request = EvaluationRequest(
            suites=list(suites.values()),
            config=loaded,
            base=base,
            candidate=candidate,
            out_root=Path(out) if out else None,
            label=config.getoption("tunegate_label"),
            selected=frozenset(selected),
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
    if _outcome_key not in config.stash:
        return
    outcome = config.stash[_outcome_key]
    results = outcome.results
    tr = terminalreporter
    tr.section("tunegate")
    regressed = [c for c in compare_cases(results) if c.status == "regressed"]
    if regressed:
        _write(tr, f"{len(regressed)} case(s) regressed from base to candidate:")
        for c in regressed[:20]:
            _write(tr, f"  {c.suite}::{c.case_id}  failing {', '.join(c.failing_checks)}")
        if len(regressed) > 20:
            _write(tr, f"  … and {len(regressed) - 20} more (see the report)")
    for g in results.gate:
        mark = "pass" if g.passed else "FAIL"
        value = "–" if g.value is None else f"{g.value:.0%}"
        _write(tr, f"gate {mark}: {g.suite} {g.rule} {value} (needs {g.threshold:.0%})")
    stats = results.stats
    _write(tr,
        f"{stats.calls} model calls, {stats.cached} from the store, {stats.errors} errors"
    )
    _write(tr,
        f"gate {'PASSED' if results.gate_passed else 'FAILED'}; "
        f"report: {display_path(outcome.report_path)}"
    )


def _write(reporter: Any, text: str) -> None:
    reporter.write_line(one_line(text))
