"""Concrete, fully resolved cases: what the runner, scorer and gate consume."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SourceLocation
from ..metrics import MetricArgs
from .format import BbqSpec, BiasSpec, GateSpec, GenerationParams, PairMethod, PairSpec

__all__ = ["Case", "ResolvedCheck", "Suite", "SuiteWarning"]


@dataclass(frozen=True)
class SuiteWarning:
    """Something in a suite that loads but will probably not do what its author meant."""

    location: SourceLocation
    message: str

    def __str__(self) -> str:
        return f"{self.location}: warning: {self.message}"


@dataclass(frozen=True)
class ResolvedCheck:
    name: str
    metric: str
    args: MetricArgs
    threshold: float
    weight: float
    # Recorded and shown, but not part of the case's pass/fail.
    report_only: bool = False


@dataclass(frozen=True)
class Case:
    """One expanded case: a template with its variables filled in, checks resolved."""

    suite: str
    id: str
    template_id: str
    messages: tuple[tuple[str, str], ...]
    prompt: str
    location: SourceLocation
    params: GenerationParams
    repeats: int = 1
    context: str | None = None
    reference: str | None = None
    tags: tuple[str, ...] = ()
    vars: dict[str, str] = field(default_factory=dict)
    checks: tuple[ResolvedCheck, ...] = ()
    bbq: BbqSpec | None = None
    pair: PairSpec | None = None
    # The suite's `bias.pair_method`, for a pair case (the runner resolves `auto` per target).
    pair_method: PairMethod = "auto"

    @property
    def message_dicts(self) -> list[dict[str, str]]:
        return [{"role": role, "content": content} for role, content in self.messages]


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    gate: GateSpec
    cases: tuple[Case, ...]
    description: str | None = None
    warnings: tuple[SuiteWarning, ...] = ()
    bias: BiasSpec = field(default_factory=BiasSpec)
