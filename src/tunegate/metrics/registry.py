"""One registry for every metric: built-ins register on import, third parties by entry point."""

from __future__ import annotations

from importlib.metadata import entry_points

from .base import Metric

__all__ = ["get_metric", "metric_names", "register_metric"]

ENTRY_POINT_GROUP = "tunegate.metrics"
_METRICS: dict[str, Metric] = {}
_entry_points_loaded = False


def register_metric(metric: Metric) -> Metric:
    """Add `metric` under its name; a second metric with the same name replaces the first."""
    _METRICS[metric.name] = metric
    return metric


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        loaded = ep.load()
        register_metric(loaded() if isinstance(loaded, type) else loaded)


def get_metric(name: str) -> Metric | None:
    if name not in _METRICS:
        _load_entry_points()
    return _METRICS.get(name)


def metric_names() -> list[str]:
    _load_entry_points()
    return sorted(_METRICS)
