"""The whole flow for one run, shared by the CLI and the pytest plugin.

suites -> jobs -> generations (store) -> scores -> gate -> results.json, report.html, summary.md
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .. import __version__
from ..bias import bias_audit
from ..config import LoadedConfig
from ..errors import ConfigError, InputError, StoreError, TunegateError
from ..gate import effective_gate, evaluate_gate, unmatched_default_rules
from ..paths import display_path
from ..redact import RedactingFilter, Redactor
from ..report import write_report, write_summary
from ..results import (
    Message,
    PairwiseVerdict,
    Record,
    Results,
    RunStatsInfo,
    SuiteInfo,
    TargetInfo,
    coverage_line,
)
from ..safe_text import one_line
from ..stats import BootstrapSettings
from ..suite import Case, Suite, discover_suite_files, load_suite
from .agreement import judge_agreement
from .judge import JudgeRunner, start_judge
from .judge_warnings import judge_warnings
from .pairwise import judge_pairs, summarize_pairs
from .progress import DEFAULT_INTERVAL_S, make_progress
from .runner import JobOutcome, RunnerTarget, make_jobs, run_jobs
from .scoring import NO_JUDGE, record_passed, score_output, weighted_score
from .store import Store
from .targets import build_target

__all__ = ["Coverage", "EvaluationOutcome", "EvaluationRequest", "evaluate", "new_run_id"]

log = logging.getLogger("tunegate")


@dataclass(frozen=True)
class EvaluationRequest:
    suites: Sequence[Suite]
    config: LoadedConfig
    candidate: str
    base: str | None = None
    out_root: Path | None = None
    label: str | None = None
    progress: bool | None = None
    progress_interval: float = DEFAULT_INTERVAL_S
    # (suite, case_id) pairs to run; None runs every case.
    selected: frozenset[tuple[str, str]] | None = None
    # How this door names the out folder option, for the error when it cannot be created.
    out_option: str = "--out"
    # The target that scores judged checks; None: they are reported as skipped.
    judge: str | None = None


@dataclass(frozen=True)
class Coverage:
    """How much of the project a run covers. A partial run's gate speaks for its cases only,
    so it must never pass for the project's verdict (or move `latest`)."""

    selected: int
    total: int | None  # None: a project suite file could not be loaded, so it is unknown
    unloadable: tuple[Path, ...] = ()  # those files (or suites entries that found none)

    @property
    def partial(self) -> bool:
        return self.total is None or self.selected < self.total


@dataclass(frozen=True, repr=False)
class EvaluationOutcome:
    results: Results
    out_dir: Path
    results_path: Path
    report_path: Path
    summary_path: Path
    # Things the user should see beside the verdict (a `latest` tunegate could not move).
    warnings: tuple[str, ...] = ()
    # What a partial run covers, naming the project's suite files that do not load.
    coverage_line: str | None = None

    def __repr__(self) -> str:
        # Short on purpose: Python 3.11's asyncio.run formats the main task's result when it
        # restores the SIGINT handler, and a full repr of every record takes seconds.
        return f"EvaluationOutcome(run_id={self.results.run_id!r}, out_dir={self.out_dir!r})"


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def evaluate(request: EvaluationRequest) -> EvaluationOutcome:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_evaluate(request))
    # Called from inside an event loop (Jupyter, Playwright's sync API): run in a thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _evaluate(request)).result()


def _cases(request: EvaluationRequest) -> list[Case]:
    cases = [c for s in request.suites for c in s.cases]
    if request.selected is not None:
        cases = [c for c in cases if (c.suite, c.id) in request.selected]
    return cases


async def _evaluate(request: EvaluationRequest) -> EvaluationOutcome:
    loaded = request.config
    redactor = Redactor()
    roles: dict[str, RunnerTarget] = {}
    outcome: EvaluationOutcome | None = None
    leaked = contaminated_cases(loaded)  # a bad file stops the run before any call
    check_default_rules(loaded, request.suites)
    try:
        if request.base is not None:
            roles["base"] = build_target(request.base, loaded, redactor)
        roles["candidate"] = (
            roles["base"]
            if request.base == request.candidate
            else build_target(request.candidate, loaded, redactor)
        )
        if request.judge is not None:
            same = [t for t in roles.values() if t.name == request.judge]
            roles["judge"] = same[0] if same else build_target(request.judge, loaded, redactor)
        run_id = new_run_id()
        out_root = request.out_root or loaded.resolve(loaded.config.out)
        out_dir = _make_folder(
            out_root / run_id, f"with {request.out_option} DIR or `out:` in tunegate.yaml"
        )
        store_key = "`store:`" if loaded.config.store else "`out:` (or `store:`)"
        _make_folder(loaded.store_path.parent, f"for the store with {store_key} in tunegate.yaml")
        with _run_log(out_dir / "run.log", redactor), Store(loaded.store_path) as store:
            outcome = await _execute(request, roles, store, run_id, out_dir, redactor, leaked)
    finally:
        await _close_targets(roles, finished=outcome is not None)
    return outcome


