"""The gate: each suite's rules (with the project's defaults) over the records -> verdict.

A run's verdict is `failed` when any rule failed, else `inconclusive` when any rule could
not decide, else `passed`. `gate_passed` says whether the candidate may go through: passed,
or inconclusive where every undecided rule is marked `on_inconclusive: warn`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..bias import BiasAudit
from ..results import Agreement, Comparison, FlakyCase, GateResult, Record, Status
from ..stats import BootstrapSettings
from ..suite import GateSpec, Suite
from ..suite.format import STEREOTYPE_RATE, RuleScope
from .bias_rules import bias_rule_ids, bias_rule_rows, has_bias_rules
from .comparisons import compare_suite
from .judged import agreement_clears, judged_checks, reporting_only
from .pairing import DEFAULT_MAX_EXCLUDED, PASS_RATE, flaky_cases
from .verdict import RuleOutcome, RuleSpec, evaluate_rules

__all__ = [
    "GateEvaluation",
    "effective_gate",
    "evaluate_gate",
    "rule_ids",
    "rule_specs",
    "unmatched_default_rules",
]


@dataclass(frozen=True)
class GateEvaluation:
    rows: list[GateResult]
    comparisons: list[Comparison]
    flaky: list[FlakyCase]
    verdict: Status
    gate_passed: bool


def effective_gate(suite: Suite, defaults: GateSpec | None) -> GateSpec:
    """The suite's rules over the project's defaults; with no rule at all, every case must
    pass (min_pass_rate 1.0), as before comparative rules existed. A default rule that
    names a check or tag this suite does not have applies to the suites that have it."""
    gate = suite.gate.merged_over(defaults)
    own = suite.gate.model_fields_set
    inherited: dict[str, object] = {}
    for kind in ("no_regression", "improves"):
        value = getattr(gate, kind)
        if kind in own or value is None:
            continue
        rules = [r for r in (value if isinstance(value, list) else [value]) if _applies(r, suite)]
        inherited[kind] = rules or None
    if inherited:
        gate = gate.model_copy(update=inherited)
    if (
        gate.min_pass_rate is None
        and gate.no_regression is None
        and gate.improves is None
        and not has_bias_rules(gate)
    ):
        gate = gate.model_copy(update={"min_pass_rate": 1.0})
    return gate


def _applies(rule: RuleScope, suite: Suite) -> bool:
    checks = {c.name for case in suite.cases for c in case.checks}
    tags = {t for case in suite.cases for t in case.tags}
    return (rule.metric == PASS_RATE or rule.metric in checks) and set(rule.tags) <= tags


def unmatched_default_rules(
    suites: Sequence[Suite], defaults: GateSpec | None
) -> list[tuple[tuple[str | int, ...], str]]:
    """The project's default rules that no suite can apply (a check or tag no suite has):
    each with its path in tunegate.yaml and what is wrong. They would judge nothing."""
    if defaults is None or not suites:
        return []
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for kind in ("no_regression", "improves"):
        for rule, here in defaults.written(kind):
            if any(_applies(rule, s) for s in suites):
                continue
            scope = [f"a check named '{rule.metric}'"] if rule.metric != PASS_RATE else []
            scope += [f"the tag '{t}'" for t in rule.tags]
            metric_known = rule.metric == PASS_RATE or any(
                rule.metric in {c.name for case in s.cases for c in case.checks} for s in suites
            )
            problems.append(
                (
                    (*here, "tags" if metric_known else "metric"),
                    f"no suite has a case with {' and '.join(scope)}: this default rule "
                    "would judge nothing; fix its metric or tags, or remove it",
                )
            )
    return problems + _unmatched_bias_rules(suites, defaults)


def _unmatched_bias_rules(
    suites: Sequence[Suite], defaults: GateSpec
) -> list[tuple[tuple[str | int, ...], str]]:
    """The project's default bias rules that read nothing in any suite: no probe measures
    the metric (or no probe has that name), no BBQ item of that category."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for kind in ("max_disparity", "no_bias_increase", "max_bbq_bias", "max_stereotype_rate"):
        for rule, here in defaults.written(kind):
            alone = GateSpec.model_validate({kind: rule})
            if any(bias_rule_ids(s, alone) for s in suites):
                continue
            if kind == "max_stereotype_rate" or getattr(rule, "metric", "") == STEREOTYPE_RATE:
                what = "CrowS-Pairs pairs" + (
                    f" of the bias type '{rule.bias_type}'"
                    if getattr(rule, "bias_type", None)
                    else ""
                )
                problems.append(
                    (
                        here,
                        f"no suite has {what}: this default rule would judge nothing; import "
                        "CrowS-Pairs (tunegate import crows-pairs) or remove it",
                    )
                )
                continue
            if kind == "max_bbq_bias":
                what = "BBQ items" + (
                    f" of the category '{rule.category}'" if getattr(rule, "category", None) else ""
                )
                problems.append(
                    (
                        here,
                        f"no suite has {what}: this default rule would judge "
                        "nothing; import BBQ (tunegate import bbq) or remove it",
                    )
                )
                continue
            probe = getattr(rule, "probe", None)
            named = f"named '{probe}' " if probe else ""
            problems.append(
                (
                    (*here, "metric"),
                    f"no suite has a probe {named}measuring '{getattr(rule, 'metric', '')}': "
                    "this default rule would judge nothing; fix its metric or probe, or "
                    "remove it (docs/bias.md)",
                )
            )
    return problems


