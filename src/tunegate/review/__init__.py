"""Human review of the judge: export judged outputs to a CSV for people to rate, import
their ratings into the store. The run then measures the judge's agreement with them
(execution/agreement.py) and a suite's `min_judge_agreement` decides whether rules on
judged checks gate (gate/judged.py). docs/review.md.
"""

from .export import COLUMNS, ExportSummary, export_review, review_rows, safe_cell
from .importing import (
    ImportSummary,
    Ratings,
    RunOutputs,
    import_ratings,
    load_run_outputs,
    rateable_outputs,
    read_ratings,
)

__all__ = [
    "COLUMNS",
    "ExportSummary",
    "ImportSummary",
    "Ratings",
    "RunOutputs",
    "export_review",
    "import_ratings",
    "load_run_outputs",
    "rateable_outputs",
    "read_ratings",
    "review_rows",
    "safe_cell",
]
