"""The suite file format: pydantic models that are both validator and JSON Schema.

Documented for users in docs/suite-format.md; `tunegate schema` prints the schema.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = [
    "CROWS_PROBE",
    "PROBE_VALUES",
    "STEREOTYPE_RATE",
    "BbqSpec",
    "BiasSpec",
    "CheckSpec",
    "DefaultsSpec",
    "GateSpec",
    "GenerationParams",
    "ImprovesRule",
    "MaxBbqBiasRule",
    "MaxDisparityRule",
    "MaxStereotypeRateRule",
    "MessageSpec",
    "NoBiasIncreaseRule",
    "NoRegressionRule",
    "PairMethod",
    "PairSpec",
    "ParamsOverride",
    "ProbeSpec",
    "RuleScope",
    "SuiteSpec",
    "suite_json_schema",
]

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"


MAX_CASES = 10_000
MAX_CASES_LIMIT = 1_000_000


# A confidence level; 95 for 0.95 is an error that says so.
Confidence = Annotated[
    float,
    Field(gt=0.5, lt=1),
    BeforeValidator(lambda value: _fraction_hint(value, "confidence")),
]


class _Strict(BaseModel):
    # NaN and infinity mean nothing as a threshold, weight or temperature ("nan" would
    # otherwise parse as a float).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


class GenerationParams(_Strict):
    """Sampling parameters sent to every target. Part of the cache key."""

    temperature: float = Field(0.0, ge=0, le=2, description="0 means greedy decoding.")
    max_tokens: int = Field(128, ge=1, le=32768, description="Upper bound on generated tokens.")
    top_p: float | None = Field(None, gt=0, le=1)
    stop: list[str] | None = Field(None, description="Extra stop strings.")
    seed: int = Field(0, description="Base seed; sample i of a case uses seed + i.")
    logprobs: bool = Field(False, description="Ask targets that can for token log-probabilities.")


class ParamsOverride(_Strict):
    """Per-case overrides of the suite's generation parameters."""

    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, le=32768)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: list[str] | None = None
    seed: int | None = None
    logprobs: bool | None = None


class CheckSpec(_Strict):
    """One check on an output: a metric, its arguments, a pass threshold and a weight."""

    metric: str = Field(description="A registered metric name, e.g. contains, regex, length.")
    args: dict[str, Any] = Field(default_factory=dict, description="The metric's arguments.")
    threshold: float | None = Field(
        None, description="Pass when the metric's value >= threshold; default per metric."
    )
    weight: float = Field(1.0, ge=0, description="Weight in the case's weighted score.")
    name: str | None = Field(None, description="Label in results; defaults to the metric name.")
    report_only: bool = Field(
        False,
        description="Recorded and shown, but not part of the case's pass/fail (a gate rule "
        "may still name it with `metric:`).",
    )

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str | None) -> str | None:
        if name == "pass_rate":
            raise ValueError(
                "'pass_rate' is reserved: a gate rule's `metric: pass_rate` means every "
                "check passed; give this check another name"
            )
        return name


class MessageSpec(_Strict):
    role: Literal["system", "user", "assistant"]
    content: str


class DefaultsSpec(_Strict):
    """Values every case inherits unless it sets its own."""

    system: str | None = Field(None, description="System prompt.")
    template: str = Field(
        "{prompt}",
        description="User message template; fields {prompt}, {context} and the case's vars.",
    )
    params: GenerationParams = Field(default_factory=GenerationParams)
    repeats: int = Field(1, ge=1, le=100, description="Samples per case, with distinct seeds.")
    checks: list[CheckSpec] = Field(
        default_factory=list, description="Checks added to every case (e.g. brand voice)."
    )
    allow_empty_output: bool = Field(
        False,
        description="Let an empty or whitespace-only output pass; by default every case "
        "gets the built-in check `non_empty`.",
    )


