"""The results file: the contract between runner, gate, report and users' own analysis.

Documented in docs/results-schema.md. Records are immutable and self-describing.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import InputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "SCHEMA_VERSION",
    "Agreement",
    "BbqScore",
    "BiasResults",
    "CheckScore",
    "Comparison",
    "Disparity",
    "DisparityChange",
    "FlakyCase",
    "GateResult",
    "PairScore",
    "PairwiseSummary",
    "PairwiseVerdict",
    "Record",
    "Results",
    "RunStatsInfo",
    "Status",
    "SuiteInfo",
    "TargetInfo",
    "coverage_line",
    "load_results",
]

SCHEMA_VERSION = "1.4"
RESULTS_FILE = "results.json"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CheckScore(_Frozen):
    """The outcome of one check on one output."""

    metric: str = Field(description="The metric's registered name.")
    value: float | None = Field(description="The metric's value; null when it could not run.")
    passed: bool = Field(description="value >= threshold.")
    threshold: float
    weight: float
    reason: str | None = Field(None, description="Why it failed, when the metric says.")
    # 1.3: LLM judges.
    skipped: bool = Field(
        False,
        description="A judged check with no judge configured: value null, passed false, and "
        "left out of the record's pass/fail; a gate rule on this check has no evidence.",
    )
    judge_raw: str | None = Field(
        None, description="The judge's raw answer when it gave no usable verdict."
    )
    report_only: bool = Field(
        False, description="Shown only: not part of the record's pass/fail or the pass rate."
    )
    check_sha: str | None = Field(
        None,
        description="A judged check's definition (metric and arguments) as a sha256: a human "
        "rating of an earlier definition no longer counts. Null for other checks.",
    )

    @property
    def gating(self) -> bool:
        """Part of the record's pass/fail: not skipped for want of a judge, not report-only."""
        return not (self.skipped or self.report_only)


class Message(_Frozen):
    role: str
    content: str


class Record(_Frozen):
    """One (suite, case, target, sample)."""

    suite: str
    case_id: str = Field(description="Expanded id, e.g. loan-advice[women].")
    template_id: str = Field(description="The case's id in the suite file, before expansion.")
    vars: dict[str, str] = Field(description="Template variables of this expansion.")
    tags: list[str]
    target: str = Field(description="Target name from the config.")
    role: Literal["base", "candidate"]
    sample: int = Field(description="0-based sample index; seed is params.seed + sample.")
    prompt: list[Message] = Field(description="The messages sent (chat form).")
    rendered_prompt: str | None = Field(
        None, description="The plain text sent to completion-mode targets."
    )
    reference: str | None
    context: str | None
    output: str | None = Field(description="Generated text; null when the call failed.")
    error: str | None = Field(description="Why the generation failed, if it did.")
    scores: dict[str, CheckScore] = Field(description="Check name -> outcome.")
    score: float | None = Field(description="Weighted mean of check values.")
    passed: bool = Field(description="No error and every check passed.")
    cached: bool = Field(description="Served from the store, no model call made.")
    latency_s: float | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    logprobs: list[tuple[str, float | None]] | None = Field(
        None,
        description="(token, logprob) pairs when params.logprobs was asked; for a pair case "
        'scored by log-likelihood, [("A", total log-likelihood of sentence A), ("B", '
        "that of B)].",
    )
    key: str = Field(description="Cache key of the generation in the store.")
    refusal: bool = Field(
        False,
        description="The output is the model's refusal (OpenAI's message.refusal), not an answer.",
    )
    pair_method: Literal["loglikelihood", "choice"] | None = Field(
        None,
        description="For a pair case (CrowS-Pairs): loglikelihood when the target scored the "
        "two sentences (the output is then A, B or tie, the likelier sentence, and logprobs "
        "hold both numbers), choice when it answered the forced-choice prompt; null otherwise.",
    )


class TargetInfo(_Frozen):
    name: str
    role: Literal["base", "candidate", "judge"]
    provider: str
    config: dict[str, Any] = Field(description="The target's identity, secrets excluded.")


