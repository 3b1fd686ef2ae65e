"""The metric extension point: one Protocol, one result type."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

__all__ = ["Metric", "MetricArgs", "MetricInput", "MetricResult"]


class MetricArgs(BaseModel):
    """Base for a metric's `args`: unknown keys are errors, like everywhere in a suite."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class MetricInput:
    """What a metric sees of one generation."""

    output: str
    prompt: str
    reference: str | None = None
    context: str | None = None
    vars: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricResult:
    """A score in [0, 1] unless the metric documents otherwise; `reason` is shown on failure."""

    value: float
    reason: str = ""


@runtime_checkable
class Metric(Protocol):
    """A named scorer. `score` may be sync or async (LLM judges are async)."""

    name: ClassVar[str]
    args_model: ClassVar[type[MetricArgs]]
    default_threshold: ClassVar[float]
    description: ClassVar[str]

    def score(self, sample: MetricInput, args: Any) -> MetricResult | Awaitable[MetricResult]: ...