async def _close_targets(roles: dict[str, RunnerTarget], *, finished: bool) -> None:
    try:
        for target in _distinct(roles).values():
            await target.provider.aclose()
    except asyncio.CancelledError:
        if not finished:
            raise
        # Ctrl-C or SIGTERM after the results were written and the run recorded as
        # finished: it cuts the clean-up short, but the run's answer stands (exit code
        # included), so the run is not reported as interrupted.
        log.info("interrupted while closing the targets; the run had finished")


async def _execute(
    request: EvaluationRequest,
    roles: dict[str, RunnerTarget],
    store: Store,
    run_id: str,
    out_dir: Path,
    redactor: Redactor,
    leaked: frozenset[tuple[str, str]] = frozenset(),
) -> EvaluationOutcome:
    infos = {role: _target_info(role, t, redactor) for role, t in roles.items()}
    judge_info = infos.pop("judge", None)
    target_infos = list(infos.values())
    generating = {role: t for role, t in roles.items() if role != "judge"}
    coverage = project_coverage(request)
    partial_line = (
        coverage_line(
            coverage.selected,
            coverage.total,
            [one_line(display_path(p)) for p in coverage.unloadable],
        )
        if coverage.partial
        else None
    )
    store.start_run(
        run_id,
        label=request.label,
        targets={i.role: i.model_dump() for i in target_infos},
        suites=[s.name for s in request.suites],
        out_dir=out_dir,
        partial=coverage.partial,
        selected_cases=coverage.selected,
        total_cases=coverage.total,
    )
    log.info(
        "run %s label=%s targets=%s", run_id, request.label, {r: t.name for r, t in roles.items()}
    )
    try:
        if partial_line:
            log.info("%s", partial_line)
        cases = _cases(request)
        jobs = make_jobs(cases, generating)
        outcomes, stats = await run_jobs(
            jobs,
            _distinct(generating),
            store,
            redact=redactor,
            progress=make_progress(request.progress, interval=request.progress_interval),
        )
        judge = await start_judge(roles["judge"], store, redactor) if "judge" in roles else None
        # Scored concurrently: judged checks wait on the judge, bounded by its concurrency.
        records = list(
            await asyncio.gather(*(_record(o, redactor, leaked, judge) for o in outcomes))
        )
        pairwise = await judge_pairs(cases, records, judge)
        agreement = judge_agreement(
            records,
            store.ratings(),
            request.suites,
            pairwise=pairwise,
            defaults=request.config.config.gate,
        )
        statistics = request.config.config.statistics
        settings = BootstrapSettings(resamples=statistics.resamples, seed=statistics.seed)
        audit = bias_audit(request.suites, records, settings)
        gate = evaluate_gate(
            request.suites,
            records,
            defaults=request.config.config.gate,
            settings=settings,
            agreement=agreement,
            bias=audit,
        )
        results = Results(
            run_id=run_id,
            label=request.label,
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            tunegate_version=__version__,
            targets=target_infos,
            suites=[_suite_info(s, request.config) for s in request.suites],
            gate_passed=gate.gate_passed,
            gate=gate.rows,
            verdict=gate.verdict,
            comparisons=gate.comparisons,
            flaky=gate.flaky,
            judge=judge_info,
            judge_warnings=judge_warnings(roles),
            pairwise=pairwise,
            pairwise_summary=summarize_pairs(pairwise, seed=statistics.seed),
            agreement=agreement,
            bias=audit.results,
            stats=RunStatsInfo(
                jobs=stats.jobs,
                calls=stats.calls,
                attempts=stats.attempts,
                cached=stats.cached,
                errors=stats.errors,
                duration_s=round(stats.duration_s, 3),
                shared=stats.shared,
                **_judge_counts(records, pairwise, judge),
            ),
            records=records,
            partial=coverage.partial,
            selected_cases=coverage.selected,
            total_cases=coverage.total,
        )
        results_path = results.write(out_dir)
        report_path = write_report(results, out_dir)
        summary_path = write_summary(results, out_dir, report_path)
        store.add_run_records(run_id, [_history_row(r) for r in records])
        store.finish_run(
            run_id, status="finished", gate_passed=results.gate_passed, verdict=results.verdict
        )
    except BaseException as exc:
        interrupted = isinstance(exc, (KeyboardInterrupt, asyncio.CancelledError))
        with contextlib.suppress(StoreError):  # never hide the original error
            store.finish_run(
                run_id, status="interrupted" if interrupted else "failed", gate_passed=None
            )
        raise
    # `latest` is the project's verdict: only a full run may move it.
    link_warning = _point_link(out_dir, "latest-partial" if coverage.partial else "latest")
    log.info(
        "run %s finished: %d calls, %d from the store, verdict %s",
        run_id,
        stats.calls,
        stats.cached,
        results.verdict,
    )
    warnings = (link_warning,) if link_warning else ()
    return EvaluationOutcome(
        results, out_dir, results_path, report_path, summary_path, warnings, partial_line
    )


