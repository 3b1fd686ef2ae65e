from pathlib import Path

import pytest

import tunegate

from .conftest import make_project, write


def test_exported_names() -> None:
    assert sorted(tunegate.__all__) == sorted(
        [
            "Case",
            "ConfigError",
            "InputError",
            "MetricError",
            "MissingExtraError",
            "ProviderError",
            "Record",
            "Results",
            "StoreError",
            "Suite",
            "SuiteError",
            "SuiteWarning",
            "TunegateError",
            "__version__",
            "load_results",
            "load_suite",
            "load_suites",
            "run",
        ]
    )
    for name in tunegate.__all__:
        assert hasattr(tunegate, name)


SUITE = """
name: s
cases:
  - {id: a, prompt: p, checks: [{metric: contains, args: {text: "45"}}]}
"""


def test_run_from_python_labels_each_iteration(tmp_path: Path) -> None:
    write(tmp_path / "c.jsonl", '{"case_id": "a", "output": "45 days"}\n')
    make_project(
        tmp_path,
        targets="cand: {provider: replay, path: c.jsonl}",
        suites={"s.yaml": SUITE},
        base=None,
    )
    for epoch in (1, 2):
        outcome = tunegate.run(label=f"iteration-{epoch}")
        assert outcome.results.gate_passed
        assert outcome.results.label == f"iteration-{epoch}"
        assert outcome.results_path.is_file()
    assert outcome.results.stats.calls == 0  # the second iteration reused the first's output
    with pytest.raises(tunegate.SuiteError):
        tunegate.run(["missing.yaml"])
