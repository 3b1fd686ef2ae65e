"""The statistics stage: paired comparisons, intervals, power, multiple-testing control.

Pure functions of numbers: nothing here knows about providers, suites or files. scipy and
statsmodels do the work where they have the method; what they lack (Newcombe's paired
interval, test inversion, the power sentence) is written here and tested against them.
"""

from .intervals import newcombe_paired_interval, wilson_interval, z_for
from .paired import BootstrapSettings, PairedDifference, paired_difference
from .power import PowerEstimate, power_for_margin

__all__ = [
    "BootstrapSettings",
    "PairedDifference",
    "PowerEstimate",
    "newcombe_paired_interval",
    "paired_difference",
    "power_for_margin",
    "wilson_interval",
    "z_for",
]