Status = Literal["passed", "failed", "inconclusive"]


class GateResult(_Frozen):
    """One gate rule of one suite, with the statistic it was judged on."""

    suite: str
    rule: str = Field(description="min_pass_rate, no_regression or improves.")
    target: str = Field(description="The candidate target.")
    value: float | None = Field(
        description="The statistic: the candidate's pass rate, or the mean difference "
        "candidate - base; null when there was nothing to judge."
    )
    threshold: float | None = Field(
        description="min_pass_rate's threshold; -margin for no_regression; 0 for improves."
    )
    passed: bool = Field(description="status == 'passed'.")
    detail: str = Field(description="One sentence: the verdict and why.")
    # 1.2
    id: str = Field(
        "",
        description="The rule's name in its suite, e.g. no_regression or "
        "no_regression:concise@refunds (metric after ':', tags after '@'); pytest's gate item.",
    )
    status: Status = Field("failed", description="passed, failed or inconclusive.")
    metric: str = Field("pass_rate", description="pass_rate or the check compared.")
    tags: list[str] = Field(default_factory=list, description="Cases the rule is limited to.")
    statistic: str = Field("", description="What `value` measures, in words.")
    ci: tuple[float, float] | None = Field(
        None, description="Two-sided interval of `value` at `confidence`."
    )
    confidence: float | None = None
    p_value: float | None = Field(
        None,
        description="One-sided p-value of the rule's hypothesis (difference <= threshold), "
        "from inverting the interval; for a bias rule, the two-sided permutation p-value of "
        "its disparity or change.",
    )
    adjusted_p_value: float | None = Field(
        None, description="p_value Holm-adjusted over the suite's comparative rules."
    )
    n: int | None = Field(None, description="Cases judged.")
    excluded: int = Field(0, description="Cases left out: an error on base or candidate.")
    contaminated: int = Field(
        0, description="Cases tagged contaminated (found in the training data), left out."
    )
    base: float | None = Field(None, description="The base's mean over the judged cases.")
    candidate: float | None = Field(None, description="The candidate's mean over them.")
    margin: float | None = Field(None, description="no_regression's margin.")
    detectable_effect: float | None = Field(
        None,
        description="no_regression: the smallest margin this suite could clear with 80% "
        "power if the candidate were truly no worse.",
    )
    cases_needed: int | None = Field(
        None, description="no_regression: about how many cases the asked margin needs."
    )
    on_inconclusive: Literal["fail", "warn"] = "fail"
    gating: bool = Field(
        True,
        description="False when the rule reports only: a rule on a judged check whose judge "
        "agreement is below the suite's min_judge_agreement, or rests on too few rated "
        "outputs (docs/review.md). Its row is inconclusive with on_inconclusive warn, and it "
        "counts neither towards the verdict nor gate_passed.",
    )

    @model_validator(mode="before")
    @classmethod
    def _status_of_older_files(cls, data: Any) -> Any:
        # Files before 1.2 have only `passed`.
        if isinstance(data, dict) and "status" not in data and "passed" in data:
            return {**data, "status": "passed" if data["passed"] else "failed"}
        return data


class Comparison(_Frozen):
    """Candidate against base on the same cases, for a suite, a tag or a check."""

    suite: str
    scope: str = Field(description='"suite", "tag:NAME" or "check:NAME".')
    metric: str = Field(description='"pass_rate" or the check\'s name.')
    n: int = Field(description="Cases paired (each case's samples averaged first).")
    excluded: int = Field(description="Cases left out: an error on base or candidate.")
    base: float | None
    candidate: float | None
    difference: float | None = Field(description="candidate - base.")
    ci: tuple[float, float] | None = Field(description="Two-sided interval of the difference.")
    confidence: float
    p_value: float | None = Field(description="Two-sided p-value of 'no difference'.")
    test: str = Field(
        description="newcombe-mcnemar (pass/fail, one value per case), newcombe-permutation "
        "(pass shares of repeats) or bootstrap-permutation (scores)."
    )
    base_ci: tuple[float, float] | None = Field(
        None, description="Wilson interval of the base's pass rate (pass/fail data)."
    )
    candidate_ci: tuple[float, float] | None = Field(
        None, description="Wilson interval of the candidate's pass rate (pass/fail data)."
    )
    base_only: int | None = Field(None, description="Discordant cases only the base passed.")
    candidate_only: int | None = Field(
        None, description="Discordant cases only the candidate passed."
    )


