"""The judge against people: each judged check's agreement with the imported human ratings.

A rating (`tunegate review import`, stored in the store's human_ratings table) names an
output by (suite, case id, role, sample, check) and by the sha256 of the output's text. It
counts for a run only when that output is the run's output for that key: a rating of an
older output (the model changed, the case was edited) says nothing about the new one and
is not matched. Pairwise checks are rated per pair (role "pair"): the hash is of the two
outputs together (`pair_sha`), the label the winner.

Per (suite, judged check): `n` rated outputs where the judge gave a verdict; raw agreement
of pass/fail (the judge's `passed` against the person's label) with its Wilson interval;
Cohen's kappa; Spearman's rho of the judge's value and the person's score when at least
3 outputs have both. Several people rating one output count as one person: the majority
label (a tie between them leaves the output out of the labels) and the mean score.
`stale` counts the outputs whose every rating is of an earlier text (left out of `n`, and
said, so ratings never vanish without a word). `gating` is False when the suite's
`min_judge_agreement` is set and the agreement is below it or rests on too few ratings
(the rule in gate/judged.py).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..gate.judged import agreement_clears
from ..metrics import get_metric
from ..metrics.judging import is_judged
from ..results import Agreement, PairwiseVerdict, Record
from ..stats.agreement import label_agreement, spearman
from ..suite import GateSpec, Suite

__all__ = [
    "FAIL",
    "PAIR_ROLE",
    "PASS",
    "WINNERS",
    "decode_rating",
    "encode_rating",
    "input_sha",
    "judge_agreement",
    "output_sha",
    "pair_sha",
]

PASS, FAIL = "pass", "fail"
WINNERS = ("base", "candidate", "tie")
PAIR_ROLE = "pair"

_Key = tuple[str, str, str, int, str]  # suite, case id, role, sample, check


def output_sha(text: str) -> str:
    """The sha256 that names an output in a rating."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def pair_sha(base: str, candidate: str) -> str:
    """The sha256 that names a (base, candidate) pair of outputs in a pairwise rating."""
    return output_sha(json.dumps([base, candidate], ensure_ascii=True))


def input_sha(record: Record, check: str | None = None) -> str:
    """The sha256 of what an output was judged against: the messages sent, the context,
    the reference and the check's definition (`check_sha`: its metric and arguments). A
    rating keeps it, so an edited case or check makes its ratings stale even when the
    model answers with the old text."""
    seen = {
        "messages": [m.model_dump(mode="json") for m in record.prompt],
        "context": record.context,
        "reference": record.reference,
        "check": check,
    }
    return output_sha(json.dumps(seen, ensure_ascii=True, sort_keys=True))


def encode_rating(label: str | None, score: float | None) -> str:
    """A rating as the store keeps it: JSON {"label": ..., "score": ...}."""
    return json.dumps({"label": label, "score": score}, sort_keys=True)


def decode_rating(text: object) -> tuple[str | None, float | None] | None:
    """(label, score) of a stored rating; None for one that does not decode (an edited
    store): it is ignored, not fatal."""
    try:
        data = json.loads(str(text))
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    label, score = data.get("label"), data.get("score")
    if label is not None and not isinstance(label, str):
        return None
    if score is not None:
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            return None
        if not math.isfinite(score):
            return None
        score = float(score)
    if label is None and score is None:
        return None
    return label, score


@dataclass
class _Group:
    judge_labels: list[str] = field(default_factory=list)
    human_labels: list[str] = field(default_factory=list)
    judge_values: list[float] = field(default_factory=list)
    human_scores: list[float] = field(default_factory=list)
    stale: int = 0  # outputs rated only as an earlier text


# A rating's (output sha, input sha); the input's is None for ratings stored before it was.
_Rated = tuple[str, str | None]
_Ratings = dict[_Rated, list[tuple[str | None, float | None]]]


def _ratings_by_key(ratings: Iterable[Mapping[str, Any]]) -> dict[_Key, _Ratings]:
    found: dict[_Key, _Ratings] = {}
    for row in ratings:
        try:
            key = (
                str(row["suite"]),
                str(row["case_id"]),
                str(row["role"]),
                int(row["sample"]),
                str(row["check"]),
            )
            sha = str(row["output_sha"])
            seen = row.get("input_sha")
            rating = decode_rating(row["rating"])
        except (KeyError, TypeError, ValueError):
            continue
        if rating is not None:
            rated = (sha, None if seen is None else str(seen))
            found.setdefault(key, {}).setdefault(rated, []).append(rating)
    return found


