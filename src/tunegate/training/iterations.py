"""Gate one training iteration: an adapter (or a target) run through the suites, recorded
in the store as `iteration-N`. Shared by the training callback and `tunegate watch`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ..api import run
from ..config import LoadedConfig
from ..execution import EvaluationOutcome
from ..paths import display_path
from ..providers.llama_cpp_provider import LlamaCppOptions
from ..providers.packaged_models import resolve_packaged_model
from ..report import headline
from ..results import Results

__all__ = ["IterationResult", "gate_iteration", "mean_pass_rate", "template_model_path"]

log = logging.getLogger("tunegate")


@dataclass(frozen=True)
class IterationResult:
    number: int
    label: str
    candidate: str
    verdict: str
    gate_passed: bool
    pass_rate: float | None  # the candidate's pass rate over its usable, uncontaminated samples
    run_id: str
    report: Path
    results: Results | None = None

    def line(self) -> str:
        rate = "–" if self.pass_rate is None else f"{self.pass_rate:.0%}"
        named = self.label if self.candidate == self.label else f"{self.label} ({self.candidate})"
        return (
            f"tunegate: {named}: {self.verdict}, candidate pass rate {rate}; "
            f"report: {display_path(self.report)}"
        )


def mean_pass_rate(outcome: EvaluationOutcome) -> float | None:
    # As the gate counts: no errors, no cases found in the training data.
    mine = [
        r
        for r in outcome.results.records
        if r.role == "candidate" and r.error is None and "contaminated" not in r.tags
    ]
    return sum(r.passed for r in mine) / len(mine) if mine else None


def template_model_path(loaded: LoadedConfig, template: str) -> Path:
    """The GGUF a llama-cpp target serves (to convert adapters against it)."""
    options = loaded.target_options.get(template)
    if not isinstance(options, LlamaCppOptions):
        from ..errors import ConfigError

        raise ConfigError(f"target '{template}' is not a llama-cpp target; name one that is")
    if options.model_path is not None:
        return loaded.resolve(options.model_path)
    return resolve_packaged_model(options.model_package or "")


def gate_iteration(
    loaded: LoadedConfig,
    *,
    number: int,
    candidate: str,
    suites: list[Path] | None,
    base: str | None,
    out: Path | None,
    label_prefix: str = "iteration",
) -> IterationResult:
    label = f"{label_prefix}-{number}"
    outcome = run(suites, candidate=candidate, base=base, label=label, config=loaded, out=out)
    results = outcome.results
    result = IterationResult(
        number=number,
        label=label,
        candidate=candidate,
        verdict=results.verdict or ("passed" if results.gate_passed else "failed"),
        gate_passed=results.gate_passed,
        pass_rate=mean_pass_rate(outcome),
        run_id=results.run_id,
        report=outcome.report_path,
        results=results,
    )
    log.info("%s: %s", label, headline(results))
    return result
