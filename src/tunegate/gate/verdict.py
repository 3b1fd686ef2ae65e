"""Gate rules evaluated with their statistics: passed, failed or inconclusive.

- `min_pass_rate`: the candidate's pass rate (mean of per-case pass shares) against a
  threshold; absolute, candidate only.
- `no_regression`: non-inferiority. Passes when the lower bound of the two-sided interval
  of (candidate - base) at `confidence` is above -margin; fails when the upper bound is
  below -margin; otherwise inconclusive.
- `improves`: superiority. Passes when the lower bound is above 0; fails when the upper
  bound is at or below 0 (the interval rules out any improvement); otherwise inconclusive.

With several comparative rules in a suite, their one-sided p-values (for "difference <=
-margin", resp. "<= 0") are Holm-adjusted, and a rule passes only when its adjusted p-value
is below its one-sided alpha, (1 - confidence) / 2. With one rule that is exactly "the lower
bound clears the bar".

A rule whose scope has too many unusable cases (errors on either side) is inconclusive,
never passed: an outage is not evidence. So is one with no case at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from statsmodels.stats.multitest import multipletests

from ..results import Record
from ..stats import (
    BootstrapSettings,
    PairedDifference,
    paired_difference,
    power_for_margin,
    wilson_interval,
)
from .pairing import PASS_RATE, PairedCases, pair_cases

__all__ = ["RuleOutcome", "RuleSpec", "Status", "evaluate_rules"]

Status = Literal["passed", "failed", "inconclusive"]
# Below this many paired cases no comparative rule decides. A bootstrap of a handful of cases
# is far too sure of itself, and Newcombe's interval, good from about ten cases, lets two
# discordant cases out of two "prove" an improvement (exact McNemar p = 0.5): with no true
# difference, `improves` would pass 25% of the time at n = 2, 12.5% at n = 3.
MIN_PAIRED_CASES = 10
RuleKind = Literal["min_pass_rate", "no_regression", "improves"]


@dataclass(frozen=True)
class RuleSpec:
    kind: RuleKind
    metric: str = PASS_RATE
    tags: tuple[str, ...] = ()
    threshold: float = 1.0  # min_pass_rate
    margin: float = 0.05  # no_regression
    confidence: float = 0.95

    @property
    def bar(self) -> float | None:
        """The value the statistic is compared with."""
        if self.kind == "min_pass_rate":
            return self.threshold
        return -self.margin if self.kind == "no_regression" else 0.0


@dataclass(frozen=True)
class RuleOutcome:
    suite: str
    spec: RuleSpec
    status: Status
    statistic: str
    value: float | None
    ci: tuple[float, float] | None
    p_value: float | None
    adjusted_p_value: float | None
    n: int
    excluded: int
    base: float | None = None
    contaminated: int = 0
    candidate: float | None = None
    detectable: float | None = None
    cases_needed: int | None = None
    detail: str = ""
    # How many comparative rules of the suite were Holm-adjusted together.
    adjusted_with: int = 1


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%".replace(".0%", "%")


def _signed(value: float, metric: str) -> str:
    return f"{value * 100:+.1f}" if metric == PASS_RATE else f"{value:+.3f}"


def _too_many_excluded(
    paired: PairedCases, max_excluded: float, side: str = "base or candidate"
) -> str | None:
    if paired.in_scope == 0:
        return "no case is in this rule's scope"
    failed = f"errored or could not be scored on {side}"
    if paired.n == 0:
        return f"all {paired.in_scope} case(s) {failed}"
    if paired.excluded_share > max_excluded:
        if len(paired.excluded) / paired.in_scope > max_excluded:
            what = f"{len(paired.excluded)} of {paired.in_scope} case(s)"
        else:
            what = f"{paired.samples_excluded} of {paired.samples} sample(s)"
        return f"{what} {failed}, more than the {_pct(max_excluded)} a verdict allows"
    return None


def _min_pass_rate(
    suite: str, spec: RuleSpec, records: Sequence[Record], max_excluded: float
) -> RuleOutcome:
    # Candidate-only: a case needs a usable candidate sample, not a base one.
    cand_only = _candidate_only(records, suite, spec)
    problem = _too_many_excluded(cand_only, max_excluded, "the candidate")
    rate = float(cand_only.candidate.mean()) if cand_only.n else None
    ci = None
    if cand_only.n and set(cand_only.candidate.tolist()) <= {0.0, 1.0}:
        ci = wilson_interval(int(cand_only.candidate.sum()), cand_only.n, spec.confidence)
    if problem is not None or rate is None:
        status: Status = "inconclusive"
        detail = problem or "no usable candidate sample"
    else:
        status = "passed" if rate >= spec.threshold else "failed"
        detail = (
            f"candidate pass rate {_pct(rate)} over {cand_only.n} case(s); "
            f"the suite requires {_pct(spec.threshold)}"
        )
        if cand_only.contaminated:
            detail += f" ({len(cand_only.contaminated)} contaminated case(s) left out)"
    return RuleOutcome(
        suite=suite,
        spec=spec,
        status=status,
        statistic="candidate pass rate",
        value=rate,
        ci=ci,
        p_value=None,
        adjusted_p_value=None,
        n=cand_only.n,
        excluded=len(cand_only.excluded),
        contaminated=len(cand_only.contaminated),
        candidate=rate,
        detail=detail,
    )


def _candidate_only(records: Sequence[Record], suite: str, spec: RuleSpec) -> PairedCases:
    # Pair the candidate with itself: a case counts when the candidate has a usable sample.
    mine = [r for r in records if r.role == "candidate"]
    mirrored = [*mine, *(r.model_copy(update={"role": "base"}) for r in mine)]
    return pair_cases(mirrored, suite=suite, metric=spec.metric, tags=spec.tags)


def _comparative(
    suite: str,
    spec: RuleSpec,
    records: Sequence[Record],
    max_excluded: float,
    settings: BootstrapSettings,
) -> RuleOutcome:
    paired = pair_cases(records, suite=suite, metric=spec.metric, tags=spec.tags)
    bar = -spec.margin if spec.kind == "no_regression" else 0.0
    statistic = (
        "difference in pass rate (candidate - base)"
        if spec.metric == PASS_RATE
        else f"difference in mean {spec.metric} (candidate - base)"
    )
    problem = _too_many_excluded(paired, max_excluded)
    if problem is not None and paired.contaminated:
        problem += f" ({len(paired.contaminated)} contaminated case(s) left out)"
    if problem is not None:
        return RuleOutcome(
            suite, spec, "inconclusive", statistic, None, None, None, None,
            paired.n, len(paired.excluded), contaminated=len(paired.contaminated),
            detail=problem,
        )  # fmt: skip
    pd = paired_difference(
        paired.base, paired.candidate, shares=paired.binary_samples, settings=settings
    )
    if pd.n < MIN_PAIRED_CASES and not _clearly_failed(pd, spec):
        return RuleOutcome(
            suite, spec, "inconclusive", statistic, pd.estimate, None, None, None,
            pd.n, len(paired.excluded), base=pd.base_mean, candidate=pd.candidate_mean,
            contaminated=len(paired.contaminated),
            detail=f"{pd.n} paired case(s) are too few for a comparative rule "
            f"(it needs at least {MIN_PAIRED_CASES})",
        )  # fmt: skip
    low, high = pd.interval(spec.confidence)
    p = pd.p_greater(bar)
    outcome = RuleOutcome(
        suite=suite,
        spec=spec,
        status="inconclusive",  # decided once every rule's p-value is known (Holm)
        statistic=statistic,
        value=pd.estimate,
        ci=(low, high),
        p_value=p,
        adjusted_p_value=p,
        n=paired.n,
        excluded=len(paired.excluded),
        contaminated=len(paired.contaminated),
        base=pd.base_mean,
        candidate=pd.candidate_mean,
    )
    if spec.kind == "no_regression":
        power = power_for_margin(
            pd.differences,
            binary=pd.method == "newcombe-mcnemar",
            margin=spec.margin,
            confidence=spec.confidence,
        )
        outcome = replace(outcome, detectable=power.detectable, cases_needed=power.cases_needed)
    return outcome


def _clearly_failed(pd: PairedDifference, spec: RuleSpec) -> bool:
    """Below the case minimum a rule may still fail, when the exact McNemar test confirms
    the drop its interval shows (9 cases that all regressed: p = 0.004): the minimum guards
    against passing on little evidence, not against seeing a collapse."""
    if pd.method != "newcombe-mcnemar" or pd.n < 2:
        return False
    high = pd.interval(spec.confidence)[1]
    bar = -spec.margin if spec.kind == "no_regression" else 0.0
    below = high < bar if spec.kind == "no_regression" else high <= bar
    return below and pd.estimate < 0 and pd.p_value() < 1 - spec.confidence


def _decide(outcome: RuleOutcome) -> RuleOutcome:
    spec = outcome.spec
    if outcome.ci is None or outcome.adjusted_p_value is None or outcome.value is None:
        return outcome
    low, high = outcome.ci
    alpha = (1 - spec.confidence) / 2
    clears_alone = low > (outcome.spec.bar or 0.0) and outcome.adjusted_with > 1
    holm = (
        f"the interval clears the bar on its own, but not after Holm's adjustment for "
        f"{outcome.adjusted_with} comparative rules (adjusted one-sided p "
        f"{outcome.adjusted_p_value:.3g}, needs < {alpha:.3g})"
    )
    unit = " points" if spec.metric == PASS_RATE else ""
    m = spec.metric
    interval = f"{_signed(outcome.value, m)}{unit} [{_signed(low, m)}, {_signed(high, m)}]"
    level = f"{_pct(spec.confidence)} interval, {outcome.n} case(s)"
    if outcome.contaminated:
        level += f"; {outcome.contaminated} contaminated case(s) left out"
    if spec.kind == "no_regression":
        rate = spec.metric == PASS_RATE
        bar = f"-{_pct(spec.margin)}".replace("%", " points") if rate else f"-{spec.margin:g}"
        drop = (
            f"a {_pct(spec.margin)}".replace("%", "-point") + " drop"
            if rate
            else f"a drop of {spec.margin:g} in {spec.metric}"
        )
        if outcome.adjusted_p_value < alpha:
            return replace(
                outcome, status="passed", detail=f"no regression beyond {bar}: {interval} ({level})"
            )
        if high < -spec.margin:
            return replace(
                outcome, status="failed", detail=f"regressed beyond {bar}: {interval} ({level})"
            )
        needed = (
            f"about {outcome.cases_needed:,} would"
            if outcome.cases_needed is not None
            else "no feasible number would"
        )
        if clears_alone:
            return replace(outcome, status="inconclusive", detail=f"{holm}: {interval} ({level})")
        return replace(
            outcome,
            status="inconclusive",
            detail=(f"{outcome.n} case(s) cannot rule out {drop}; {needed}: {interval} ({level})"),
        )
    if outcome.adjusted_p_value < alpha:
        return replace(outcome, status="passed", detail=f"improved: {interval} ({level})")
    if high <= 0:
        return replace(
            outcome, status="failed", detail=f"no improvement: {interval} rules it out ({level})"
        )
    if clears_alone:
        return replace(outcome, status="inconclusive", detail=f"{holm}: {interval} ({level})")
    return replace(
        outcome,
        status="inconclusive",
        detail=f"cannot tell whether it improved: {interval} includes 0 ({level})",
    )


def evaluate_rules(
    suite: str,
    specs: Sequence[RuleSpec],
    records: Sequence[Record],
    *,
    max_excluded: float = 0.1,
    settings: BootstrapSettings | None = None,
) -> list[RuleOutcome]:
    """Every rule of one suite, comparative ones Holm-adjusted together."""
    settings = settings or BootstrapSettings()
    outcomes: list[RuleOutcome] = []
    for spec in specs:
        if spec.kind == "min_pass_rate":
            outcomes.append(_min_pass_rate(suite, spec, records, max_excluded))
        else:
            outcomes.append(_comparative(suite, spec, records, max_excluded, settings))
    tested = [i for i, o in enumerate(outcomes) if o.p_value is not None]
    if len(tested) > 1:
        raw = [outcomes[i].p_value for i in tested]
        adjusted = multipletests(raw, method="holm")[1]
        for i, p in zip(tested, adjusted, strict=True):
            outcomes[i] = replace(outcomes[i], adjusted_p_value=float(p), adjusted_with=len(tested))
    return [_decide(o) if o.spec.kind != "min_pass_rate" else o for o in outcomes]
