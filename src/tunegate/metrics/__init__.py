"""Metrics: the registry plus the built-in deterministic and statistical metrics."""

# Each import registers that module's built-ins.
from . import choice as _choice  # noqa: F401
from . import embedding as _embedding  # noqa: F401
from . import judged_deepeval as _judged_deepeval  # noqa: F401
from . import judged_ragas as _judged_ragas  # noqa: F401
from . import judged_refusal as _judged_refusal  # noqa: F401
from . import match as _match  # noqa: F401
from . import overlap as _overlap  # noqa: F401
from . import pair_choice as _pair_choice  # noqa: F401
from . import pairwise as _pairwise  # noqa: F401
from . import refusal as _refusal  # noqa: F401
from . import structure as _structure  # noqa: F401
from . import text as _text  # noqa: F401
from . import tone as _tone  # noqa: F401
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