def _distinct(roles: dict[str, RunnerTarget]) -> dict[str, RunnerTarget]:
    """Targets by name: base and candidate may be the same target."""
    return {t.name: t for t in roles.values()}


def _target_info(role: str, target: RunnerTarget, redactor: Redactor) -> TargetInfo:
    identity = dict(target.provider.fingerprint())
    return TargetInfo(
        name=target.name,
        role=role,
        provider=str(identity.get("provider", "?")),
        config=redactor.deep(identity),
    )


def _judge_counts(
    records: Sequence[Record], pairwise: Sequence[PairwiseVerdict], judge: JudgeRunner | None
) -> dict[str, int]:
    skipped = sum(s.skipped for r in records for s in r.scores.values())
    skipped += sum(1 for p in pairwise if p.error == NO_JUDGE)
    if judge is None:
        return {"judge_skipped": skipped}
    s = judge.stats
    return {
        "judged": s.checks,
        "judge_cached": s.cached,
        "judge_calls": s.calls,
        "judge_errors": s.errors,
        "judge_skipped": skipped,
    }


async def _record(
    outcome: JobOutcome,
    redact: Redactor,
    leaked: frozenset[tuple[str, str]] = frozenset(),
    judge: JudgeRunner | None = None,
) -> Record:
    job, case, gen = outcome.job, outcome.job.case, outcome.generation
    scores = await score_output(case, gen.text, judge) if gen is not None else {}
    passed = gen is not None and record_passed(list(scores.values()))
    return Record(
        suite=case.suite,
        case_id=case.id,
        template_id=case.template_id,
        vars=case.vars,
        tags=list(case.tags)
        + (
            ["contaminated"]
            if (case.suite, case.id) in leaked and "contaminated" not in case.tags
            else []
        ),
        target=job.target,
        role=job.role,
        sample=job.sample,
        prompt=[Message(role=r, content=redact(c)) for r, c in case.messages],
        rendered_prompt=gen.rendered_prompt if gen else None,
        refusal=bool(gen and gen.refused),
        reference=redact.optional(case.reference),
        context=redact.optional(case.context),
        output=gen.text if gen else None,
        error=outcome.error,
        scores=scores,
        score=weighted_score(list(scores.values())),
        passed=passed,
        cached=outcome.cached,
        latency_s=None if outcome.latency_s is None else round(outcome.latency_s, 4),
        prompt_tokens=gen.prompt_tokens if gen else None,
        completion_tokens=gen.completion_tokens if gen else None,
        logprobs=[(t.token, t.logprob) for t in gen.logprobs] if gen and gen.logprobs else None,
        key=job.key,
        pair_method=(None if case.pair is None else "loglikelihood" if job.scoring else "choice"),
    )


