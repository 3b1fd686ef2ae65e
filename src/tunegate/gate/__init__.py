"""The gate stage: scored records -> paired comparisons -> rules -> the verdict."""

from .bias_rules import bias_rule_ids
from .rules import GateEvaluation, effective_gate, evaluate_gate, rule_ids, rule_specs
from .rules import unmatched_default_rules as unmatched_default_rules

__all__ = [
    "GateEvaluation",
    "bias_rule_ids",
    "effective_gate",
    "evaluate_gate",
    "rule_ids",
    "rule_specs",
]
