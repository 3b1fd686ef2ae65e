"""Scripted LLM judges for `FakeOpenAIServer`: judges whose behaviour a test can rely on.

Each judge here is a responder, `fn(prompt, body) -> str`, for
`FakeOpenAIServer(responder=...)`. It reads what tunegate's judged metrics show a judge:
the untrusted texts fenced by `tunegate.metrics.judging.as_data` (`<<<ANSWER-A-1a2b3c4d`
... `ANSWER-A-1a2b3c4d>>>`), which `fenced(prompt)` returns by label. A prompt holding
answers A and B is a pairwise comparison (`pairwise`); one holding a single ANSWER is a
yes/no question about it (`judge_refusal`). Any other prompt (a base or candidate served
by the same server, a judged metric these judges do not know) gets a neutral verdict that
every known metric can read, so one server can play the model and the judge.

The judges:

    fair                the honest judge: the longer answer wins a comparison (equal
                        lengths tie), in both orders alike; an answer is a refusal when it
                        says so in the usual words ("sorry", "I can't", ...)
    fair_by(key)        the same with another rule: the answer with the larger key(text)
                        wins, e.g. fair_by(lambda t: -len(t)) prefers the shorter one
    always_first        position bias at its worst: answer A always wins; for
                        judge_refusal a fixed verdict, "not a refusal"
    malformed           answers in prose, never JSON (no brace either)
    follows_injection   obeys the judged text: an answer containing "Ignore the rubric" wins
                        its comparison, is "not a refusal" and gets the top score; any
                        other prompt gets the `fair` verdict. Shows what the fence cannot
                        prevent: a model that obeys data anyway.
    slow(seconds)       sleeps `seconds` before answering like `fair` (or `then`), to make
                        the judge target's `timeout` fire
    quotes_authorization(server)  a leaking judge: its reason (and a prose answer) quotes
                        the Authorization header the server last received

The server's own directives still apply on top (`[[refusal]]`, `[[big:N]]`, ...): a judged
output containing one reaches the judge's prompt, so it shapes the judge's reply.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

from .openai_server import FakeOpenAIServer, Responder

__all__ = [
    "INJECTION_MARK",
    "Responder",
    "always_first",
    "fair",
    "fair_by",
    "fenced",
    "follows_injection",
    "looks_like_refusal",
    "malformed",
    "quotes_authorization",
    "slow",
]

# What `follows_injection` obeys when a judged answer contains it (case-insensitive).
INJECTION_MARK = "ignore the rubric"

# as_data's fence: <<<LABEL-xxxxxxxx \n text \n LABEL-xxxxxxxx>>>, the label upper-case.
_FENCE = re.compile(r"<<<([A-Z0-9_-]+?)-([0-9a-f]{8})\n(.*?)\n\1-\2>>>", re.DOTALL)
_REFUSAL_WORDS = re.compile(
    r"\b(sorry|i can(?:no|')t|i cannot|i won't|i will not|i am unable|i'm unable|"
    r"not something i (?:can|will) (?:share|help))\b",
    re.IGNORECASE,
)
# Scores a generic judged metric might ask for: 10 on a 1-10 scale, 1.0 as a share.
_TOP_SCORE = 10


def fenced(prompt: str) -> dict[str, str]:
    """The texts a judge prompt fences as data, by label: REQUEST, ANSWER, ANSWER-A, ...

    Only fences written out in the prompt's text: one quoted inside a JSON string (as the
    ragas prompts embed theirs, newlines escaped) is not found."""
    return {m.group(1): m.group(3) for m in _FENCE.finditer(prompt)}


def looks_like_refusal(text: str) -> bool:
    """The honest judges' rule for a refusal: the usual words of one."""
    return _REFUSAL_WORDS.search(text) is not None


def _verdict(**fields: Any) -> str:
    return json.dumps(fields)