class RuleScope(_Strict):
    """What a comparative rule looks at: a metric over the cases with some tags."""

    metric: str = Field(
        "pass_rate",
        description="pass_rate (did every check pass), or a check's name to compare its values.",
    )
    tags: list[str] = Field(
        default_factory=list, description="Only cases carrying every one of these tags."
    )
    confidence: Confidence = Field(
        0.95, description="Level of the two-sided interval the rule reads."
    )

    @field_validator("tags")
    @classmethod
    def _distinct_tags(cls, tags: list[str]) -> list[str]:
        twice = sorted({t for t in tags if tags.count(t) > 1})
        if twice:
            raise ValueError(f"tag '{twice[0]}' is listed twice; list each tag once")
        return tags


class NoRegressionRule(RuleScope):
    """Non-inferiority: the candidate is no worse than the base by more than `margin`."""

    margin: float = Field(
        0.05,
        gt=0,
        le=1,
        description="The largest drop (candidate - base) that still counts as no regression.",
    )

    @field_validator("margin", mode="before")
    @classmethod
    def _margin_fraction(cls, value: Any) -> Any:
        return _fraction_hint(value, "margin")


class ImprovesRule(RuleScope):
    """Superiority: the candidate is better than the base."""


class BiasRuleScope(_Strict):
    """What a bias rule reads: one value of the suite's counterfactual probes."""

    metric: str = Field(
        description="The probe value: pass, refusal, length, sentiment or a check's name; "
        "for no_bias_increase also stereotype_rate (the CrowS-Pairs rate, probe crows_pairs)."
    )
    probe: str | None = Field(None, description="Only this probe (by name); default: every one.")
    confidence: Confidence = Field(
        0.95, description="Level of the two-sided interval the rule reads."
    )


class MaxDisparityRule(BiasRuleScope):
    """The candidate's between-group difference stays at or under `max`."""

    max: float = Field(ge=0, description="Largest between-group difference allowed.")


class NoBiasIncreaseRule(BiasRuleScope):
    """The candidate's between-group difference is no more than `margin` above the base's."""

    margin: float = Field(
        0.05, ge=0, description="Largest increase (candidate - base) of the difference allowed."
    )


class _FractionMax(_Strict):
    """A rule whose `max` is a fraction of 1: 10 (for 0.1) gets the fix in its message."""

    @field_validator("max", mode="before", check_fields=False)
    @classmethod
    def _max_fraction(cls, value: Any) -> Any:
        return _fraction_hint(value, "max")


class MaxBbqBiasRule(_FractionMax):
    """The candidate's BBQ bias score stays within [-max, max] (per category and condition)."""

    max: float = Field(ge=0, le=1, description="Largest absolute bias score (a fraction).")
    category: str | None = Field(None, description="Only this BBQ category; default: each one.")
    condition: Literal["ambig", "disambig"] | None = Field(
        None, description="Only this context condition; default: both."
    )
    confidence: Confidence = Field(0.95, description="Level of the interval the rule reads.")


class MaxStereotypeRateRule(_FractionMax):
    """The candidate's CrowS-Pairs stereotype rate stays at or under `max` (0.5 is the
    unbiased ideal)."""

    max: float = Field(
        ge=0, le=1, description="Largest share of pairs preferring the more stereotyping sentence."
    )
    bias_type: str | None = Field(
        None, description="Only pairs of this bias type; default: every pair (the 'all' rate)."
    )
    confidence: Confidence = Field(0.95, description="Level of the Wilson interval it reads.")


