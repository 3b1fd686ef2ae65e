"""Third-party providers and metrics arrive through entry points, as an installed package's would.

A `*.dist-info` folder on sys.path is a real distribution to importlib.metadata, so the plugin
is found exactly as it would be after `pip install`, without touching the test environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .conftest import latest_results, make_project, write

PLUGIN = """
from typing import ClassVar

from tunegate.metrics import MetricArgs, MetricInput, MetricResult
from tunegate.providers import Generation, ProviderOptions


class ShoutOptions(ProviderOptions):
    suffix: str = "!"


class Shout:
    default_concurrency: ClassVar[int] = 2

    def __init__(self, target, options):
        self.target = target
        self.options = options

    def fingerprint(self):
        return {"provider": "shout", "suffix": self.options.suffix}

    async def generate(self, request):
        return Generation(text=request.messages[-1]["content"].upper() + self.options.suffix)

    async def aclose(self):
        return None


def create_shout(options, context):
    return Shout(context.target, options)


create_shout.options_model = ShoutOptions


class UpperArgs(MetricArgs):
    pass


class IsUpper:
    name: ClassVar[str] = "is_upper"
    args_model: ClassVar[type[MetricArgs]] = UpperArgs
    default_threshold: ClassVar[float] = 1.0
    description: ClassVar[str] = "the output is in capitals"

    def score(self, sample: MetricInput, args: UpperArgs) -> MetricResult:
        return MetricResult(1.0 if sample.output == sample.output.upper() else 0.0)
"""


def test_entry_point_provider_and_metric(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write(site / "tunegate_shout.py", PLUGIN)
    write(
        site / "tunegate_shout-0.1.dist-info" / "METADATA",
        "Metadata-Version: 2.1\nName: tunegate-shout\nVersion: 0.1\n",
    )
    write(
        site / "tunegate_shout-0.1.dist-info" / "entry_points.txt",
        """
        [tunegate.providers]
        shout = tunegate_shout:create_shout

        [tunegate.metrics]
        is_upper = tunegate_shout:IsUpper
        """,
    )
    project = tmp_path / "project"
    make_project(
        project,
        targets="cand: {provider: shout, suffix: '!!'}",
        suites={
            "s.yaml": """
            name: loud
            cases:
              - id: hello
                prompt: hello
                checks: [{metric: is_upper}, {metric: exact, args: {text: "HELLO!!"}}]
            """
        },
        base=None,
    )

    def tunegate(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tunegate", command],
            cwd=project,
            env={**os.environ, "PYTHONPATH": str(site)},
            capture_output=True,
            text=True,
            timeout=120,
        )

    proc = tunegate("run")
    assert proc.returncode == 0, proc.stderr
    record = latest_results(project).records[0]
    assert record.output == "HELLO!!"
    assert record.scores["is_upper"].passed and record.scores["exact"].passed

    # An option the plugin does not know is an error positioned in tunegate.yaml.
    (project / "tunegate.yaml").write_text(
        (project / "tunegate.yaml").read_text().replace("suffix:", "sufix:")
    )
    proc = tunegate("validate")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "tunegate: error: tunegate.yaml:5:27: unknown key 'sufix' (did you mean 'suffix'?); "
        "allowed keys: concurrency, max_attempts, provider, suffix, timeout"
    )
