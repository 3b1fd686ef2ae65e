"""One registry for every metric: built-ins register on import, third parties by entry point."""

from __future__ import annotations

from typing import Any

from .._registry import Registry
from .base import Metric

__all__ = ["get_metric", "metric_names", "register_metric"]


def _instance(loaded: Any) -> Metric:
    # An entry point may name a metric class or an instance.
    return loaded() if isinstance(loaded, type) else loaded  # type: ignore[no-any-return]


_METRICS: Registry[Metric] = Registry("tunegate.metrics", _instance)


def register_metric(metric: Metric) -> Metric:
    """Add `metric` under its name; a second metric with the same name replaces the first."""
    return _METRICS.register(metric.name, metric)


def get_metric(name: str) -> Metric | None:
    return _METRICS.get(name)


def metric_names() -> list[str]:
    return _METRICS.names()