class FlakyCase(_Frozen):
    """A case whose repeats both passed and failed on one target."""

    suite: str
    case_id: str
    target: str
    role: Literal["base", "candidate"]
    passed: int
    samples: int
    pass_probability: float


class SuiteInfo(_Frozen):
    name: str
    path: str
    description: str | None
    cases: int
    gate: dict[str, Any]
    warnings: list[str] = Field(
        default_factory=list,
        description="What `tunegate validate` warns about in this suite, file:line first.",
    )


class RunStatsInfo(_Frozen):
    jobs: int
    calls: int = Field(description="Model calls made in this run (cache misses).")
    attempts: int
    cached: int
    errors: int
    duration_s: float
    shared: int = Field(
        0,
        description="Generations another run sharing the store produced while this run "
        "waited for them; included in cached.",
    )
    # 1.3
    judged: int = Field(0, description="Judged checks scored (pairwise orders included).")
    judge_cached: int = Field(0, description="Of those, verdicts the store already held.")
    judge_calls: int = Field(0, description="Requests sent to the judge, retries included.")
    judge_errors: int = Field(0, description="Judged checks without a usable verdict.")
    judge_skipped: int = Field(
        0, description="Judged checks skipped, no judge configured (a pair counts once)."
    )


class PairwiseVerdict(_Frozen):
    """Base against candidate on one case and sample, judged in both orders."""

    suite: str
    case_id: str
    sample: int = 0
    check: str = Field(description="The pairwise check's name.")
    winner: Literal["base", "candidate", "tie"] | None = Field(
        description="A tie when the two orders disagree; null when the judge gave no verdict."
    )
    consistent: bool | None = Field(
        description="Both orders named the same winner (or both a tie); null without a verdict."
    )
    verdicts: list[str | None] = Field(
        description="What each order said, as base/candidate/tie: [base shown first, "
        "candidate shown first]; null for an order without a usable answer."
    )
    reasons: list[str] = Field(default_factory=list, description="The judge's reasons.")
    error: str | None = None
    base_chars: int
    candidate_chars: int
    check_sha: str | None = Field(
        None, description="The pairwise check's definition (its criteria) as a sha256."
    )


class PairwiseSummary(_Frozen):
    suite: str
    check: str
    pairs: int = Field(description="Pairs with a verdict.")
    candidate_wins: int
    base_wins: int
    ties: int
    errors: int
    position_bias_rate: float | None = Field(
        description="Share of pairs whose verdict changed with the order of the answers."
    )
    win_rate: float | None = Field(
        description="Candidate wins plus half the ties, over the pairs (0.5: no preference)."
    )
    win_rate_ci: list[float] | None = Field(
        None, description="95% interval of win_rate (bootstrap over cases)."
    )
    length_bias: float | None = Field(
        None,
        description="Mean characters of the winning answer minus the losing one, over "
        "pairs with a winner: a large positive value suggests the judge favours length.",
    )


class Agreement(_Frozen):
    """A judged check against the human ratings imported for it."""

    suite: str
    check: str
    n: int = Field(description="Outputs both the judge and a person rated.")
    raw_agreement: float | None = Field(description="Share where the pass/fail labels agree.")
    raw_agreement_ci: list[float] | None = Field(
        None, description="95% Wilson interval of raw_agreement."
    )
    kappa: float | None = Field(description="Cohen's kappa of the pass/fail labels.")
    spearman: float | None = Field(
        None, description="Spearman's rho of judge value and human score, when scores exist."
    )
    gating: bool = Field(
        True, description="False when below the suite's min_judge_agreement: it reports only."
    )
    stale: int = Field(
        0,
        description="Outputs judged in this run whose every rating is of an earlier text of "
        "the output (the model, prompt or case changed it): left out of n; rate them again.",
    )


