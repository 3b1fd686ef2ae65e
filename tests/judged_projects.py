"""Small projects with a judge, shared by the judge tests: base and candidate are Python
functions answering each case, the judge any target (usually a FakeOpenAIServer)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from tunegate import Results, run

from .conftest import write

Check = dict[str, Any]

# Each project's functions live in a module of its own name: the python provider imports
# by module name, and one process runs many projects.
_modules = itertools.count()


def judged_project(
    root: Path,
    answers: dict[str, tuple[str, str]],
    checks: Sequence[Check],
    *,
    judge_target: dict[str, Any] | None,
    judge: str | None = "j",
    case_fields: dict[str, Any] | None = None,
    gate: dict[str, Any] | None = None,
    targets: dict[str, dict[str, Any]] | None = None,
    base: str | None = "base",
    candidate: str = "cand",
) -> Path:
    """`answers`: case id -> (base output, candidate output), asked as "question <id>".
    `judge_target` becomes target `j` ("@judge" as a value names this project's own
    `judge` function, which answers `{"statements": []}`). Returns the config file."""
    module = f"judged_model_{next(_modules)}_{root.name.replace('-', '_')}"
    table = {f"question {case}": outputs for case, outputs in answers.items()}
    write(
        root / f"{module}.py",
        f"""
        ANSWERS = {table!r}

        def base(messages):
            return ANSWERS[messages[-1]["content"]][0]

        def cand(messages):
            return ANSWERS[messages[-1]["content"]][1]

        def judge(messages):
            return '{{"statements": []}}'
        """,
    )
    all_targets: dict[str, dict[str, Any]] = {
        "base": {"provider": "python", "function": f"{module}:base"},
        "cand": {"provider": "python", "function": f"{module}:cand"},
    }
    if judge_target is not None:
        all_targets["j"] = {
            k: (f"{module}:judge" if v == "@judge" else v) for k, v in judge_target.items()
        }
    all_targets.update(targets or {})
    config: dict[str, Any] = {"suites": ["suites"], "out": "reports", "candidate": candidate}
    if base is not None:
        config["base"] = base
    if judge is not None:
        config["judge"] = judge
    config["targets"] = all_targets
    write(root / "tunegate.yaml", yaml.safe_dump(config, sort_keys=False))
    cases = [
        {"id": case, "prompt": f"question {case}", **(case_fields or {}), "checks": list(checks)}
        for case in answers
    ]
    suite = {"name": "judged", "gate": gate or {"min_pass_rate": 0.0}, "cases": cases}
    write(root / "suites" / "judged.yaml", yaml.safe_dump(suite, sort_keys=False))
    return root / "tunegate.yaml"


def openai_judge(base_url: str, **options: Any) -> dict[str, Any]:
    return {"provider": "openai", "base_url": base_url, "model": "judge-1", **options}


def run_project(config: Path, **options: Any) -> Results:
    return run(config=config, **options).results


def scores(results: Results, check: str = "judge_refusal") -> dict[tuple[str, str], Any]:
    """(case id, role) -> that check's CheckScore."""
    return {(r.case_id, r.role): r.scores[check] for r in results.records}
