"""Metrics: the registry plus the built-in deterministic text metrics."""

from . import text as _text  # noqa: F401  (registers the built-ins)
from .base import Metric, MetricArgs, MetricError, MetricInput, MetricResult, value_range
from .registry import get_metric, metric_names, register_metric

__all__ = [
    "Metric",
    "MetricArgs",
    "MetricError",
    "MetricInput",
    "MetricResult",
    "get_metric",
    "metric_names",
    "register_metric",
    "value_range",
]
