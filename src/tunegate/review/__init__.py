"""Human review of the judge: export judged outputs to a CSV for people to rate, import
their ratings into the store. The run then measures the judge's agreement with them
(execution/agreement.py) and a suite's `min_judge_agreement` decides whether rules on
judged checks gate (gate/judged.py). docs/review.md.
"""

from .export import COLUMNS, ExportSummary, export_review, review_rows, safe_cell
from .importing import ImportSummary, import_ratings, read_ratings

__all__ = [
    "COLUMNS",
    "ExportSummary",
    "ImportSummary",
    "export_review",
    "import_ratings",
    "read_ratings",
    "review_rows",
    "safe_cell",
]
