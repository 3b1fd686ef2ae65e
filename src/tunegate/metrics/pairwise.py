"""`pairwise`: the judge prefers base or candidate on a case, asked in both orders.

Definition: the judge sees the case's prompt and two answers labelled A and B, with the
`criteria`, and answers JSON `{"winner": "A" | "B" | "tie", "reason": "..."}`. Each pair
is judged twice, base as A then candidate as A. When the two orders name different
winners the pair is a tie and counts as inconsistent (position bias).

It scores no single output, so it adds no value to a record: results carry the verdicts
in `pairwise` and their summary (win rate with its interval, position-bias rate, length
bias) in `pairwise_summary`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from .base import MetricArgs, MetricError, MetricInput, MetricResult
from .judging import DATA_NOTICE, JudgeError, JudgeLLM, as_data, parse_json_verdict
from .registry import register_metric

__all__ = ["DEFAULT_CRITERIA", "PairwiseArgs", "PairwiseMetric", "Preference", "ask_preference"]

Preference = Literal["A", "B", "tie"]

_SYSTEM = (
    "You are an impartial judge comparing two answers to the same request. Decide which "
    "answer better meets the criteria. Do not let the order of the answers, their length "
    "or their tone sway you beyond what the criteria ask. " + DATA_NOTICE + " Reply with "
    'only a JSON object: {"winner": "A" | "B" | "tie", "reason": "<one sentence>"}.'
)


DEFAULT_CRITERIA = "Which answer is more correct, helpful and appropriate for the request?"


class PairwiseArgs(MetricArgs):
    criteria: str = Field(
        DEFAULT_CRITERIA,
        max_length=4000,
        description="What the judge compares the two answers on.",
    )

    @field_validator("criteria")
    @classmethod
    def _not_blank(cls, criteria: str) -> str:
        # Blank criteria would ask the judge to compare on nothing and still get verdicts.
        if not criteria.strip():
            raise ValueError(
                "criteria is blank: write what the judge should compare the answers on, "
                f"or leave criteria out for the default ({DEFAULT_CRITERIA!r})"
            )
        return criteria


class PairwiseMetric:
    name: ClassVar[str] = "pairwise"
    args_model: ClassVar[type[MetricArgs]] = PairwiseArgs
    default_threshold: ClassVar[float] = 0.5
    description: ClassVar[str] = (
        "The judge's preference between base and candidate, asked in both orders "
        "(results.pairwise)."
    )
    needs_judge: ClassVar[bool] = True
    pairwise: ClassVar[bool] = True
    prompt_version: ClassVar[str] = "pairwise-1"

    def score(self, sample: MetricInput, args: Any) -> MetricResult:
        raise MetricError("pairwise compares two answers; it scores no single output")

    async def judge(self, sample: MetricInput, args: Any, llm: JudgeLLM) -> MetricResult:
        raise MetricError("pairwise compares two answers; it scores no single output")


def preference_messages(
    prompt: str, first: str, second: str, criteria: str
) -> list[dict[str, str]]:
    user = (
        f"Criteria: {criteria}\n\n"
        f"The request:\n{as_data('REQUEST', prompt)}\n\n"
        f"Answer A:\n{as_data('ANSWER-A', first)}\n\n"
        f"Answer B:\n{as_data('ANSWER-B', second)}\n\n"
        "Which answer better meets the criteria? Reply with only the JSON object."
    )
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": user}]


async def ask_preference(
    llm: JudgeLLM, prompt: str, first: str, second: str, criteria: str
) -> tuple[Preference, str]:
    """One order: the judge's winner among A (`first`) and B (`second`), and its reason."""
    raw = await llm.complete(preference_messages(prompt, first, second, criteria))
    verdict = parse_json_verdict(raw)
    winner = verdict.get("winner")
    if isinstance(winner, str) and winner.strip().lower() in ("a", "b", "tie"):
        choice = winner.strip().lower()
        reason = verdict.get("reason")
        return ("tie" if choice == "tie" else choice.upper()), (  # type: ignore[return-value]
            reason if isinstance(reason, str) else ""
        )
    raise JudgeError('the judge\'s answer has no "winner" of "A", "B" or "tie"', raw)


register_metric(PairwiseMetric())
