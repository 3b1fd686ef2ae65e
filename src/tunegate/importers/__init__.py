"""Importers: public benchmark files on the user's disk -> suites (and group lists).

tunegate ships the code, never the data. Every importer reads a line at a time, validates
each item with a file:line error, samples with a seed and refuses more than a limit.
docs/bias.md.
"""

from .bbq import BbqImport, bbq_suite
from .bold import BoldImport, bold_suite
from .holistic_bias import HolisticBiasGroups, descriptor_axes, holistic_bias_groups
from .writing import write_suite

__all__ = [
    "BbqImport",
    "BoldImport",
    "HolisticBiasGroups",
    "bbq_suite",
    "bold_suite",
    "descriptor_axes",
    "holistic_bias_groups",
    "write_suite",
]
