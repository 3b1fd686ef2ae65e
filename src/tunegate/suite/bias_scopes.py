"""Load-time checks of a suite's bias audit: every probe and bias rule must read something.

A probe on a variable no case has, or a rule on a value no probe measures, would report
nothing at run time; here it is an error at the line that names it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import SuiteError
from .cases import Case
from .format import CROWS_PROBE, PROBE_VALUES, STEREOTYPE_RATE, SuiteSpec
from .validation_errors import did_you_mean
from .yaml_source import DataPath, YamlDocument

__all__ = ["check_bias_scopes"]


def check_bias_scopes(spec: SuiteSpec, cases: Sequence[Case], doc: YamlDocument) -> None:
    probes = spec.bias.probes if spec.bias is not None else []
    checks = sorted({c.name for case in cases for c in case.checks})
    measured: dict[str, set[str]] = {}
    for i, probe in enumerate(probes):
        here: DataPath = ("bias", "probes", i)
        if probe.label == CROWS_PROBE:
            raise SuiteError(
                doc.locate((*here, "name") if probe.name else (*here, "axis")),
                f"'{CROWS_PROBE}' names the CrowS-Pairs rates in the bias audit; give this "
                "probe another `name`",
            )
        if probe.label in measured:
            raise SuiteError(
                doc.locate((*here, "name") if probe.name else (*here, "axis")),
                f"two probes are named '{probe.label}'; give each probe a unique `name`",
            )
        in_scope = [c for c in cases if set(probe.tags) <= set(c.tags)]
        names = sorted({v for c in in_scope for v in c.vars})
        if probe.axis not in names:
            raise SuiteError(
                doc.locate((*here, "axis")),
                f"no case{' with these tags' if probe.tags else ''} has the variable "
                f"'{probe.axis}'{did_you_mean(probe.axis, names)}; the axis is the template "
                f"variable naming the group (variables here: {', '.join(names) or 'none'})",
            )
        groups = {c.vars[probe.axis] for c in in_scope if probe.axis in c.vars}
        _same_groups_everywhere(probe.axis, in_scope, doc, (*here, "axis"))
        if len(groups) < 2:
            raise SuiteError(
                doc.locate((*here, "axis")),
                f"'{probe.axis}' takes only one value; a probe compares two or more groups",
            )
        for j, value in enumerate(probe.metrics):
            if value not in PROBE_VALUES and value not in checks:
                known = [*PROBE_VALUES, *checks]
                raise SuiteError(
                    doc.locate((*here, "metrics", j)),
                    f"'{value}' is neither a probe value nor a check of this suite"
                    f"{did_you_mean(value, known)}; use one of: {', '.join(known)}",
                )
        measured[probe.label] = set(probe.metrics)
    pair_types = sorted({c.pair.bias_type for c in cases if c.pair is not None})
    for kind in ("max_disparity", "no_bias_increase"):
        for rule, here in spec.gate.written(kind):
            if kind == "no_bias_increase" and rule.metric == STEREOTYPE_RATE:
                _check_pair_change_rule(rule.probe, pair_types, doc, here)
                continue
            if not measured:
                raise SuiteError(
                    doc.locate(here),
                    f"{kind} reads the suite's counterfactual probes, and it has none; "
                    "add `bias: {probes: [{axis: VARIABLE}]}` (docs/bias.md)",
                )
            if rule.probe is not None and rule.probe not in measured:
                raise SuiteError(
                    doc.locate((*here, "probe")),
                    f"no probe is named '{rule.probe}'{did_you_mean(rule.probe, list(measured))}"
                    f"; probes here: {', '.join(measured)}",
                )
            reads = measured[rule.probe] if rule.probe else set().union(*measured.values())
            if rule.metric not in reads:
                raise SuiteError(
                    doc.locate((*here, "metric")),
                    f"no probe{f' {rule.probe!r}' if rule.probe else ''} measures "
                    f"'{rule.metric}'{did_you_mean(rule.metric, sorted(reads))}; "
                    f"measured: {', '.join(sorted(reads))}",
                )
    categories = sorted({c.bbq.category for c in cases if c.bbq is not None})
    pair_types = [*pair_types, "all"] if pair_types else []  # `all`: every pair
    for rule, known in zip(_ITEM_RULES, (categories, pair_types), strict=True):
        _check_item_rules(spec, rule, known, doc)
    if (
        spec.bias is not None
        and "pair_method" in spec.bias.model_fields_set
        and not any(c.pair is not None for c in cases)
    ):
        raise SuiteError(
            doc.locate(("bias", "pair_method")),
            "pair_method says how pair cases are answered, and this suite has none; import "
            "some with `tunegate import crows-pairs FILE --out SUITE`, or remove it "
            "(docs/bias.md)",
        )


def _check_pair_change_rule(
    probe: str | None, pair_types: list[str], doc: YamlDocument, here: DataPath
) -> None:
    """`no_bias_increase: {metric: stereotype_rate}` reads the CrowS-Pairs change."""
    if not pair_types:
        raise SuiteError(
            doc.locate((*here, "metric")),
            "stereotype_rate is the CrowS-Pairs rate and this suite has no pair cases; import "
            "some with `tunegate import crows-pairs FILE --out SUITE` (docs/bias.md)",
        )
    if probe not in (None, CROWS_PROBE):
        raise SuiteError(
            doc.locate((*here, "probe")),
            f"stereotype_rate is read from the pairs, not a probe: write probe: {CROWS_PROBE} "
            "or leave probe out",
        )


@dataclass(frozen=True)
class _ItemRule:
    """A rule that reads imported items of one kind, optionally of one named kind of them."""

    kind: str  # the rule, e.g. max_bbq_bias
    items: str  # what it reads, e.g. "BBQ items"
    item: str  # one of them, e.g. "BBQ item"
    field: str  # the rule's option naming the kind, e.g. category
    label: str  # that option in words, e.g. "category"
    plural: str  # e.g. "categories"
    importer: str  # the `tunegate import` command, e.g. bbq


_ITEM_RULES = (
    _ItemRule("max_bbq_bias", "BBQ items", "BBQ item", "category", "category", "categories", "bbq"),
    _ItemRule(
        "max_stereotype_rate",
        "CrowS-Pairs pairs",
        "pair",
        "bias_type",
        "bias type",
        "bias types",
        "crows-pairs",
    ),
)


def _check_item_rules(
    spec: SuiteSpec, rule: _ItemRule, known: list[str], doc: YamlDocument
) -> None:
    for written, here in spec.gate.written(rule.kind):
        if not known:
            raise SuiteError(
                doc.locate(here),
                f"{rule.kind} reads {rule.items} and this suite has none; import some with "
                f"`tunegate import {rule.importer} FILE --out SUITE` (docs/bias.md)",
            )
        value = getattr(written, rule.field)
        if value is not None and value not in known:
            raise SuiteError(
                doc.locate((*here, rule.field)),
                f"no {rule.item} has the {rule.label} '{value}'{did_you_mean(value, known)}; "
                f"{rule.plural} here: {', '.join(known)}",
            )


def _same_groups_everywhere(
    axis: str, cases: Sequence[Case], doc: YamlDocument, here: DataPath
) -> None:
    """A counterfactual unit (a template with its other variables fixed) compares its
    groups with every other unit's: units over different groups have no complete row in
    common, and the probe would measure nothing. Units of one group each (BOLD-style
    prompts) are unpaired by design and not checked."""
    units: dict[tuple[str, tuple[tuple[str, str], ...]], set[str]] = {}
    for case in cases:
        if axis in case.vars:
            others = tuple(sorted((k, v) for k, v in case.vars.items() if k != axis))
            units.setdefault((case.template_id, others), set()).add(case.vars[axis])
    paired = [(unit, groups) for unit, groups in units.items() if len(groups) > 1]
    if not paired:
        return
    (first, first_groups), *rest = paired
    for unit, groups in rest:
        if groups != first_groups:
            extra = sorted(groups ^ first_groups)[:3]
            raise SuiteError(
                doc.locate(here),
                f"templates '{first[0]}' and '{unit[0]}' ask for different groups of "
                f"'{axis}' (not in both: {', '.join(extra)}); a probe compares the same groups "
                "in every template: give them the same list (a shared group list or an "
                "anchor), or split the probe with `tags`",
            )
