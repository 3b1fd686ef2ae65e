"""The Python entry point: what the CLI does, callable from a notebook or a training loop."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .config import LoadedConfig, load_project_config
from .suite import load_suites
from .suite.files import check_suite_arguments

if TYPE_CHECKING:
    from .execution import EvaluationOutcome

__all__ = ["run"]


def run(
    suites: Sequence[str | Path] | None = None,
    *,
    candidate: str | None = None,
    base: str | None = None,
    label: str | None = None,
    config: str | Path | LoadedConfig | None = None,
    out: str | Path | None = None,
    progress: bool | None = False,
    judge: str | None = None,
) -> EvaluationOutcome:
    """Run suites against the candidate (and base) targets; raises TunegateError on bad input.

    Defaults come from the project config: its suites, base, candidate and judge. The outcome holds
    the results (`outcome.results.gate_passed`) and the paths of everything written. `out`
    moves the run folders only: the store stays where the config puts it (`store:`, else
    `<config out>/tunegate.db`), as it is the cache every run shares.
    """
    # Imported here, not at the top: `import tunegate` should not pay for the statistics
    # stack (scipy, statsmodels) before anything needs it.
    from .execution import EvaluationRequest, evaluate

    loaded = config if isinstance(config, LoadedConfig) else load_project_config(config)
    base, candidate = loaded.roles(base, candidate)
    paths = (
        [Path(p) for p in suites] if suites else [loaded.resolve(p) for p in loaded.config.suites]
    )
    check_suite_arguments(paths)  # `/`, a device, a FIFO: refused before any walk or read
    return evaluate(
        EvaluationRequest(
            suites=load_suites(paths),
            config=loaded,
            base=base,
            candidate=candidate,
            out_root=Path(out) if out is not None else None,
            label=label,
            progress=progress,
            judge=loaded.judge(judge),
        )
    )
