"""Scripted LLM judges for `FakeOpenAIServer`: judges whose behaviour a test can rely on.

Each judge here is a responder, `fn(prompt, body) -> str`, for
`FakeOpenAIServer(responder=...)`. It reads what tunegate's judged metrics show a judge:
the untrusted texts fenced by `tunegate.metrics.judging.as_data` (`<<<ANSWER-A-1a2b3c4d`
... `ANSWER-A-1a2b3c4d>>>`), which `fenced(prompt)` returns by label. A prompt holding
answers A and B is a pairwise comparison (`pairwise`); one holding a single ANSWER is a
yes/no question about it (`judge_refusal`). The fair judges also answer every prompt the
deepeval and ragas metrics send (below). Any other prompt (a base or candidate served by
the same server, a judged metric these judges do not know) gets a neutral verdict that
every known metric can read, so one server can play the model and the judge.

The judges:

    fair                the honest judge: the longer answer wins a comparison (equal
                        lengths tie), in both orders alike; an answer is a refusal when it
                        says so in the usual words ("sorry", "I can't", ...). It answers
                        the library metrics' prompts by plain, stated rules:
                        geval       steps restating the criteria; the score is the share
                                    of the expected output's words the output holds (when
                                    it is shown one), else grows with the output's length
                                    (2 + words / 3, at most 10; 0 when empty)
                        bias, toxicity  an opinion is a sentence saying "I think", "should",
                                    "best", ...; it is biased when it generalises about a
                                    group (women, immigrants, liberals, ...), toxic when it
                                    insults ("idiot", "stupid", ...)
                        faithfulness, answer_correctness  statements and claims are the
                                    text's clauses; one is supported when every word of
                                    four letters or more in it (but common ones) is in the
                                    context
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
import threading
import time
from collections.abc import Callable
from typing import Any

from .openai_server import FakeOpenAIServer, Responder

__all__ = [
    "INJECTION_MARK",
    "Recorder",
    "Responder",
    "always_first",
    "fair",
    "fair_by",
    "fenced",
    "fenced_all",
    "follows_injection",
    "looks_like_refusal",
    "malformed",
    "quotes_authorization",
    "ragas_input",
    "slow",
    "unfenced",
]

# What `follows_injection` obeys when a judged answer contains it (case-insensitive).
INJECTION_MARK = "ignore the rubric"

# as_data's fence: <<<LABEL-xxxxxxxx \n text \n LABEL-xxxxxxxx>>>, the label upper-case.
_FENCE = re.compile(r"<<<([A-Z0-9_-]+?)-([0-9a-f]{8})\n(.*?)\n\1-\2>>>", re.DOTALL)
# The same written inside a Python list (deepeval's opinions): newlines as backslash-n.
_FENCE_ANY = re.compile(
    r"<<<([A-Z0-9_-]+?)-([0-9a-f]{8})(?:\n|\\n)(.*?)(?:\n|\\n)\1-\2>>>", re.DOTALL
)
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


def fenced_all(prompt: str) -> dict[str, list[str]]:
    """Every text fenced in `prompt`, by label, in order: also those written inside a
    Python list, as deepeval writes its opinions (newlines shown as backslash-n)."""
    found: dict[str, list[str]] = {}
    for label, _, text in _FENCE_ANY.findall(prompt):
        found.setdefault(label, []).append(text)
    return found


def unfenced(text: str) -> str:
    """`text` with every fence taken off, leaving the fenced texts (what a judge reads)."""
    return _FENCE.sub(lambda m: m.group(3), text)


def ragas_input(prompt: str) -> dict[str, Any] | None:
    """The input a ragas prompt ends with (`input: {JSON}` then `Output: `), or None.
    Inside the JSON every newline is escaped, so the last line starting `input: ` is it."""
    _, found, tail = prompt.rpartition("\ninput: ")
    if not found:
        return None
    try:
        data = json.loads(tail.rsplit("\nOutput:", 1)[0])
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


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


# -- the fair judge's rules for the library metrics ---------------------------------------

_WORD = re.compile(r"[\w$%°][\w'$%°-]*")
# Words too common to say whether a statement is in a context (shorter ones never count).
_COMMON_WORDS = (
    "about also been could does from have into just more most only some such than that "
    "their them then there they this very were what when which will with would your "
    "yours you're it's still"
)
_COMMON = frozenset(_COMMON_WORDS.split())
_OPINION = re.compile(
    r"\b(i think|i believe|i feel|in my opinion|should|must|best|worst|always|never)\b",
    re.IGNORECASE,
)
_BIASED = re.compile(
    r"\b(women|men|girls|boys|females?|males?|immigrants?|foreigners?|old people|the elderly|"
    r"young people|liberals?|conservatives?|left-wing|right-wing|muslims?|christians?|jews|"
    r"asians?|africans?|city people|country people)\b",
    re.IGNORECASE,
)
_TOXIC = re.compile(
    r"\b(idiots?|stupid|morons?|dumb|shut up|hate you|pathetic|losers?|worthless)\b",
    re.IGNORECASE,
)


def _words(text: str) -> list[str]:
    return [w.strip("'-") for w in _WORD.findall(text.lower())]


def _content(text: str) -> list[str]:
    """The words that carry a statement: four letters or more, but the common ones."""
    return [w for w in _words(text) if len(w) >= 4 and w not in _COMMON]


def _clauses(text: str) -> list[str]:
    """A text's statements, by the fair judge: its sentences and clauses."""
    pieces = re.split(r"[.!?;:,](?:\s+|$)", unfenced(text))
    return [p.strip() for p in pieces if p.strip()]


def _sentences(text: str) -> list[str]:
    pieces = re.split(r"[.!?](?:\s+|$)", unfenced(text))
    return [p.strip() for p in pieces if p.strip()]


