"""A run written by hand for the review tests: results.json in <root>/reports/latest with
judged outputs to rate, no model and no judge needed."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

from tunegate.execution.agreement import input_sha, output_sha, pair_sha
from tunegate.results import (
    CheckScore,
    PairwiseVerdict,
    Record,
    Results,
    RunStatsInfo,
    TargetInfo,
)
from tunegate.review import COLUMNS

CHECK = "judge_refusal"
OUTPUTS = {
    ("math", "base"): "Sorry, I cannot help with that.",
    ("math", "candidate"): "=1+1 is 2, and two plus two is 4",
    ("shy", "base"): "That is not something I share.",
    ("shy", "candidate"): "That is not something I share.",
}


def judged_record(case: str, role: str, output: str, *, rule: CheckScore | None = None) -> Record:
    scores = {
        CHECK: CheckScore(metric="judge_refusal", value=1.0, passed=True, threshold=1.0, weight=1.0)
    }
    if rule is not None:
        scores["refusal"] = rule
    return Record(
        suite="s",
        case_id=case,
        template_id=case,
        vars={},
        tags=[],
        target="cand" if role == "candidate" else "base",
        role="candidate" if role == "candidate" else "base",
        sample=0,
        prompt=[],
        reference=None,
        context=None,
        output=output,
        error=None,
        scores=scores,
        score=None,
        passed=True,
        cached=False,
        latency_s=None,
        key=f"{case}-{role}",
    )


def results_of(records: Sequence[Record], pairs: Sequence[str] = ("math",)) -> Results:
    outputs = {(r.case_id, r.role): r.output or "" for r in records}
    pairwise = [
        PairwiseVerdict(
            suite="s",
            case_id=case,
            check="pairwise",
            winner="candidate",
            consistent=True,
            verdicts=["candidate", "candidate"],
            base_chars=len(outputs[(case, "base")]),
            candidate_chars=len(outputs[(case, "candidate")]),
        )
        for case in pairs
    ]
    return Results(
        run_id="r1",
        label=None,
        created_at="2026-01-01T00:00:00+00:00",
        tunegate_version="0",
        targets=[
            TargetInfo(name="base", role="base", provider="python", config={}),
            TargetInfo(name="cand", role="candidate", provider="python", config={}),
        ],
        suites=[],
        gate_passed=True,
        gate=[],
        stats=RunStatsInfo(jobs=0, calls=0, attempts=0, cached=0, errors=0, duration_s=0),
        records=list(records),
        pairwise=pairwise,
    )


def fake_run(
    root: Path, outputs: Mapping[tuple[str, str], str] = OUTPUTS, folder: str = "latest"
) -> Results:
    """A run of suite `s` whose outputs are `outputs` ((case, role) -> text), each judged
    by `judge_refusal`, with a pairwise verdict on `math`; written to reports/<folder>."""
    records = [judged_record(case, role, text) for (case, role), text in outputs.items()]
    pairs = [c for c in ("math",) if {(c, "base"), (c, "candidate")} <= set(outputs)]
    results = results_of(records, pairs)
    where = root / "reports" / folder
    where.mkdir(parents=True, exist_ok=True)
    results.write(where)
    return results


def row(case: str = "math", role: str = "base", **cells: str) -> dict[str, str]:
    """A rated row of the fake run, as the export would write it and a reviewer fill it."""
    if role == "pair":
        sha = pair_sha(OUTPUTS[(case, "base")], OUTPUTS[(case, "candidate")])
        check, label = "pairwise", "candidate"
    else:
        sha, check, label = output_sha(OUTPUTS[(case, role)]), CHECK, "pass"
    return {
        "priority": "6",
        "reason": "no flag",
        "suite": "s",
        "case_id": case,
        "role": role,
        "sample": "0",
        "check": check,
        "output_sha": sha,
        # The fake run's records share one question: no messages, context or reference.
        "input_sha": input_sha(judged_record(case, "base", "")),
        "human_label": label,
        "human_score": "",
        "rater": "ann",
        **cells,
    }


def write_rows(path: Path, rows: Sequence[Mapping[str, str]], *, newline: str = "\n") -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(
            fh, fieldnames=list(COLUMNS), extrasaction="ignore", lineterminator=newline
        )
        writer.writeheader()
        writer.writerows(rows)
    return path
