"""What every door says about the judge: who judged, what was skipped, pairwise, agreement.

One set of sentences for the console, summary.md and report.html, so the three never
disagree (plain text: each door makes it safe for its medium).
"""

from __future__ import annotations

from collections import Counter

from ..gate.judged import MIN_JUDGE_RATINGS
from ..results import Agreement, PairwiseSummary, Results

__all__ = ["CONFIGURE_JUDGE", "agreement_line", "judge_lines", "pairwise_line"]

CONFIGURE_JUDGE = (
    "to score them, name a judge target: `judge: NAME` in tunegate.yaml or --judge NAME "
    "(any target: an OpenAI-compatible server, the OpenAI API, a local GGUF); docs/metrics.md"
)


def judge_lines(results: Results) -> list[str]:
    """The judge's part of a run, in sentences; empty when the run has no judged check."""
    stats = results.stats
    lines: list[str] = []
    if results.judge is None:
        if stats.judge_skipped:
            names = _skipped_checks(results)
            lines.append(
                f"{stats.judge_skipped} judged check(s) skipped: no judge configured "
                f"({', '.join(names)}); {CONFIGURE_JUDGE}"
            )
        return lines
    model = results.judge.config.get("model") or results.judge.config.get("model_package")
    lines.append(
        f"judge {results.judge.name}"
        + (f" ({model})" if model else "")
        + f": {stats.judged} verdict(s), {stats.judge_cached} from the store, "
        f"{stats.judge_calls} judge call(s), {stats.judge_errors} without a usable verdict"
    )
    lines += [f"warning: {w}" for w in results.judge_warnings]
    first_error = _first_judge_error(results) if stats.judge_errors else None
    if first_error:
        lines.append(f"judge error (first of {stats.judge_errors}): {first_error}")
    lines += [pairwise_line(s) for s in results.pairwise_summary]
    lines += [agreement_line(a) for a in results.agreement]
    return lines


def _first_judge_error(results: Results) -> str | None:
    from ..metrics import get_metric
    from ..metrics.judging import is_judged

    for r in results.records:
        for name, s in r.scores.items():
            if s.value is None and not s.skipped and is_judged(get_metric(s.metric)):
                return f"{r.suite}/{name} on {r.case_id}: {s.reason}"
    for p in results.pairwise:
        if p.winner is None and p.error and not p.error.startswith("skipped"):
            return f"{p.suite}/{p.check} on {p.case_id}: {p.error}"
    return None


def _skipped_checks(results: Results) -> list[str]:
    counts: Counter[str] = Counter()
    for r in results.records:
        for name, s in r.scores.items():
            if s.skipped:
                counts[f"{r.suite}/{name}"] += 1
    for p in results.pairwise:
        if p.winner is None and p.error and p.error.startswith("skipped"):
            counts[f"{p.suite}/{p.check}"] += 1
    return [f"{name} ×{n}" for name, n in sorted(counts.items())]


def pairwise_line(s: PairwiseSummary) -> str:
    if not s.pairs:
        return f"pairwise {s.suite}/{s.check}: no verdict ({s.errors} pair(s) without one)"
    interval = (
        f" [{s.win_rate_ci[0]:.0%}, {s.win_rate_ci[1]:.0%}]" if s.win_rate_ci is not None else ""
    )
    length = (
        f"; winners were {s.length_bias:+.0f} characters longer on average"
        if s.length_bias is not None
        else ""
    )
    bias = s.position_bias_rate or 0.0
    return (
        f"pairwise {s.suite}/{s.check}: candidate won {s.candidate_wins}, base "
        f"{s.base_wins}, ties {s.ties} of {s.pairs} pair(s); candidate win rate "
        f"{(s.win_rate or 0.0):.0%}{interval}; position bias: {bias:.0%} of pairs changed "
        f"winner when the order was swapped{length}"
        + (f"; {s.errors} pair(s) without a verdict" if s.errors else "")
    )


def agreement_line(a: Agreement) -> str:
    # Ratings that no longer count are said, never silently dropped from n.
    stale = (
        f"; {a.stale} rated output(s) left out: they or their prompt changed since they were "
        "rated (rate the new outputs: tunegate review export)"
        if a.stale
        else ""
    )
    does_not_gate = (
        f"reports only, does not gate: min_judge_agreement needs at least {MIN_JUDGE_RATINGS} "
        "rated outputs"
    )
    if not a.n:
        found = "match this run's outputs" if a.stale else "yet (tunegate review export)"
        return (
            f"agreement {a.suite}/{a.check}: no human ratings {found}"
            + ("" if a.gating else f"; {does_not_gate}")
            + stale
        )
    parts = [f"agreement {a.suite}/{a.check} with people on {a.n} output(s):"]
    if a.raw_agreement is not None:
        ci = a.raw_agreement_ci
        parts.append(
            f"{a.raw_agreement:.0%} agree"
            + (f" [{ci[0]:.0%}, {ci[1]:.0%}]" if ci is not None else "")
        )
    parts.append("kappa " + ("undefined" if a.kappa is None else f"{a.kappa:.2f}"))
    if a.spearman is not None:
        parts.append(f"Spearman {a.spearman:.2f}")
    if not a.gating:
        parts.append(
            does_not_gate
            if a.n < MIN_JUDGE_RATINGS
            else "below min_judge_agreement: reports only, does not gate"
        )
    return " ".join(parts[:1]) + " " + ", ".join(parts[1:]) + stale