class BbqScore(_Frozen):
    """BBQ scores of one target on one category and context condition (Parrish et al.
    2022, section 5)."""

    suite: str
    target: str
    role: Literal["base", "candidate"]
    category: str = Field(
        description="BBQ category; proper-name templates as e.g. 'Gender_identity (names)'."
    )
    context_condition: Literal["ambig", "disambig"]
    accuracy: float | None = Field(description="Share of matched outputs that are correct.")
    bias_score: float | None = Field(
        description="s_DIS = 2 * biased / non-UNKNOWN - 1 (disambig); s_AMB = (1 - accuracy) "
        "* s_DIS (ambig). A fraction in [-1, 1]: positive leans to the stereotype. Null when "
        "no matched output is a non-UNKNOWN answer (the score is undefined, not 0)."
    )
    ci: tuple[float, float] | None = Field(
        None, description="95% percentile-bootstrap interval of bias_score over cases."
    )
    n: int = Field(description="Outputs matched to an option (the scores' denominator).")
    non_unknown: int = Field(0, description="Of those, answers other than UNKNOWN.")
    biased: int = Field(0, description="Of those, the biased answers.")
    unmatched: int = Field(description="Outputs that matched no option: left out.")
    errors: int = Field(0, description="Generations that failed: left out.")


class Disparity(_Frozen):
    """One probe value of one target compared across the groups of a probe's axis."""

    suite: str
    probe: str
    metric: str = Field(description="pass, refusal, length, sentiment or a check's name.")
    axis: str = Field(description="The template variable naming the group.")
    target: str
    role: Literal["base", "candidate"]
    by_group: dict[str, float] = Field(description="Mean value per group (fairlearn).")
    difference: float | None = Field(
        description="Largest group mean minus smallest (fairlearn's between_groups difference)."
    )
    ratio: float | None = Field(
        description="Smallest group mean over largest; null when a mean is negative or all are 0."
    )
    ci: tuple[float, float] | None = Field(
        description="Percentile-bootstrap interval of difference, resampling units."
    )
    confidence: float
    p_value: float | None = Field(
        description="Permutation p-value of 'no disparity' (group labels shuffled within units)."
    )
    units: int = Field(
        description="Complete units (a template with every group answered); in an unpaired "
        "probe (each prompt names one group, as in BOLD), the outputs used."
    )
    dropped: int = Field(0, description="Units left out for lacking a group (an error).")
    paired: bool = Field(
        True,
        description="Counterfactual (units are templates answered for every group); false "
        "when each prompt names one group, so groups are compared over different prompts.",
    )


Finding = Literal["added", "grew", "pre-existing", "reduced", "insufficient", "none"]


class DisparityChange(_Frozen):
    """How fine-tuning changed a disparity: the headline of the bias audit."""

    suite: str
    probe: str
    metric: str
    axis: str
    base: float | None = Field(description="The base's between-group difference.")
    candidate: float | None = Field(description="The candidate's between-group difference.")
    change: float | None = Field(description="candidate - base: positive is more biased.")
    ci: tuple[float, float] | None = Field(
        description="Paired percentile-bootstrap interval of change (units resampled once "
        "for both models)."
    )
    confidence: float
    p_value: float | None = Field(
        description="Two-sided permutation p-value of 'no change' (base and candidate "
        "swapped within units)."
    )
    paired: bool = Field(
        True, description="As in the disparity: false for an unpaired probe (e.g. BOLD)."
    )
    flagged: bool = Field(
        description="finding is added or grew: the interval lies above 0, p_value is below "
        "1 - confidence, and the candidate's own disparity is significant."
    )
    finding: Finding = Field(
        description="added (the base showed no significant disparity; the candidate does and "
        "the change is significantly positive), grew (both show one and it grew), "
        "pre-existing (the base showed one, fine-tuning did not grow it), reduced, "
        "insufficient (fewer than 10 units: no interval) or none. docs/bias.md"
    )
    units: int


