"""The suite stage: YAML files -> validated, expanded `Suite`s of concrete `Case`s.

Errors name file:line:column. Everything downstream consumes `Suite`, `Case` and
`ResolvedCheck`; the YAML helpers are public for the project config, which shares them.
"""

from .cases import Case, ResolvedCheck, Suite, SuiteWarning
from .format import GateSpec, GenerationParams, SuiteSpec, suite_json_schema
from .loader import SUITE_SUFFIXES, discover_suite_files, load_suite, load_suites
from .templating import render
from .validation_errors import did_you_mean, suite_error_from
from .yaml_source import YamlDocument, load_yaml

__all__ = [
    "SUITE_SUFFIXES",
    "Case",
    "GateSpec",
    "GenerationParams",
    "ResolvedCheck",
    "Suite",
    "SuiteSpec",
    "SuiteWarning",
    "YamlDocument",
    "did_you_mean",
    "discover_suite_files",
    "load_suite",
    "load_suites",
    "load_yaml",
    "render",
    "suite_error_from",
    "suite_json_schema",
]
