"""The metric extension point: one Protocol, one result type, one error.

A metric class has, as class attributes:

- `name`, `args_model`, `default_threshold`, `description` (required);
- `value_range` (optional, default `(0.0, 1.0)`): the closed interval its values lie in. A
  suite's `threshold` must lie inside it, since one outside passes or fails every output.

`score` returns a `MetricResult`, or raises `MetricError` when it cannot score this output
(a regex that timed out, a judge that gave no verdict): the check is then recorded as
unscored (value null, failed) with the error's message as its reason, never as a pass.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from ..errors import TunegateError

__all__ = [
    "DEFAULT_VALUE_RANGE",
    "Metric",
    "MetricArgs",
    "MetricError",
    "MetricInput",
    "MetricResult",
    "value_range",
]

DEFAULT_VALUE_RANGE: tuple[float, float] = (0.0, 1.0)


class MetricError(TunegateError):
    """This output could not be scored; the message says why and is shown on the check."""


class MetricArgs(BaseModel):
    """Base for a metric's `args`: unknown keys and NaN/infinity are errors, as in a suite."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)

    def missing_input(self, *, reference: str | None) -> str | None:
        """Why these args would fail every sample of a case with this reference, else None.

        The loader turns a message into a load error at the check. Override it when an
        argument falls back to the case (as `contains` falls back to the reference). An
        override may also take the case's context as a keyword, `context: str | None = None`
        (as `faithfulness` does): the loader passes it to overrides that declare it, so
        overrides written for the reference alone keep working.
        """
        return None


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
    """A score in the metric's `value_range`; `reason` is shown on failure.

    A value that is not a finite number raises MetricError here, so a broken metric makes
    its check unscored instead of passing (`inf >= threshold` is true).
    """

    value: float
    reason: str = ""

    def __post_init__(self) -> None:
        value: Any = self.value
        if not isinstance(value, numbers.Real):
            raise MetricError(f"the metric returned {value!r}, not a number")
        if not math.isfinite(value):
            raise MetricError(f"the metric returned {value!r}, not a finite number")
        # numpy scalars and bools become plain floats, so results serialise the same way.
        object.__setattr__(self, "value", float(value))


@runtime_checkable
class Metric(Protocol):
    """A named scorer. `score` may be sync or async (LLM judges are async)."""

    name: ClassVar[str]
    args_model: ClassVar[type[MetricArgs]]
    default_threshold: ClassVar[float]
    description: ClassVar[str]

    def score(self, sample: MetricInput, args: Any) -> MetricResult | Awaitable[MetricResult]: ...


def value_range(metric: Metric) -> tuple[float, float]:
    """The metric's declared `value_range`, or (0, 1) when it declares none."""
    declared = getattr(metric, "value_range", DEFAULT_VALUE_RANGE)
    try:
        low, high = (float(v) for v in declared)
    except (TypeError, ValueError):
        return DEFAULT_VALUE_RANGE
    return (low, high) if low <= high else DEFAULT_VALUE_RANGE
