"""The provider extension point: one Protocol for anything that turns messages into text,
and an optional one for scoring a given text by its log-likelihood."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from ..errors import ConfigError, ProviderError
from ..suite import GenerationParams

__all__ = [
    "DEFAULT_MAX_OUTPUT_CHARS",
    "REFUSAL",
    "Generation",
    "GenerationRequest",
    "Loglikelihood",
    "LoglikelihoodRequest",
    "LoglikelihoodUnsupported",
    "OutputLimitOptions",
    "Provider",
    "ProviderContext",
    "ProviderFactory",
    "ProviderOptions",
    "ScoresText",
    "TokenLogprob",
    "check_loglikelihood",
    "is_logprob",
    "require_loglikelihood",
    "supports_loglikelihood",
]


# The longest output a target may return. Real answers are far shorter (max_tokens bounds
# them); anything longer is a broken or hostile server, refused before it fills the memory.
DEFAULT_MAX_OUTPUT_CHARS = 1_000_000
# `Generation.finish_reason` of an output that is the model's refusal (OpenAI's
# `message.refusal`); the store keeps finish_reason, so a cached refusal stays one.
REFUSAL = "refusal"


class ProviderOptions(BaseModel):
    """Base for a provider's options in tunegate.yaml; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


class OutputLimitOptions(ProviderOptions):
    """Options of a provider that enforces `max_output_chars` (every built-in one does;
    a plugin's options may derive from this and call `check_output`)."""

    max_output_chars: int = Field(
        DEFAULT_MAX_OUTPUT_CHARS,
        ge=1,
        description="A longer output (or HTTP body) is an error on that generation, "
        "never read whole.",
    )

    def check_output(self, target: str, text: str, what: str | None = None) -> None:
        """A ProviderError when `text` is longer than max_output_chars (not retried: the
        same call would return as much again)."""
        if len(text) > self.max_output_chars:
            raise ProviderError(
                f"{what or f'the output of {target}'} is {len(text):,} characters, over "
                f"max_output_chars ({self.max_output_chars:,}); lower max_tokens, or raise "
                f"targets.{target}.max_output_chars"
            )


@dataclass(frozen=True)
class GenerationRequest:
    suite: str
    case_id: str
    sample: int
    messages: list[dict[str, str]]
    params: GenerationParams

    @property
    def seed(self) -> int:
        return self.params.seed + self.sample

    def sampling_args(self, target_stop: list[str] | None = None) -> dict[str, Any]:
        """OpenAI-style sampling arguments; the suite's stop strings come before the target's."""
        p = self.params
        args: dict[str, Any] = {
            "max_tokens": p.max_tokens,
            "temperature": p.temperature,
            "seed": self.seed,
        }
        if p.top_p is not None:
            args["top_p"] = p.top_p
        stop = [*(p.stop or []), *(target_stop or [])]
        if stop:
            args["stop"] = stop
        return args


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    logprob: float | None  # None when the server gave none (or not a finite number)


@dataclass(frozen=True)
class Generation:
    text: str
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    logprobs: list[TokenLogprob] | None = None
    # The exact text sent to a plain-completion model, for the record.
    rendered_prompt: str | None = None

    @property
    def refused(self) -> bool:
        """The text is the model's refusal, not an answer."""
        return self.finish_reason == REFUSAL


@runtime_checkable
class Provider(Protocol):
    """A configured target. `fingerprint` is its identity in the cache: never a secret.

    A provider may also define `async warm_up()`: a run awaits it before its first call to
    the target (load a model, check the endpoint); a ConfigError there stops the run. And a
    class attribute `keyed_by_case = True` when its output depends on the case rather than on
    the prompt (recorded outputs), so the case joins the cache key.
    """

    target: str
    default_concurrency: ClassVar[int]

    def fingerprint(self) -> Mapping[str, Any]: ...

    async def generate(self, request: GenerationRequest) -> Generation: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class ProviderContext:
    """What a factory may need beyond its options.

    A factory must be cheap: `tunegate validate` calls every configured target's factory
    to check files, keys and packages. Load models lazily, in `warm_up()` or on first use.
    Raise ConfigError starting with `context.where(option)` for what the user must fix.
    """

    target: str
    config_dir: Path
    # Secret values the factory read (API keys): redacted from everything written.
    secrets: set[str] = field(default_factory=set)
    # Where the target ("") and each of its options are written, e.g. "tunegate.yaml:7:5".
    locations: Mapping[str, str] = field(default_factory=dict)
    # The target's `timeout` (seconds per request), for calls a provider makes on its own,
    # e.g. a pre-run check; None when the builder does not say.
    timeout: float | None = None
    # What the user should know though it need not stop a run (e.g. no API key sent):
    # `tunegate validate` prints them as warnings.
    notes: list[str] = field(default_factory=list)

    def where(self, option: str | None = None) -> str:
        """`tunegate.yaml:7:5: target 'x'`: where to fix the target or one of its options."""
        place = self.locations.get(option or "") or self.locations.get("") or "tunegate.yaml"
        return f"{place}: target '{self.target}'"