class GateSpec(_Strict):
    """The suite's rules. Absolute: min_pass_rate. Comparative: no_regression, improves.
    Bias: max_disparity, no_bias_increase, max_bbq_bias, max_stereotype_rate (docs/bias.md)."""

    min_pass_rate: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Least candidate pass rate (mean over cases of each case's pass share). "
        "When a suite and the project set no rule at all, 1.0: every case must pass.",
    )
    no_regression: NoRegressionRule | list[NoRegressionRule] | None = Field(
        None, description="Non-inferiority rule(s), each judged on its interval."
    )
    improves: ImprovesRule | list[ImprovesRule] | None = Field(
        None, description="Superiority rule(s), each judged on its interval."
    )
    on_inconclusive: Literal["fail", "warn"] | None = Field(
        None,
        description="What an inconclusive rule does to the verdict: fail (default) or warn.",
    )
    max_excluded: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Largest share of a rule's cases that may be left out (an error on base "
        "or candidate) before the rule is inconclusive; default 0.1.",
    )
    min_judge_agreement: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Least agreement of the judge with human reviewers (Cohen's kappa of "
        "pass/fail; raw agreement when kappa is undefined) for a rule on a judged check to "
        "gate. Below it, or with no ratings, such a rule reports but does not gate. Unset: "
        "judged checks gate like any other. docs/review.md",
    )

    max_disparity: MaxDisparityRule | list[MaxDisparityRule] | None = Field(
        None, description="Most between-group difference of a probe value, candidate only."
    )
    no_bias_increase: NoBiasIncreaseRule | list[NoBiasIncreaseRule] | None = Field(
        None, description="The fine-tune may not widen a probe's disparity by more than margin."
    )
    max_bbq_bias: MaxBbqBiasRule | list[MaxBbqBiasRule] | None = Field(
        None, description="Most absolute BBQ bias score per category and context condition."
    )
    max_stereotype_rate: MaxStereotypeRateRule | list[MaxStereotypeRateRule] | None = Field(
        None, description="Most CrowS-Pairs stereotype rate, over every pair or one bias type."
    )

    @field_validator("min_pass_rate", "max_excluded", "min_judge_agreement", mode="before")
    @classmethod
    def _share_fraction(cls, value: Any, info: ValidationInfo) -> Any:
        return _fraction_hint(value, str(info.field_name))

    @field_validator("no_regression", "improves")
    @classmethod
    def _rules_listed(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        if not value:
            raise ValueError(
                "an empty list of rules gates nothing; write at least one rule "
                "(or null, to turn off the project's default rule)"
            )
        seen: set[tuple[str, frozenset[str]]] = set()
        for rule in value:
            scope = (rule.metric, frozenset(rule.tags))
            if scope in seen:
                tags = f" on the cases tagged {', '.join(sorted(rule.tags))}" if rule.tags else ""
                raise ValueError(
                    f"two rules here compare {rule.metric}{tags}; keep one (a duplicate "
                    "only doubles Holm's correction)"
                )
            seen.add(scope)
        return value

    @field_validator("max_disparity", "no_bias_increase", "max_bbq_bias", "max_stereotype_rate")
    @classmethod
    def _bias_rules_listed(cls, value: Any) -> Any:
        if isinstance(value, list) and not value:
            raise ValueError(
                "an empty list of rules gates nothing; write at least one rule "
                "(or null, to turn off the project's default rule)"
            )
        return value

    def merged_over(self, defaults: GateSpec | None) -> GateSpec:
        """This suite's rules over the project's defaults: a key the suite sets wins
        (including an explicit null, which turns a project rule off)."""
        if defaults is None:
            return self
        own = self.model_fields_set
        values = {k: getattr(self if k in own else defaults, k) for k in type(self).model_fields}
        return GateSpec.model_validate(values)

    def written(self, kind: str) -> list[tuple[Any, tuple[str | int, ...]]]:
        """The rules of one kind as written in a `gate:` mapping, each with its path there
        (for errors at their line)."""
        value = getattr(self, kind)
        if isinstance(value, list):
            return [(rule, ("gate", kind, i)) for i, rule in enumerate(value)]
        return [] if value is None else [(value, ("gate", kind))]

    def max_disparity_rules(self) -> list[MaxDisparityRule]:
        return _as_list(self.max_disparity)

    def no_bias_increase_rules(self) -> list[NoBiasIncreaseRule]:
        return _as_list(self.no_bias_increase)

    def max_bbq_bias_rules(self) -> list[MaxBbqBiasRule]:
        return _as_list(self.max_bbq_bias)

    def max_stereotype_rate_rules(self) -> list[MaxStereotypeRateRule]:
        return _as_list(self.max_stereotype_rate)

    def no_regression_rules(self) -> list[NoRegressionRule]:
        return _as_list(self.no_regression)

    def improves_rules(self) -> list[ImprovesRule]:
        return _as_list(self.improves)


def _fraction_hint(value: Any, name: str) -> Any:
    """A share written as a percentage (95 for 0.95) gets the fix in its message."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 2 <= value <= 100:
        suggestion = value / 100
        if name != "confidence" or suggestion > 0.5:
            raise ValueError(f"{name} is a fraction of 1: did you mean {suggestion:g}?")
    return value


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


class BbqSpec(_Strict):
    """A BBQ-style multiple-choice item (Parrish et al. 2022); docs/bias.md."""

    category: str = Field(description="E.g. Age, Nationality, Religion.")
    options: list[str] = Field(min_length=2, description="The answer options, in order.")
    option_groups: list[str] = Field(
        description="Each option's group tag (BBQ's answer_info), `unknown` for UNKNOWN."
    )
    option_names: list[str] | None = Field(
        None, description="Each option's group text (BBQ's answer_info), e.g. grandfather."
    )
    unknown: int = Field(ge=0, description="Index of the UNKNOWN option.")
    label: int = Field(ge=0, description="Index of the correct option.")
    polarity: Literal["neg", "nonneg"]
    condition: Literal["ambig", "disambig"]
    stereotyped_groups: list[str] = Field(min_length=1)
    proper_names: bool = Field(
        False, description="A proper-name template; scored apart, as the authors' analysis does."
    )

    @model_validator(mode="after")
    def _consistent(self) -> BbqSpec:
        n = len(self.options)
        if len(self.option_groups) != n or (
            self.option_names is not None and len(self.option_names) != n
        ):
            raise ValueError("options, option_groups and option_names need one entry per option")
        for name in ("unknown", "label"):
            if getattr(self, name) >= n:
                raise ValueError(f"{name} is an option index: 0 to {n - 1}")
        seen = [" ".join(o.casefold().split()) for o in self.options]
        if any(not o or len(o) == 1 for o in seen) or len(set(seen)) != n:
            # A blank, one-letter or repeated option cannot be told apart from the others
            # (or from an option letter) when an answer is matched to it.
            raise ValueError(
                "every option needs its own text, not blank, not a single letter, and no two alike"
            )
        if len(self.targeted()) != 1:
            raise ValueError(
                "exactly one non-UNKNOWN option must belong to the stereotyped groups (by its "
                "group tag or name); the bias score needs to know which answer is targeted"
            )
        return self

    def targeted(self) -> list[int]:
        """Options of a stereotyped group: by group tag or name, ignoring case."""
        wanted = {g.casefold() for g in self.stereotyped_groups}
        names = self.option_names or [""] * len(self.options)
        return [
            i
            for i, (tag, name) in enumerate(zip(self.option_groups, names, strict=True))
            if i != self.unknown and (tag.casefold() in wanted or name.casefold() in wanted)
        ]


class PairSpec(_Strict):
    """A CrowS-Pairs-style minimal pair (Nangia et al. 2020): two sentences that differ only
    in the group they name, one more stereotyping than the other; docs/bias.md."""

    more: str = Field(description="The more stereotyping sentence (CrowS-Pairs' sent_more).")
    less: str = Field(description="The less stereotyping sentence (CrowS-Pairs' sent_less).")
    bias_type: str = Field(description="E.g. race-color, gender, religion.")
    direction: Literal["stereo", "antistereo"] = Field(
        description="stereo: `more` demonstrates a stereotype of a disadvantaged group; "
        "antistereo: `less` violates one. Either way `more` is the more stereotyping."
    )
    a_is_more: bool = Field(
        description="The prompt shows `more` as option A (else as B); the importer shuffles "
        "the order per pair so that position cannot pass for preference."
    )

    @model_validator(mode="after")
    def _two_sentences(self) -> PairSpec:
        for name in ("more", "less", "bias_type"):
            if not getattr(self, name).strip():
                raise ValueError(f"`{name}` is blank; a pair needs two sentences and a bias type")
        if self.bias_type.strip().casefold() == "all":
            # The audit's rate over every pair is named `all`: a type of that name would
            # be merged into it, and its own rate lost.
            raise ValueError("`bias_type` 'all' names every pair in the audit; use another name")
        for name in ("more", "less"):
            if getattr(self, name).strip().strip(".()").strip().lower() in ("a", "b"):
                # The forced choice is answered A or B: a one-letter sentence is a letter.
                raise ValueError(
                    f"`{name}` is an answer letter (A or B); a pair needs two sentences"
                )
        if self.more.strip() == self.less.strip():
            raise ValueError("`more` and `less` are the same sentence; a pair needs two")
        return self

    def options(self) -> list[str]:
        """The two sentences as the prompt lists them: [A, B]."""
        return [self.more, self.less] if self.a_is_more else [self.less, self.more]

    @property
    def more_index(self) -> int:
        """The option (0 for A, 1 for B) that is the more stereotyping sentence."""
        return 0 if self.a_is_more else 1


# How a pair case is answered: `loglikelihood` compares the two sentences' total
# log-likelihoods under the model; `choice` asks the forced-choice prompt; `auto` scores by
# log-likelihood on targets that can, and asks the others.
PairMethod = Literal["auto", "loglikelihood", "choice"]


PROBE_VALUES = ("pass", "refusal", "length", "sentiment")
# The CrowS-Pairs rate's name in the bias audit: `bias.changes` rows of pair cases have
# this probe and metric, and `no_bias_increase: {metric: stereotype_rate}` reads them.
CROWS_PROBE = "crows_pairs"
STEREOTYPE_RATE = "stereotype_rate"


class ProbeSpec(_Strict):
    """A counterfactual probe: cases whose template variable `axis` names a group."""

    axis: str = Field(description="The template variable holding the group, e.g. group.")
    name: str | None = Field(None, description="The probe's name in results; default: the axis.")
    metrics: list[str] = Field(
        default_factory=lambda: list(PROBE_VALUES),
        min_length=1,
        description="Per-output values compared across groups: pass, refusal, length "
        "(characters), sentiment (VADER compound), or a check's name (its value).",
    )
    tags: list[str] = Field(
        default_factory=list, description="Only cases carrying every one of these tags."
    )

    @field_validator("metrics")
    @classmethod
    def _distinct_metrics(cls, metrics: list[str]) -> list[str]:
        twice = sorted({m for m in metrics if metrics.count(m) > 1})
        if twice:
            raise ValueError(f"'{twice[0]}' is listed twice; list each value once")
        return metrics

    @property
    def label(self) -> str:
        return self.name or self.axis


class BiasSpec(_Strict):
    """The suite's bias audit: counterfactual probes over its templates, and how its pair
    cases are answered."""

    probes: list[ProbeSpec] = Field(default_factory=list)
    pair_method: PairMethod = Field(
        "auto",
        description="How `pair:` cases are answered: loglikelihood (the two sentences' "
        "log-likelihoods; a target that cannot score is an error before any call), choice "
        "(the forced-choice prompt), or auto (log-likelihood where the target can, else "
        "the forced choice).",
    )
    confidence: Confidence = Field(
        0.95, description="Level of the intervals in results and the report."
    )


class CaseSpec(_Strict):
    """One test case. With `vars`, a template expanded once per combination of values."""

    id: str = Field(pattern=ID_PATTERN, description="Unique within the suite.")
    prompt: str | None = Field(None, description="The question; or give `messages`.")
    messages: list[MessageSpec] | None = Field(None, description="A whole conversation.")
    context: str | None = Field(None, description="Grounding text, available as {context}.")
    reference: str | None = Field(None, description="The reference answer.")
    system: str | None = Field(None, description="Overrides the suite's system prompt.")
    tags: list[str] = Field(default_factory=list, description="Become pytest markers.")
    checks: list[CheckSpec] = Field(default_factory=list)
    vars: dict[str, list[str]] | list[dict[str, str]] | None = Field(
        None,
        description="Template variables: a mapping of lists (every combination) "
        "or a list of mappings (one case each).",
    )
    params: ParamsOverride | None = None
    repeats: int | None = Field(None, ge=1, le=100)
    allow_empty_output: bool | None = Field(
        None, description="Overrides defaults.allow_empty_output for this case."
    )
    bbq: BbqSpec | None = Field(
        None, description="A BBQ-style multiple-choice item: adds the check `bbq`."
    )
    pair: PairSpec | None = Field(
        None,
        description="A CrowS-Pairs-style minimal pair; `prompt` is its forced-choice question. "
        "Adds the report-only check `crows`.",
    )

    @field_validator("tags")
    @classmethod
    def _tag_names(cls, tags: list[str]) -> list[str]:
        for tag in tags:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", tag):
                raise ValueError(
                    f"tag {tag!r} must be an identifier (letters, digits, _), "
                    "because tags become pytest markers"
                )
        return tags

    @field_validator("vars", mode="before")
    @classmethod
    def _vars_shape(cls, value: Any) -> Any:
        # Numbers and booleans are fine as values; they are substituted as text, as YAML
        # read them (docs/suite-format.md: quote a value to keep it as written).
        def text(v: Any) -> Any:
            if isinstance(v, bool):
                return str(v).lower()
            if isinstance(v, (int, float)):
                return str(v)
            return v

        if value is None:
            return None
        if isinstance(value, dict):
            if not all(isinstance(v, list) for v in value.values()):
                raise ValueError("each variable needs a list of values, e.g. group: [a, b]")
            return {k: [text(v) for v in vs] for k, vs in value.items()}
        if isinstance(value, list):
            if not all(isinstance(row, dict) for row in value):
                raise ValueError("a list of vars must hold mappings, e.g. - {group: a}")
            return [{k: text(v) for k, v in row.items()} for row in value]
        raise ValueError("vars must be a mapping of lists or a list of mappings")

    @model_validator(mode="after")
    def _prompt_or_messages(self) -> CaseSpec:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of 'prompt' or 'messages'")
        if self.messages is not None and not any(m.role == "user" for m in self.messages):
            raise ValueError("'messages' needs at least one user message")
        if self.bbq is not None and self.pair is not None:
            raise ValueError("a case is a BBQ item or a pair, not both; split it in two")
        return self


class SuiteSpec(_Strict):
    """A suite file."""

    name: str = Field(pattern=ID_PATTERN, description="The suite's name in results and reports.")
    description: str | None = None
    defaults: DefaultsSpec = Field(default_factory=DefaultsSpec)
    gate: GateSpec = Field(default_factory=GateSpec)
    cases: list[CaseSpec] = Field(min_length=1)
    bias: BiasSpec | None = Field(
        None, description="Counterfactual probes and the pair method (docs/bias.md)."
    )
    max_cases: int = Field(
        MAX_CASES,
        ge=1,
        le=MAX_CASES_LIMIT,
        description="Most cases the suite may have once vars are expanded.",
    )


def suite_json_schema() -> dict[str, Any]:
    schema = SuiteSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "tunegate suite"
    return schema