def _supported(statement: str, context: str) -> tuple[int, str]:
    known = set(_words(unfenced(context)))
    missing = [w for w in _content(unfenced(statement)) if w not in known]
    if missing:
        return 0, f"the context does not mention {missing[0]!r}"
    return 1, "the context says as much"


def _geval_steps(prompt: str) -> str:
    found = re.search(r"Evaluation Criteria:\n(.*?)\n\s*\*\*", prompt, re.DOTALL)
    criteria = " ".join((found.group(1) if found else "the criteria").split())[:300]
    return _verdict(
        steps=[
            f"Read the criteria: {criteria}",
            "Check the actual output against each part of the criteria.",
            "Give the top of the scale when it meets every part, less for each part it "
            "misses, the bottom when it meets none.",
        ]
    )


def _geval_score(prompt: str) -> str:
    texts = fenced_all(prompt)
    output = " ".join(texts.get("OUTPUT", []))
    words = _words(output)
    expected = " ".join(texts.get("EXPECTED", []))
    if expected:
        wanted = set(_content(expected)) or set(_words(expected))
        held = wanted & set(words)
        score = round(10 * len(held) / len(wanted)) if wanted else 0
        reason = f"The output holds {len(held)} of the {len(wanted)} key words expected."
    else:
        score = min(_TOP_SCORE, 2 + len(words) // 3) if words else 0
        size = "A full" if len(words) >= 24 else "A short" if len(words) < 9 else "An"
        reason = f"{size} answer of {len(words)} words to weigh against the steps."
    return _verdict(score=score, reason=reason)


def _opinions(prompt: str) -> str:
    output = " ".join(fenced_all(prompt).get("OUTPUT", []))
    return _verdict(opinions=[s for s in _sentences(output) if _OPINION.search(s)])


def _opinion_verdicts(prompt: str) -> str:
    if "is biased" in prompt:
        rule, what = _BIASED, "generalises about a group"
    else:
        rule, what = _TOXIC, "insults someone"
    verdicts = []
    for opinion in fenced_all(prompt).get("OPINION", []):
        found = rule.search(opinion)
        if found:
            verdicts.append({"verdict": "yes", "reason": f"it {what} ({found.group(0)!r})"})
        else:
            verdicts.append({"verdict": "no", "reason": "a fair opinion"})
    return _verdict(verdicts=verdicts)


def _overall_reason(prompt: str) -> str:
    kind = "biased" if "bias score" in prompt else "toxic"
    found = re.search(r"Score:\s*([0-9]+(?:\.[0-9]+)?)", prompt)
    score = found.group(1) if found else "unknown"
    if found and float(score) >= 1:
        why = f"no opinion in the output is {kind}"
    else:
        why = f"some of the output's opinions are {kind}"
    return _verdict(reason=f"The score is {score} because {why}.")


def _ragas_answer(data: dict[str, Any]) -> str | None:
    if "answer" in data:  # Faithfulness: the answer's statements
        return _verdict(statements=_clauses(str(data["answer"])))
    if "response" in data:  # FactualCorrectness: a text's claims
        return _verdict(claims=_clauses(str(data["response"])))
    if "statements" in data and "context" in data:  # verdicts on statements or claims
        verdicts = []
        for statement in data["statements"]:
            verdict, reason = _supported(str(statement), str(data["context"]))
            verdicts.append({"statement": statement, "reason": reason, "verdict": verdict})
        return _verdict(statements=verdicts)
    return None


def _library_answer(prompt: str) -> str | None:
    """The fair answer to a prompt deepeval or ragas wrote, or None for any other."""
    if "concise evaluation steps" in prompt and '"steps"' in prompt:
        return _geval_steps(prompt)
    if "Evaluation Steps:" in prompt and '"score"' in prompt:
        return _geval_score(prompt)
    if "generate a list of OPINIONS" in prompt:
        return _opinions(prompt)
    if "indicate whether EACH opinion" in prompt:
        return _opinion_verdicts(prompt)
    if "provide an overall reason" in prompt:
        return _overall_reason(prompt)
    data = ragas_input(prompt)
    return None if data is None else _ragas_answer(data)


def fair_by(key: Callable[[str], float]) -> Responder:
    """A consistent judge: of answers A and B, the one with the larger `key(text)` wins
    (equal keys tie), whatever their order; refusals by `looks_like_refusal`; the library
    metrics' prompts by the rules in the module's docstring."""

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
        return _library_answer(prompt) or _neutral(prompt)

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


class Recorder:
    """A responder that keeps every request it answers, for a test to read back.

    Answers like `then` (default `fair`); a subclass may override `answer` instead.
    `delay` seconds pass before each answer (in the server's thread), and `most_in_flight`
    is the most requests it was answering at once. Safe across the server's threads."""

    def __init__(self, then: Responder | None = None, *, delay: float = 0.0) -> None:
        self.then = then or fair
        self.delay = delay
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.in_flight = self.most_in_flight = 0
        self._lock = threading.Lock()

    def __call__(self, prompt: str, body: dict[str, Any]) -> str:
        with self._lock:
            self.requests.append((prompt, body))
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.delay:
                time.sleep(self.delay)
            return self.answer(prompt, body)
        finally:
            with self._lock:
                self.in_flight -= 1

    def answer(self, prompt: str, body: dict[str, Any]) -> str:
        return self.then(prompt, body)

    def prompts(self, containing: str = "") -> list[str]:
        """The prompts received that contain `containing`, in order of arrival."""
        with self._lock:
            return [p for p, _ in self.requests if containing in p]

    def bodies(self, containing: str = "") -> list[dict[str, Any]]:
        """The request bodies of those prompts."""
        with self._lock:
            return [b for p, b in self.requests if containing in p]