def _majority(labels: Sequence[str]) -> str | None:
    """The label most raters gave; None when there is none or two labels tie."""
    ranked = Counter(labels).most_common(2)
    if not ranked or (len(ranked) == 2 and ranked[0][1] == ranked[1][1]):
        return None
    return ranked[0][0]


def _add(
    group: _Group,
    judge_label: str,
    judge_value: float | None,
    by_sha: _Ratings,
    sha: str,
    seen: str,
) -> None:
    rated = [*by_sha.get((sha, seen), []), *by_sha.get((sha, None), [])]
    if by_sha and not rated:
        group.stale += 1  # rated, but as another text or against another prompt
        return
    human = _majority([label for label, _ in rated if label is not None])
    if human is not None:
        group.judge_labels.append(judge_label)
        group.human_labels.append(human)
    scores = [score for _, score in rated if score is not None]
    if judge_value is not None and scores:
        group.judge_values.append(judge_value)
        group.human_scores.append(sum(scores) / len(scores))


def judge_agreement(
    records: Sequence[Record],
    ratings: Iterable[Mapping[str, Any]],
    suites: Sequence[Suite],
    *,
    pairwise: Sequence[PairwiseVerdict] = (),
    defaults: GateSpec | None = None,
    confidence: float = 0.95,
) -> list[Agreement]:
    """One Agreement per (suite, judged check) the run scored, rated or not (n = 0 says
    "no ratings yet"). `ratings` as `Store.ratings()` returns them; `pairwise` adds the
    pairwise checks; `defaults` is the project's gate (its `min_judge_agreement` applies
    where a suite sets none)."""
    rated = _ratings_by_key(ratings)
    groups: dict[tuple[str, str], _Group] = {}
    for r in records:
        for name, s in r.scores.items():
            if not is_judged(get_metric(s.metric)):
                continue
            group = groups.setdefault((r.suite, name), _Group())
            if r.output is None or s.value is None:  # no output, no judge verdict
                continue
            mine = rated.get((r.suite, r.case_id, r.role, r.sample, name), {})
            sha = output_sha(r.output)
            seen = input_sha(r, s.check_sha)
            _add(group, PASS if s.passed else FAIL, s.value, mine, sha, seen)
    by_role = {(r.suite, r.case_id, r.sample, r.role): r for r in records}
    for v in pairwise:
        group = groups.setdefault((v.suite, v.check), _Group())
        base = by_role.get((v.suite, v.case_id, v.sample, "base"))
        candidate = by_role.get((v.suite, v.case_id, v.sample, "candidate"))
        if v.winner is None or base is None or candidate is None:
            continue
        if base.output is None or candidate.output is None:  # no winner then; narrows types
            continue
        mine = rated.get((v.suite, v.case_id, PAIR_ROLE, v.sample, v.check), {})
        sha = pair_sha(base.output, candidate.output)
        _add(group, v.winner, None, mine, sha, input_sha(base, v.check_sha))
    minimum = {s.name: s.gate.merged_over(defaults).min_judge_agreement for s in suites}
    order = {s.name: i for i, s in enumerate(suites)}
    keys = sorted(groups, key=lambda k: order.get(k[0], len(order)))  # stable within a suite
    return [
        _agreement(suite, check, groups[(suite, check)], minimum.get(suite), confidence)
        for suite, check in keys
    ]


def _agreement(
    suite: str, check: str, group: _Group, minimum: float | None, confidence: float
) -> Agreement:
    labels = label_agreement(group.judge_labels, group.human_labels, confidence)
    found = Agreement(
        suite=suite,
        check=check,
        n=labels.n,
        raw_agreement=labels.raw,
        raw_agreement_ci=list(labels.raw_ci) if labels.raw_ci is not None else None,
        kappa=labels.kappa,
        spearman=spearman(group.judge_values, group.human_scores),
        stale=group.stale,
    )
    return found.model_copy(update={"gating": agreement_clears(found, minimum)})