class ProviderFactory(Protocol):
    options_model: type[ProviderOptions]

    def __call__(self, options: Any, context: ProviderContext) -> Provider: ...


# -- optional capability: the log-likelihood of a given text --------------------------------

# A log-probability a little above 0 is rounding in a server's log-softmax; more is a wrong
# number, refused rather than summed.
LOGPROB_TOLERANCE = 1e-3
NOTHING_TO_SCORE = (
    "nothing to score: the text is empty, or is one token with no prefix (nothing "
    "predicts a text's first token)"
)


@dataclass(frozen=True)
class LoglikelihoodRequest:
    """Score `text` given `prefix`: only the text's tokens count, each conditioned on
    everything before it. With no prefix, every token after the first counts (the first
    is the model's BOS when it adds one; otherwise the text's own first token, which
    nothing predicts)."""

    text: str
    prefix: str = ""

    def split(self) -> tuple[str, str]:
        """(context, continuation): the prefix's trailing whitespace moves to the text, so
        the boundary falls between tokens (tokenizers attach a space to the next word)."""
        context = self.prefix.rstrip()
        return context, self.prefix[len(context) :] + self.text


@dataclass(frozen=True)
class Loglikelihood:
    """The total log-probability (natural log) of the scored tokens, how many there were,
    and, when the provider gives them, each token with its log-probability."""

    logprob: float
    tokens: int
    token_logprobs: list[TokenLogprob] | None = None


@runtime_checkable
class ScoresText(Protocol):
    """A provider that can score a text by its log-likelihood under the model.

    A provider whose ability depends on its configuration (an openai target in chat mode,
    a python function without a scorer) also defines `cannot_score()`, returning the
    LoglikelihoodUnsupported to raise then (None when it can), and its `loglikelihood`
    raises that. Per-call failures are ProviderErrors.
    """

    target: str

    async def loglikelihood(self, request: LoglikelihoodRequest) -> Loglikelihood: ...


class LoglikelihoodUnsupported(ConfigError):
    """The target cannot score text by log-likelihood: a configuration matter (pick another
    target or method), so it stops the run rather than failing every case alike."""

    def __init__(self, target: str, provider: str, why: str = "") -> None:
        self.target = target
        super().__init__(
            f"target '{target}' ({provider}) cannot score text by log-likelihood"
            f"{': ' + why if why else ''}; use a llama-cpp target, or an openai target in "
            "completion mode on a server that returns prompt log-probabilities (vLLM, "
            "llama.cpp server), or method: choice"
        )


def supports_loglikelihood(provider: object) -> bool:
    """Whether `provider`, as configured, can score text by log-likelihood."""
    return isinstance(provider, ScoresText) and _cannot_score(provider) is None


def require_loglikelihood(provider: Provider) -> ScoresText:
    """`provider` as a ScoresText, or LoglikelihoodUnsupported naming the target."""
    if isinstance(provider, ScoresText):
        problem = _cannot_score(provider)
        if problem is None:
            return provider
        raise problem
    try:
        kind = f"provider {provider.fingerprint()['provider']}"
    except Exception:  # a plugin's fingerprint may hold anything
        kind = type(provider).__name__
    raise LoglikelihoodUnsupported(provider.target, kind)


def _cannot_score(provider: object) -> LoglikelihoodUnsupported | None:
    cannot = getattr(provider, "cannot_score", None)
    problem = cannot() if callable(cannot) else None
    return problem if isinstance(problem, LoglikelihoodUnsupported) else None


def check_loglikelihood(result: object, what: str) -> Loglikelihood:
    """`result` if it is a Loglikelihood with believable numbers, else a ProviderError:
    a wrong number must never be scored as if it were right."""
    if not isinstance(result, Loglikelihood):
        raise ProviderError(f"{what} returned {type(result).__name__}, not a Loglikelihood")
    total, count = result.logprob, result.tokens
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ProviderError(f"{what} gave {count!r} scored tokens; it must be at least 1")
    if not is_logprob(total):
        raise ProviderError(f"{what} gave the log-likelihood {total!r}, not a finite number <= 0")
    if result.token_logprobs is not None and len(result.token_logprobs) != count:
        raise ProviderError(
            f"{what} gave {len(result.token_logprobs)} token log-probabilities for {count} "
            "scored tokens"
        )
    for token in result.token_logprobs or []:
        if not is_logprob(token.logprob):
            raise ProviderError(
                f"{what} gave the token log-probability {token.logprob!r}, not a finite number <= 0"
            )
    return result


def is_logprob(value: object) -> bool:
    """A finite number <= 0 (give or take rounding): what a log-probability can be."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value <= LOGPROB_TOLERANCE
    )
