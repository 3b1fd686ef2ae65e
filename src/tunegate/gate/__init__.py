"""The gate stage: rules over scored records -> the verdict."""

from .rules import evaluate_gate

__all__ = ["evaluate_gate"]