def rule_specs(gate: GateSpec) -> list[RuleSpec]:
    specs: list[RuleSpec] = []
    if gate.min_pass_rate is not None:
        specs.append(RuleSpec("min_pass_rate", threshold=gate.min_pass_rate))
    for rule in gate.no_regression_rules():
        specs.append(
            RuleSpec(
                "no_regression",
                metric=rule.metric,
                tags=tuple(rule.tags),
                margin=rule.margin,
                confidence=rule.confidence,
            )
        )
    for improves in gate.improves_rules():
        specs.append(
            RuleSpec(
                "improves",
                metric=improves.metric,
                tags=tuple(improves.tags),
                confidence=improves.confidence,
            )
        )
    return specs


def rule_ids(specs: Sequence[RuleSpec]) -> list[str]:
    """Names of a suite's rules, unique within it: `no_regression:concise@refunds+returns`."""
    ids: list[str] = []
    for spec in specs:
        name: str = spec.kind
        if spec.kind != "min_pass_rate" and spec.metric != PASS_RATE:
            name += f":{spec.metric}"
        if spec.tags:
            name += "@" + "+".join(spec.tags)
        taken = sum(1 for i in ids if i == name or i.startswith(name + "#"))
        ids.append(name if taken == 0 else f"{name}#{taken + 1}")
    return ids


def _row(outcome: RuleOutcome, rule_id: str, target: str, on_inconclusive: str) -> GateResult:
    spec = outcome.spec
    return GateResult(
        id=rule_id,
        suite=outcome.suite,
        rule=spec.kind,
        target=target,
        value=outcome.value,
        threshold=spec.bar,
        passed=outcome.status == "passed",
        detail=outcome.detail,
        status=outcome.status,
        metric=spec.metric,
        tags=list(spec.tags),
        statistic=outcome.statistic,
        ci=outcome.ci,
        confidence=spec.confidence if spec.kind != "min_pass_rate" or outcome.ci else None,
        p_value=outcome.p_value,
        adjusted_p_value=outcome.adjusted_p_value,
        n=outcome.n,
        excluded=outcome.excluded,
        contaminated=outcome.contaminated,
        base=outcome.base,
        candidate=outcome.candidate,
        margin=spec.margin if spec.kind == "no_regression" else None,
        detectable_effect=outcome.detectable,
        cases_needed=outcome.cases_needed,
        on_inconclusive="warn" if on_inconclusive == "warn" else "fail",
    )


