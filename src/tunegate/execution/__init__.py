"""The run stage: targets, jobs, the runner with its retries, the store, scoring.

`evaluate` ties a whole run together (generate -> score -> gate -> write); the
doors (CLI, pytest plugin, `tunegate.run`) call it.
"""

from .evaluation import EvaluationOutcome, EvaluationRequest, evaluate, new_run_id
from .store import Store, generation_key

__all__ = [
    "EvaluationOutcome",
    "EvaluationRequest",
    "Store",
    "evaluate",
    "generation_key",
    "new_run_id",
]
