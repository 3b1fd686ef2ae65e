"""The bias stage: scored records -> group disparities before and after, BBQ scores.

Between scoring and the gate: it reads records and the suites' probes and BBQ items, uses
the statistics stage for intervals and tests, and hands `BiasResults` to the gate's bias
rules and the report. docs/bias.md.
"""

from .audit import BiasAudit, bias_audit
from .bbq import bbq_scores
from .probes import probe_matrices

__all__ = ["BiasAudit", "bbq_scores", "bias_audit", "probe_matrices"]