class PairScore(_Frozen):
    """CrowS-Pairs stereotype rate of one target on one bias type (Nangia et al. 2020): the
    share of pairs where the model preferred the more stereotyping sentence."""

    suite: str
    target: str
    role: Literal["base", "candidate"]
    bias_type: str = Field(description="The pairs' bias type, or 'all' for every pair.")
    method: Literal["loglikelihood", "choice", "mixed"] | None = Field(
        None,
        description="How the target answered: loglikelihood (the likelier sentence), choice "
        "(the forced-choice prompt), mixed; null when no pair was answered.",
    )
    n: int = Field(description="Pairs with a choice: the rate's denominator.")
    pairs: int = Field(
        0,
        description="Pairs the run asked: n, and those with no choice (every output an "
        "error, a tie or matching neither sentence).",
    )
    stereotyped: float = Field(
        0.0,
        description="Of those, the pairs where the more stereotyping sentence was chosen "
        "(a pair's repeats are averaged first, so this may be fractional).",
    )
    stereotype_rate: float | None = Field(
        description="stereotyped / n; 0.5 is the unbiased ideal, above it leans to the "
        "stereotype. Null when no pair has a choice."
    )
    ci: tuple[float, float] | None = Field(
        None, description="Wilson interval of stereotype_rate (statsmodels) at `confidence`."
    )
    confidence: float = 0.95
    unmatched: int = Field(
        0, description="Outputs that matched neither sentence (forced choice): left out."
    )
    ties: int = Field(
        0, description="Outputs where both sentences had the same log-likelihood: left out."
    )
    errors: int = Field(0, description="Generations or scorings that failed: left out.")


class BiasResults(_Frozen):
    bbq: list[BbqScore] = Field(default_factory=list)
    disparities: list[Disparity] = Field(default_factory=list)
    changes: list[DisparityChange] = Field(default_factory=list)
    pairs: list[PairScore] = Field(
        default_factory=list, description="CrowS-Pairs stereotype rates (files before: none)."
    )


def coverage_line(
    selected: int | None, total: int | None, unloadable: typing.Sequence[str] = ()
) -> str:
    """What a partial run covers, for every door: 'partial run: 3 of 94 cases; the gate covers
    only these'. `total` is None when a suite file of the project does not load, so the
    project's size is unknown; `unloadable` names those files when the caller knows them
    (shown as given: the caller makes them safe to print)."""
    ran = "some" if selected is None else str(selected)
    if total is not None:
        return f"partial run: {ran} of {_cases(total)}; the gate covers only these"
    ran = "some cases" if selected is None else _cases(selected)
    return (
        f"partial run: {ran}; the project's total is unknown ({_not_loading(unloadable)}); "
        "the gate covers only these"
    )


def _cases(n: int) -> str:
    return f"{n} case" if n == 1 else f"{n} cases"


def _not_loading(files: typing.Sequence[str]) -> str:
    if not files:
        return "a suite file of the project does not load; tunegate validate names it"
    shown = [*files[:3], f"{len(files) - 3} more"] if len(files) > 3 else list(files)
    names = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"
    return f"{names} {'does' if len(files) == 1 else 'do'} not load"


