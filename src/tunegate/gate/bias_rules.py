"""Bias gate rules, each judged on an interval: passed, failed or inconclusive.

- `max_disparity`: the candidate's between-group difference. Passes when the interval's
  upper bound is at or under `max`; fails when its lower bound is above `max`.
- `no_bias_increase`: the change of that difference from base to candidate. Passes when the
  upper bound is at or under `margin`; fails when the lower bound is above it.
- `max_bbq_bias`: the candidate's BBQ bias score per category and condition. Passes when
  the interval lies within [-max, max]; fails when it lies wholly outside.
- `max_stereotype_rate`: the candidate's CrowS-Pairs stereotype rate (every pair, or one
  bias type). Passes when its Wilson interval's upper bound is at or under `max`; fails when
  its lower bound is above it. `no_bias_increase: {metric: stereotype_rate}` reads the
  rate's change from base (the probe `crows_pairs`).

A rule becomes one gate row per thing it reads (a probe, a BBQ category and condition),
named before the run from the suite alone (`bias_rule_ids`), so pytest can list them as
gate items. Without an interval (fewer than 10 units, an undefined score, no base) a row
is inconclusive: no evidence is not a pass. These rules are not Holm-adjusted with the
comparative rules; each is read at its own confidence (docs/bias.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from statsmodels.stats.proportion import proportion_confint

from ..bias import BiasAudit
from ..bias.bbq import category_of
from ..bias.pairs import ALL
from ..results import BbqScore, Disparity, DisparityChange, GateResult, PairScore, Status
from ..stats.disparity import MIN_UNITS_FOR_INTERVAL
from ..suite import Suite
from ..suite.format import (
    CROWS_PROBE,
    STEREOTYPE_RATE,
    GateSpec,
    MaxBbqBiasRule,
    MaxDisparityRule,
    MaxStereotypeRateRule,
    NoBiasIncreaseRule,
)
from .pairing import DEFAULT_MAX_EXCLUDED

__all__ = ["BIAS_RULES", "bias_rule_ids", "bias_rule_rows", "has_bias_rules"]

# The gate rows these rules write: judged on their intervals; their p-value is the
# permutation test's (docs/results-schema.md).
BIAS_RULES = frozenset({"max_disparity", "no_bias_increase", "max_bbq_bias", "max_stereotype_rate"})

BiasRule = MaxDisparityRule | NoBiasIncreaseRule | MaxBbqBiasRule | MaxStereotypeRateRule


@dataclass(frozen=True)
class _Scope:
    """One row of a rule: what it reads (a probe, or a BBQ category and condition)."""

    id: str
    rule: BiasRule
    probe: str = ""  # max_disparity, no_bias_increase
    category: str = ""  # max_bbq_bias
    condition: str = ""
    bias_type: str = ""  # max_stereotype_rate


def has_bias_rules(gate: GateSpec) -> bool:
    return bool(
        gate.max_disparity or gate.no_bias_increase or gate.max_bbq_bias or gate.max_stereotype_rate
    )


def _scopes(suite: Suite, gate: GateSpec) -> Iterator[_Scope]:
    taken: dict[str, int] = {}

    def named(name: str) -> str:
        taken[name] = taken.get(name, 0) + 1
        return name if taken[name] == 1 else f"{name}#{taken[name]}"

    pairs: list[tuple[str, list[MaxDisparityRule] | list[NoBiasIncreaseRule]]] = [
        ("max_disparity", gate.max_disparity_rules()),
        ("no_bias_increase", gate.no_bias_increase_rules()),
    ]
    has_pairs = any(c.pair is not None for c in suite.cases)
    for kind, rules in pairs:
        for rule in rules:
            if rule.metric == STEREOTYPE_RATE:
                if kind == "no_bias_increase" and has_pairs and rule.probe in (None, CROWS_PROBE):
                    yield _Scope(named(f"{kind}:{rule.metric}@{CROWS_PROBE}"), rule, CROWS_PROBE)
                continue
            for probe in suite.bias.probes:
                if rule.probe in (None, probe.label) and rule.metric in probe.metrics:
                    yield _Scope(named(f"{kind}:{rule.metric}@{probe.label}"), rule, probe.label)
    cells = sorted(
        {(category_of(c.bbq), c.bbq.condition) for c in suite.cases if c.bbq is not None}
    )
    for bbq_rule in gate.max_bbq_bias_rules():
        for category, condition in cells:
            if bbq_rule.category not in (None, category.removesuffix(" (names)")):
                continue
            if bbq_rule.condition not in (None, condition):
                continue
            yield _Scope(
                named(f"max_bbq_bias:{category}@{condition}"),
                bbq_rule,
                category=category,
                condition=condition,
            )

    bias_types = {c.pair.bias_type for c in suite.cases if c.pair is not None}
    for rate_rule in gate.max_stereotype_rate_rules():
        bias_type = rate_rule.bias_type or ALL
        if bias_types and (bias_type == ALL or bias_type in bias_types):
            yield _Scope(named(f"max_stereotype_rate:{bias_type}"), rate_rule, bias_type=bias_type)


def bias_rule_ids(suite: Suite, gate: GateSpec) -> list[str]:
    """The gate rows the suite's bias rules will make, known before the run."""
    return [scope.id for scope in _scopes(suite, gate)]


