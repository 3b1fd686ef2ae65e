"""Metrics: the registry plus the built-in deterministic text metrics."""

from . import text as _text  # noqa: F401  (registers the built-ins)
from .base import Metric, MetricArgs, MetricInput, MetricResult
from .registry import get_metric, metric_names, register_metric

__all__ = [
    "Metric",
    "MetricArgs",
    "MetricInput",
    "MetricResult",
    "get_metric",
    "metric_names",
    "register_metric",
]