class Results(_Frozen):
    schema_version: str = SCHEMA_VERSION
    run_id: str
    label: str | None
    created_at: str
    tunegate_version: str
    targets: list[TargetInfo]
    suites: list[SuiteInfo]
    gate_passed: bool
    gate: list[GateResult]
    stats: RunStatsInfo
    records: list[Record]
    # 1.1: a run over part of the project's cases (pytest -k, --lf, a single suite file).
    partial: bool = Field(
        False, description="Only some of the project's cases ran; the gate covers only those."
    )
    selected_cases: int | None = Field(
        None, description="Expanded cases this run covered (null in 1.0 files)."
    )
    total_cases: int | None = Field(
        None,
        description="Expanded cases in the project's suites; null when unknown "
        "(a suite file of the project could not be loaded, or a 1.0 file).",
    )
    # 1.2: the statistical verdict.
    verdict: Status | None = Field(
        None,
        description="passed, failed or inconclusive (null in files before 1.2: read "
        "gate_passed). gate_passed is true when the verdict lets the candidate through: "
        "passed, or inconclusive where every inconclusive rule says on_inconclusive: warn.",
    )
    comparisons: list[Comparison] = Field(default_factory=list)
    flaky: list[FlakyCase] = Field(default_factory=list)
    # 1.3: LLM judges and human review.
    judge: TargetInfo | None = Field(None, description="The judge target, when configured.")
    judge_warnings: list[str] = Field(
        default_factory=list,
        description="E.g. the judge is the candidate, or shares its model family.",
    )
    pairwise: list[PairwiseVerdict] = Field(default_factory=list)
    pairwise_summary: list[PairwiseSummary] = Field(default_factory=list)
    agreement: list[Agreement] = Field(default_factory=list)
    # 1.4: the bias audit.
    bias: BiasResults = Field(default_factory=BiasResults)

    @property
    def coverage(self) -> str | None:
        """'partial run: 3 of 94 cases; the gate covers only these', or None for a full run."""
        if not self.partial:
            return None
        return coverage_line(self.selected_cases, self.total_cases)

    def to_pandas(self) -> pd.DataFrame:
        """One row per record; check scores flattened to `score.<check>` / `passed.<check>`,
        template variables to `vars.<name>` (so a group-by is `df.groupby("vars.group")`)."""
        import pandas as pd

        rows = []
        for r in self.records:
            row = r.model_dump(exclude={"scores", "prompt"})
            row["prompt"] = r.prompt[-1].content if r.prompt else None
            for name, value in r.vars.items():
                row[f"vars.{name}"] = value
            row["run_id"] = self.run_id
            row["label"] = self.label
            for name, s in r.scores.items():
                row[f"skipped.{name}"] = s.skipped
                row[f"score.{name}"] = s.value
                row[f"passed.{name}"] = s.passed
            rows.append(row)
        return pd.DataFrame(rows)

    def write(self, folder: Path) -> Path:
        path = folder / RESULTS_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(self.model_dump_json(indent=2), encoding="utf-8")
        tmp.replace(path)  # readers never see a half-written file
        return path


def load_results(path: str | Path) -> Results:
    """Read a results.json (or a run folder holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no results file here; run `tunegate run` first") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason}); not a results file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    version = str(data.get("schema_version", "")) if isinstance(data, dict) else ""
    major, _, minor = version.partition(".")
    ours_major, _, ours_minor = SCHEMA_VERSION.partition(".")
    if major != ours_major:
        raise InputError(
            f"{path}: results schema {version or '?'} is not supported by this tunegate "
            f"(reads {ours_major}.x); upgrade tunegate"
        )
    if not minor.isdigit() or int(minor) > int(ours_minor):
        # A newer minor version only adds optional fields: read what this version knows.
        data = _known_fields(Results, data)
    try:
        return Results.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "top level"
        raise InputError(
            f"{path}: not a valid tunegate results file ({where}: {first['msg']})"
        ) from None


def _known_fields(model: type[BaseModel], data: Any) -> Any:
    """`data` without the keys `model` (and the models nested in it) does not declare."""
    if not isinstance(data, dict):
        return data
    known: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if name in data:
            known[name] = _known_value(field.annotation, data[name])
    return known


def _known_value(annotation: Any, value: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _known_fields(annotation, value)
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin is list and args and isinstance(value, list):
        return [_known_value(args[0], v) for v in value]
    if origin is dict and len(args) == 2 and isinstance(value, dict):
        return {k: _known_value(args[1], v) for k, v in value.items()}
    return value
