"""The provider extension point: one Protocol for anything that turns messages into text."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from ..errors import ProviderError
from ..suite import GenerationParams

__all__ = [
    "DEFAULT_MAX_OUTPUT_CHARS",
    "REFUSAL",
    "Generation",
    "GenerationRequest",
    "OutputLimitOptions",
    "Provider",
    "ProviderContext",
    "ProviderFactory",
    "ProviderOptions",
    "TokenLogprob",
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

    def where(self, option: str | None = None) -> str:
        """`tunegate.yaml:7:5: target 'x'`: where to fix the target or one of its options."""
        place = self.locations.get(option or "") or self.locations.get("") or "tunegate.yaml"
        return f"{place}: target '{self.target}'"


class ProviderFactory(Protocol):
    options_model: type[ProviderOptions]

    def __call__(self, options: Any, context: ProviderContext) -> Provider: ...