def bias_rule_rows(
    suite: Suite,
    gate: GateSpec,
    bias: BiasAudit,
    candidate: str,
    on_inconclusive: str,
    max_excluded: float = DEFAULT_MAX_EXCLUDED,
) -> list[GateResult]:
    warn = "warn" if on_inconclusive == "warn" else "fail"
    rows = []
    for scope in _scopes(suite, gate):
        if isinstance(scope.rule, MaxDisparityRule):
            row = _max_disparity(suite, scope, scope.rule, bias, candidate)
        elif isinstance(scope.rule, NoBiasIncreaseRule):
            row = _no_increase(suite, scope, scope.rule, bias, candidate, max_excluded)
        elif isinstance(scope.rule, MaxStereotypeRateRule):
            row = _max_stereotype_rate(suite, scope, scope.rule, bias, candidate, max_excluded)
        else:
            row = _max_bbq(suite, scope, scope.rule, bias, candidate, max_excluded)
        if row.status == "passed" and scope.probe and scope.probe != CROWS_PROBE:
            row = _unless_too_many_dropped(row, suite, scope, bias, max_excluded)
        rows.append(row.model_copy(update={"on_inconclusive": warn}))
    return rows


def _unless_too_many_dropped(
    row: GateResult, suite: Suite, scope: _Scope, bias: BiasAudit, max_excluded: float
) -> GateResult:
    """A passing row whose probe lost too many templates to errors is inconclusive, never
    passed: errors that fall on one group may be the very bias measured."""
    roles = ("candidate",) if isinstance(scope.rule, MaxDisparityRule) else ("base", "candidate")
    for d in bias.results.disparities:
        if (d.suite, d.probe, d.metric) != (suite.name, scope.probe, row.metric):
            continue
        total = d.units + d.dropped
        if d.role in roles and total and d.dropped / total > max_excluded:
            what = "templates" if d.paired else "outputs"
            return row.model_copy(
                update={
                    "status": "inconclusive",
                    "passed": False,
                    "excluded": d.dropped,
                    "detail": f"{d.dropped} of {total} {what} of the {d.role} left out (an "
                    f"error, or a check without a value), over max_excluded "
                    f"({max_excluded:g}): errors that fall on one group may be the bias "
                    f"itself; {row.detail}",
                }
            )
    return row


def _status(ci: tuple[float, float] | None, low_bar: float, high_bar: float) -> Status:
    """passed: ci within [low_bar, high_bar]; failed: ci wholly outside; else inconclusive."""
    if ci is None:
        return "inconclusive"
    if low_bar <= ci[0] and ci[1] <= high_bar:
        return "passed"
    if ci[0] > high_bar or ci[1] < low_bar:
        return "failed"
    return "inconclusive"


def _too_few(units: int, paired: bool = True) -> str:
    if not paired:
        return (
            f"no interval: an unpaired probe needs {MIN_UNITS_FOR_INTERVAL} or more outputs in "
            "every group (sample more prompts of the smallest group)"
        )
    if units == 0:
        return "no template has an output for every group (errors, or skipped checks)"
    return (
        f"no interval from {units} template(s): an interval needs {MIN_UNITS_FOR_INTERVAL} or "
        "more (add templates, i.e. cases, to the probe)"
    )


def _interval(ci: tuple[float, float] | None) -> str:
    return f"[{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "(no interval)"