def evaluate_gate(
    suites: Sequence[Suite],
    records: Sequence[Record],
    *,
    defaults: GateSpec | None = None,
    settings: BootstrapSettings | None = None,
    agreement: Sequence[Agreement] = (),
    bias: BiasAudit | None = None,
) -> GateEvaluation:
    """`agreement`: the judge's agreement with human ratings per (suite, judged check);
    with the suite's `min_judge_agreement` set, a rule on a judged check below it (or
    without ratings) reports only and does not count towards the verdict (gate/judged.py)."""
    settings = settings or BootstrapSettings()
    rows: list[GateResult] = []
    reporting: set[int] = set()  # id() of rows that report only
    comparisons: list[Comparison] = []
    for suite in suites:
        mine = [r for r in records if r.suite == suite.name]
        candidate = next((r.target for r in mine if r.role == "candidate"), None)
        if candidate is None:
            continue  # no case of this suite ran
        gate = effective_gate(suite, defaults)
        has_base = any(r.role == "base" for r in mine)
        all_specs = rule_specs(gate)
        specs = [s for s in all_specs if has_base or s.kind == "min_pass_rate"]
        quiet = _reporting_specs(suite, mine, all_specs, gate, agreement)
        max_excluded = DEFAULT_MAX_EXCLUDED if gate.max_excluded is None else gate.max_excluded
        outcomes = evaluate_rules(
            suite.name,
            [s for s in specs if id(s) not in quiet],
            mine,
            max_excluded=max_excluded,
            settings=settings,
        )
        if quiet:
            # Holm-adjusted apart: a rule that only reports must cost the others no power.
            reported = [s for s in specs if id(s) in quiet]
            outcomes += evaluate_rules(
                suite.name, reported, mine, max_excluded=max_excluded, settings=settings
            )
            order = {id(spec): i for i, spec in enumerate(specs)}
            outcomes.sort(key=lambda o: order[id(o.spec)])
        if not has_base and len(specs) < len(all_specs):
            outcomes += _without_base(suite.name, all_specs)
        on_inconclusive = gate.on_inconclusive or "fail"
        # By identity: two rules may be equal in every field.
        ids = {id(spec): name for spec, name in zip(all_specs, rule_ids(all_specs), strict=True)}
        for o in outcomes:
            row = _row(o, ids[id(o.spec)], candidate, on_inconclusive)
            if id(o.spec) in quiet and gate.min_judge_agreement is not None:
                row = reporting_only(row, quiet[id(o.spec)], gate.min_judge_agreement)
                reporting.add(id(row))
            rows.append(row)
        rows += bias_rule_rows(
            suite, gate, bias or BiasAudit(), candidate, on_inconclusive, max_excluded
        )
        comparisons += compare_suite(suite.name, mine, settings)
    flaky = [
        FlakyCase(
            suite=f.suite,
            case_id=f.case_id,
            target=f.target,
            role="base" if f.role == "base" else "candidate",
            passed=f.passed,
            samples=f.samples,
            pass_probability=f.pass_probability,
        )
        for f in flaky_cases(records)
    ]
    gating = [r for r in rows if id(r) not in reporting]
    verdict = _verdict(gating)
    let_through = verdict == "passed" or (
        verdict == "inconclusive"
        and all(r.on_inconclusive == "warn" for r in gating if r.status == "inconclusive")
    )
    if rows and not gating:
        # Every rule reports only (judged checks without enough agreement with people):
        # nothing decided, which is no pass.
        verdict, let_through = "inconclusive", False
    return GateEvaluation(rows, comparisons, flaky, verdict, let_through)


def _reporting_specs(
    suite: Suite,
    records: Sequence[Record],
    specs: Sequence[RuleSpec],
    gate: GateSpec,
    agreement: Sequence[Agreement],
) -> dict[int, Agreement | None]:
    """The rules on judged checks that may not gate (by id(), with the agreement found):
    the suite sets `min_judge_agreement` and the judge's agreement is below it or unknown."""
    if gate.min_judge_agreement is None:
        return {}
    judged = judged_checks(suite, records)
    agreed = {a.check: a for a in agreement if a.suite == suite.name}
    return {
        id(spec): agreed.get(spec.metric)
        for spec in specs
        if spec.metric in judged
        and not agreement_clears(agreed.get(spec.metric), gate.min_judge_agreement)
    }


def _without_base(suite: str, specs: Sequence[RuleSpec]) -> list[RuleOutcome]:
    """Comparative rules of a run without a base: inconclusive, saying why."""
    return [
        RuleOutcome(
            suite=suite,
            spec=spec,
            status="inconclusive",
            statistic="difference (candidate - base)",
            value=None,
            ci=None,
            p_value=None,
            adjusted_p_value=None,
            n=0,
            excluded=0,
            detail="no base target in this run: a comparative rule needs one (--base NAME)",
        )
        for spec in specs
        if spec.kind != "min_pass_rate"
    ]


def _verdict(rows: Sequence[GateResult]) -> Status:
    if any(r.status == "failed" for r in rows):
        return "failed"
    if any(r.status == "inconclusive" for r in rows):
        return "inconclusive"
    return "passed"