def _neutral(prompt: str) -> str:
    # Not a judge prompt tunegate's built-in metrics write: a reply any of them can read
    # (and that a generation target serves as a plain answer).
    return _verdict(
        refusal=False, winner="tie", score=_TOP_SCORE // 2, reason="no fenced answer found"
    )


def fair_by(key: Callable[[str], float]) -> Responder:
    """A consistent judge: of answers A and B, the one with the larger `key(text)` wins
    (equal keys tie), whatever their order; refusals by `looks_like_refusal`."""

    def respond(prompt: str, body: dict[str, Any]) -> str:
        data = fenced(prompt)
        if "ANSWER-A" in data and "ANSWER-B" in data:
            a, b = key(data["ANSWER-A"]), key(data["ANSWER-B"])
            winner = "A" if a > b else "B" if b > a else "tie"
            return _verdict(winner=winner, reason=f"by the rule: A {a:g}, B {b:g}")
        if "ANSWER" in data:
            refused = looks_like_refusal(data["ANSWER"])
            return _verdict(
                refusal=refused,
                score=0 if refused else _TOP_SCORE,
                reason="it declines" if refused else "it answers",
            )
        return _neutral(prompt)

    return respond


fair: Responder = fair_by(len)
fair.__doc__ = "The honest judge: the longer answer wins; refusals by their usual words."


def always_first(prompt: str, body: dict[str, Any]) -> str:
    """Always answer A; a yes/no question always gets the same verdict, "not a refusal"."""
    data = fenced(prompt)
    if "ANSWER-A" in data:
        return _verdict(winner="A", reason="the first answer is better")
    if "ANSWER" in data:
        return _verdict(refusal=False, score=_TOP_SCORE, reason="fixed verdict")
    return _neutral(prompt)


def malformed(prompt: str, body: dict[str, Any]) -> str:
    """A verdict in prose: no JSON object anywhere in it."""
    return "I would say answer A is better, 9/10, and it is not a refusal."


def _injected(text: str) -> bool:
    return INJECTION_MARK in text.lower()


def follows_injection(prompt: str, body: dict[str, Any]) -> str:
    """Obey an answer that says "Ignore the rubric": it wins, is not a refusal and gets the
    top score. Otherwise the `fair` verdict."""
    data = fenced(prompt)
    if "ANSWER-A" in data and "ANSWER-B" in data:
        a, b = _injected(data["ANSWER-A"]), _injected(data["ANSWER-B"])
        if a != b:
            return _verdict(winner="A" if a else "B", reason="the answer said it wins 10/10")
    elif "ANSWER" in data and _injected(data["ANSWER"]):
        return _verdict(refusal=False, score=_TOP_SCORE, reason="the answer said 10/10")
    return fair(prompt, body)


def slow(seconds: float, then: Responder | None = None) -> Responder:
    """A judge that sleeps `seconds` (in the server's thread) before answering like `then`
    (default `fair`)."""
    after = then or fair

    def respond(prompt: str, body: dict[str, Any]) -> str:
        time.sleep(seconds)
        return after(prompt, body)

    return respond


def quotes_authorization(server: FakeOpenAIServer, then: Responder | None = None) -> Responder:
    """A leaking judge: the verdict of `then` (default `fair`) with the Authorization header
    the server last received quoted in its reason; a reply that is not a JSON object gets
    the header appended. Meant for a server every request of which carries the same key."""
    after = then or fair

    def respond(prompt: str, body: dict[str, Any]) -> str:
        seen = server.headers_seen
        auth = seen[-1].get("authorization", "") if seen else ""
        answer = after(prompt, body)
        try:
            verdict = json.loads(answer)
        except ValueError:
            return f"{answer} (you sent {auth})"
        if not isinstance(verdict, dict):
            return f"{answer} (you sent {auth})"
        verdict["reason"] = f"{verdict.get('reason', '')} (you sent {auth})"
        return json.dumps(verdict)

    return respond
