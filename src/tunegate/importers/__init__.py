"""Importers: public benchmark files on the user's disk -> suites (and group lists).

tunegate ships the code, never the data. Every importer reads a line at a time (or, for a
file that is one JSON document, at most writing.MAX_JSON_BYTES of it), validates each item
with an error naming file:line (or the JSON path), samples with a seed and refuses more
than a limit.
docs/bias.md.
"""

from .bbq import BbqImport, bbq_suite
from .bold import BoldImport, bold_suite
from .crows_pairs import CrowsPairsImport, crows_pairs_suite
from .holistic_bias import HolisticBiasGroups, descriptor_axes, holistic_bias_groups
from .writing import write_suite

__all__ = [
    "BbqImport",
    "BoldImport",
    "CrowsPairsImport",
    "HolisticBiasGroups",
    "bbq_suite",
    "bold_suite",
    "crows_pairs_suite",
    "descriptor_axes",
    "holistic_bias_groups",
    "write_suite",
]