def contaminated_cases(loaded: LoadedConfig) -> frozenset[tuple[str, str]]:
    """The (suite, case id) pairs the config's `contamination:` file lists."""
    name = loaded.config.contamination
    if name is None:
        return frozenset()
    path = loaded.resolve(name)
    fix = "make it with: tunegate contamination --train FILE --write " + name
    if path.exists() and not path.is_file():  # a FIFO or device would block the read
        raise ConfigError(f"contamination: {display_path(path)} is not a regular file; {fix}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        cases = data["cases"]
        return frozenset((str(c["suite"]), str(c["case_id"])) for c in cases)
    except FileNotFoundError:
        raise ConfigError(f"contamination: {display_path(path)} does not exist; {fix}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"contamination: {display_path(path)} is not a file tunegate wrote ({exc}); {fix}"
        ) from None


def _history_row(r: Record) -> dict[str, object]:
    return {
        "suite": r.suite,
        "case_id": r.case_id,
        "target": r.target,
        "role": r.role,
        "sample": r.sample,
        "key": r.key,
        "passed": r.passed,
        "score": r.score,
        "scores": {k: v.model_dump() for k, v in r.scores.items()},
        "error": r.error,
    }


def _suite_info(suite: Suite, loaded: LoadedConfig) -> SuiteInfo:
    try:
        shown = str(suite.path.resolve().relative_to(loaded.root))
    except ValueError:
        shown = str(suite.path)
    return SuiteInfo(
        name=suite.name,
        path=shown,
        description=suite.description,
        cases=len(suite.cases),
        gate=effective_gate(suite, loaded.config.gate).model_dump(exclude_none=True),
        warnings=[str(w) for w in suite.warnings],
    )


@contextlib.contextmanager
def _run_log(path: Path, redactor: Redactor) -> Iterator[None]:
    """run.log for this run. The filter sits on the logger, so records are redacted before
    they reach any handler, including ones the host application (or pytest) attached."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    redacting = RedactingFilter(redactor)
    log.addFilter(redacting)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.removeFilter(redacting)
        handler.close()


def _make_folder(folder: Path, fix: str) -> Path:
    """`folder`, created; an InputError naming the path and `fix` when it cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        blocker = next((p for p in [folder, *folder.parents] if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            reason = f"{display_path(blocker)} is a file, not a folder"
        raise InputError(
            f"{display_path(folder)}: cannot create this folder ({reason}); "
            f"choose a folder you can write to {fix}"
        ) from None
    return folder


def check_default_rules(loaded: LoadedConfig, suites: Sequence[Suite]) -> None:
    """A project default rule that no suite of the project can apply (a check or tag none
    has) is a config error: it would judge nothing. One that only the run's suites lack
    (a selection) simply does not apply to them."""
    if not unmatched_default_rules(suites, loaded.config.gate):
        return
    project: list[Suite] = list(suites)
    for path in _project_suite_files(loaded, unloadable=[]):
        with contextlib.suppress(TunegateError):  # `validate` names unloadable files
            project.append(load_suite(path))
    problems = unmatched_default_rules(project, loaded.config.gate)
    if problems:
        where, message = problems[0]
        raise ConfigError(f"{loaded.locate(where)}: {message}")


def project_coverage(request: EvaluationRequest) -> Coverage:
    """The run's cases against every case of the project's configured suites (and of any
    other suite the run was given). The project's suite files are the ones `tunegate run`
    and `pytest suites/` find (`discover_suite_files`), matched to the run's suites by the
    file they lead to, so a suite reached through a link is not counted twice."""
    counts = {s.path.resolve(): len(s.cases) for s in request.suites}
    unloadable: list[Path] = []
    for path in _project_suite_files(request.config, unloadable):
        real = path.resolve()
        if real in counts:
            continue
        try:
            counts[real] = len(load_suite(path).cases)
        except TunegateError:
            unloadable.append(path)  # not part of this run, and its size cannot be known
    total = None if unloadable else sum(counts.values())
    return Coverage(selected=len(_cases(request)), total=total, unloadable=tuple(unloadable))


def _project_suite_files(loaded: LoadedConfig, unloadable: list[Path]) -> list[Path]:
    """Each configured entry's suite files; an entry that finds none (missing, or a folder
    without suites) goes to `unloadable`: the project cannot run whole, so its size is
    unknown."""
    files: list[Path] = []
    for entry in loaded.config.suites:
        try:
            files.extend(discover_suite_files([loaded.resolve(entry)]))
        except TunegateError:
            unloadable.append(loaded.resolve(entry))
    return files


def _point_link(out_dir: Path, name: str) -> str | None:
    """Point the link `name` beside the run folders at `out_dir`. Only a link is ever
    replaced: a file or folder of that name is the user's, left as it is, and the warning
    returned (and logged) says why the link did not move."""
    link = out_dir.parent / name
    if not link.is_symlink() and link.exists():
        kind = "folder" if link.is_dir() else "file"
        warning = (
            f"{display_path(link)} is a {kind}, not the link tunegate keeps there, so it was "
            f"left as it is and does not point at this run; rename it to let tunegate keep "
            f"{name} up to date"
        )
        log.warning("%s", warning)
        return warning
    # A new link renamed over the old one: never a moment without `latest`, and os.replace
    # fails (rather than replaces) if a folder appeared there meanwhile.
    staged = out_dir.parent / f".{name}.{secrets.token_hex(4)}"
    try:
        os.symlink(out_dir.name, staged)
        os.replace(staged, link)
    except OSError:  # a convenience only (e.g. no symlinks on this file system)
        with contextlib.suppress(OSError):
            staged.unlink()
    return None