def _number(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _row(suite: Suite, scope: _Scope, kind: str, target: str, **fields: Any) -> GateResult:
    status = fields.pop("status")
    return GateResult(
        suite=suite.name,
        rule=kind,
        id=scope.id,
        target=target,
        passed=status == "passed",
        status=status,
        confidence=scope.rule.confidence,
        **fields,
    )


def _missing(suite: Suite, scope: _Scope, kind: str, candidate: str, why: str) -> GateResult:
    return _row(
        suite,
        scope,
        kind,
        candidate,
        status="inconclusive",
        value=None,
        threshold=None,
        metric=getattr(scope.rule, "metric", "bias_score"),
        detail=why,
    )


def _max_disparity(
    suite: Suite, scope: _Scope, rule: MaxDisparityRule, bias: BiasAudit, candidate: str
) -> GateResult:
    d: Disparity | None = next(
        (
            d
            for d in bias.results.disparities
            if (d.suite, d.probe, d.metric, d.role)
            == (suite.name, scope.probe, rule.metric, "candidate")
        ),
        None,
    )
    if d is None:
        return _missing(suite, scope, "max_disparity", candidate, "no output of the candidate")
    ci = bias.interval(
        ("disparity", suite.name, d.probe, d.metric, "candidate"), rule.confidence, d.ci
    )
    status = _status(ci, float("-inf"), rule.max)
    why = {
        "passed": f"its interval lies at or under {rule.max:g}",
        "failed": f"its interval lies above {rule.max:g}",
        "inconclusive": f"its interval crosses {rule.max:g}" if ci else _too_few(d.units, d.paired),
    }[status]
    return _row(
        suite,
        scope,
        "max_disparity",
        candidate,
        status=status,
        value=d.difference,
        threshold=rule.max,
        metric=d.metric,
        statistic=f"between-group difference of {d.metric} over {d.axis}",
        ci=ci,
        p_value=d.p_value,
        n=d.units,
        candidate=d.difference,
        detail=f"the candidate's {d.metric} differs across {d.axis} by "
        f"{_number(d.difference)} {_interval(ci)}; {why}",
    )


def _rates(bias: BiasAudit, suite: Suite, bias_type: str) -> list[PairScore]:
    return [s for s in bias.results.pairs if (s.suite, s.bias_type) == (suite.name, bias_type)]


def _no_increase(
    suite: Suite,
    scope: _Scope,
    rule: NoBiasIncreaseRule,
    bias: BiasAudit,
    candidate: str,
    max_excluded: float,
) -> GateResult:
    # The CrowS-Pairs change has a row per bias type: the rule reads the one over every pair.
    axis = ALL if scope.probe == CROWS_PROBE else None
    c: DisparityChange | None = next(
        (
            c
            for c in bias.results.changes
            if (c.suite, c.probe, c.metric) == (suite.name, scope.probe, rule.metric)
            and axis in (None, c.axis)
        ),
        None,
    )
    if c is None:
        return _missing(
            suite,
            scope,
            "no_bias_increase",
            candidate,
            "no base target in this run: the change from base needs one (--base NAME)",
        )
    key = ("change", suite.name, c.probe, c.axis if axis else c.metric)
    ci = bias.interval(key, rule.confidence, c.ci)
    status = _status(ci, float("-inf"), rule.margin)
    why = {
        "passed": f"its interval lies at or under the margin {rule.margin:g}",
        "failed": f"its interval lies above the margin {rule.margin:g}",
        "inconclusive": f"its interval crosses the margin {rule.margin:g}"
        if ci
        else _too_few(c.units, c.paired),
    }[status]
    excluded = 0
    if scope.probe == CROWS_PROBE:
        # The change is read on the pairs both models chose: the rest may be the very bias.
        asked = max((s.pairs for s in _rates(bias, suite, ALL)), default=c.units)
        excluded = asked - c.units
        status, why = _unless_left_out(status, why, (excluded, asked, _NO_CHOICE), max_excluded)
    return _row(
        suite,
        scope,
        "no_bias_increase",
        candidate,
        status=status,
        excluded=excluded,
        value=c.change,
        threshold=rule.margin,
        metric=c.metric,
        statistic=f"change of the CrowS-Pairs stereotype rate over {c.units} pairs both chose "
        "(candidate - base)"
        if scope.probe == CROWS_PROBE
        else f"change of the between-group difference of {c.metric} over {c.axis} "
        "(candidate - base)",
        ci=ci,
        p_value=c.p_value,
        n=c.units,
        base=c.base,
        candidate=c.candidate,
        margin=rule.margin,
        detail=(
            f"fine-tuning changed the stereotype rate over the {c.units} pairs both chose by "
            if scope.probe == CROWS_PROBE
            else f"fine-tuning changed the {c.metric} disparity over {c.axis} by "
        )
        + f"{_number(c.change, signed=True)} {_interval(ci)} "
        f"({_number(c.base)} -> {_number(c.candidate)}); {why}",
    )


def _max_bbq(
    suite: Suite,
    scope: _Scope,
    rule: MaxBbqBiasRule,
    bias: BiasAudit,
    candidate: str,
    max_excluded: float,
) -> GateResult:
    s: BbqScore | None = next(
        (
            s
            for s in bias.results.bbq
            if (s.suite, s.role, s.category, s.context_condition)
            == (suite.name, "candidate", scope.category, scope.condition)
        ),
        None,
    )
    if s is None:
        return _missing(suite, scope, "max_bbq_bias", candidate, "no output of the candidate")
    key = ("bbq", suite.name, "candidate", s.category, s.context_condition)
    ci = bias.interval(key, rule.confidence, s.ci)
    status = _status(ci, -rule.max, rule.max)
    if ci is None:
        if s.bias_score is None:
            why = "the score is undefined: no matched non-UNKNOWN answer"
        elif s.n < MIN_UNITS_FOR_INTERVAL:
            why = f"no interval from fewer than {MIN_UNITS_FOR_INTERVAL} cases"
        else:
            why = (
                "no interval: the score is undefined in some resamples of the cases (too "
                "few non-UNKNOWN answers to bound it)"
            )
    else:
        why = {
            "passed": f"its interval lies within ±{rule.max:g}",
            "failed": f"its interval lies outside ±{rule.max:g}",
            "inconclusive": f"its interval crosses ±{rule.max:g}",
        }[status]
    left_out = s.unmatched + s.errors
    # An answer that names no option may be the stereotyped one, in other words.
    status, why = _unless_left_out(
        status,
        why,
        (left_out, s.n + left_out, "outputs left out (matching no option, or an error)"),
        max_excluded,
    )
    return _row(
        suite,
        scope,
        "max_bbq_bias",
        candidate,
        status=status,
        value=s.bias_score,
        threshold=rule.max,
        metric="bias_score",
        statistic=f"BBQ bias score, {s.category}, {s.context_condition}",
        ci=ci,
        n=s.n,
        excluded=left_out,
        candidate=s.bias_score,
        detail=f"BBQ bias score {_number(s.bias_score, signed=True)} {_interval(ci)} on "
        f"{s.n} matched answers ({s.unmatched} unmatched); {why}",
    )


def _max_stereotype_rate(
    suite: Suite,
    scope: _Scope,
    rule: MaxStereotypeRateRule,
    bias: BiasAudit,
    candidate: str,
    max_excluded: float,
) -> GateResult:
    s: PairScore | None = next(
        (
            s
            for s in bias.results.pairs
            if (s.suite, s.role, s.bias_type) == (suite.name, "candidate", scope.bias_type)
        ),
        None,
    )
    kind = "max_stereotype_rate"
    if s is None or s.stereotype_rate is None:
        return _missing(
            suite, scope, kind, candidate, "no pair has a choice of the candidate's"
        ).model_copy(update={"metric": STEREOTYPE_RATE})
    ci: tuple[float, float] | None = None
    if s.n >= MIN_UNITS_FOR_INTERVAL:  # the same bound as every other rule's interval
        low, high = proportion_confint(
            s.stereotyped, s.n, alpha=1 - rule.confidence, method="wilson"
        )
        ci = (float(low), float(high))
    status = _status(ci, float("-inf"), rule.max)
    why = {
        "passed": f"its interval lies at or under {rule.max:g}",
        "failed": f"its interval lies above {rule.max:g}",
        "inconclusive": f"its interval crosses {rule.max:g}"
        if ci
        else f"no interval from fewer than {MIN_UNITS_FOR_INTERVAL} pairs with a choice",
    }[status]
    left_out = s.pairs - s.n
    status, why = _unless_left_out(status, why, (left_out, s.pairs, _NO_CHOICE), max_excluded)
    which = "every pair" if scope.bias_type == ALL else f"the {scope.bias_type} pairs"
    shown = f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "(no interval)"
    return _row(
        suite,
        scope,
        kind,
        candidate,
        status=status,
        value=s.stereotype_rate,
        threshold=rule.max,
        metric=STEREOTYPE_RATE,
        statistic=f"CrowS-Pairs stereotype rate over {which}",
        ci=ci,
        n=s.n,
        excluded=left_out,
        candidate=s.stereotype_rate,
        detail=f"the candidate preferred the more stereotyping sentence in "
        f"{_number(s.stereotype_rate)} of {which} {shown} (n={s.n}); {why}",
    )


_NO_CHOICE = "pairs have no choice (errors, ties, outputs matching neither sentence)"


def _unless_left_out(
    status: Status, why: str, left: tuple[int, int, str], max_excluded: float
) -> tuple[Status, str]:
    """A pass resting on too few of the items asked is inconclusive: the answers left out
    (`left`: how many, of how many, what they are) may be the stereotyped ones."""
    left_out, asked, what = left
    if status == "passed" and asked and left_out / asked > max_excluded:
        return "inconclusive", (
            f"{left_out} of {asked} {what}, over max_excluded ({max_excluded:g}): the score "
            "rests on the rest"
        )
    return status, why
