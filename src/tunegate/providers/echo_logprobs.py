"""A text's log-likelihood read from an OpenAI-style completion that echoes its prompt.

The request is `echo: true, logprobs: 1, max_tokens: 1`: the server returns the prompt's
tokens with their log-probabilities, then the one token it generated. vLLM and llama.cpp's
servers do this; OpenAI's hosted models do not. The body is a server's word, so every way
it can be wrong (no echo, null or non-finite values, lists of different lengths, tokens
that do not spell the text) is an error on that call, never a number.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeGuard

from ..errors import ProviderError
from ..safe_text import clean_text, one_line, shorten
from .base import NOTHING_TO_SCORE, Loglikelihood, TokenLogprob, check_loglikelihood, is_logprob

__all__ = ["ECHO_ARGS", "prompt_loglikelihood"]

# What to send besides model and prompt. max_tokens 0 would be clearer, but llama.cpp's
# Python server reads 0 as "until the context is full" and vLLM refuses it.
ECHO_ARGS: dict[str, Any] = {"echo": True, "logprobs": 1, "max_tokens": 1, "temperature": 0.0}
_MAX_GENERATED = 1

_Bad = Callable[[str], ProviderError]

_NO_ECHO = (
    "returned no log-probabilities for the prompt; the server must support echo with "
    "logprobs on /v1/completions (vLLM and llama.cpp's servers do; OpenAI's hosted "
    "models do not)"
)


def prompt_loglikelihood(body: Any, prompt: str, context: str, what: str) -> Loglikelihood:
    """Sum of the log-probabilities of the prompt's tokens that spell the text after
    `context` (with no context, of every token after the first), from the JSON `body`."""

    def bad(problem: str) -> ProviderError:
        return ProviderError(f"{what} {problem}")

    choice = _first_choice(body)
    if choice is None:
        raise bad("returned no completion choice")
    text = choice.get("text")
    if not isinstance(text, str) or not text.startswith(prompt):
        raise bad(f"did not echo the prompt, so it {_NO_ECHO}")
    logprobs = choice.get("logprobs")
    if not isinstance(logprobs, dict):
        raise bad(_NO_ECHO)
    values = logprobs.get("token_logprobs")
    tokens = logprobs.get("tokens")
    if not isinstance(values, list) or not isinstance(tokens, list):
        raise bad(f"{_NO_ECHO} (token_logprobs or tokens is missing)")
    if len(tokens) != len(values):
        raise bad(f"returned {len(tokens)} tokens but {len(values)} log-probabilities")
    if not all(isinstance(t, str) for t in tokens):
        raise bad("returned a token that is not a string")
    prompt_entries = _prompt_entries(body.get("usage"), len(values), bad)
    first = _first_scored(tokens, prompt_entries, prompt, context, bad)
    if first >= prompt_entries:
        raise ProviderError(f"{what}: {NOTHING_TO_SCORE}")
    scored: list[TokenLogprob] = []
    for index in range(first, prompt_entries):
        value = values[index]
        if not is_logprob(value):
            raise bad(
                f"returned the log-probability {_shown(value)} for prompt token {index}; "
                "expected a finite number <= 0"
            )
        scored.append(TokenLogprob(clean_text(tokens[index]), float(value)))
    total = math.fsum(t.logprob or 0.0 for t in scored)
    return check_loglikelihood(Loglikelihood(total, len(scored), scored), what)


def _first_choice(body: Any) -> dict[str, Any] | None:
    choices = body.get("choices") if isinstance(body, dict) else None
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return None


def _prompt_entries(usage: Any, entries: int, bad: _Bad) -> int:
    """How many of the entries are the prompt's: all but the generated ones at the end.
    `usage.prompt_tokens` checks it; a server may leave the BOS out of the echo."""
    if not isinstance(usage, dict):
        raise bad("returned no usage, so which tokens are the prompt's cannot be told")
    generated, prompt_tokens = usage.get("completion_tokens"), usage.get("prompt_tokens")
    if not _count(generated) or not _count(prompt_tokens) or generated > _MAX_GENERATED:
        raise bad(
            f"returned usage completion_tokens={_shown(generated)}, prompt_tokens="
            f"{_shown(prompt_tokens)}; expected whole numbers, at most {_MAX_GENERATED} generated"
        )
    in_prompt = entries - generated
    if in_prompt < 1 or in_prompt not in (prompt_tokens, prompt_tokens - 1):
        raise bad(
            f"returned {entries} log-probabilities for {prompt_tokens} prompt and {generated} "
            "generated token(s); they do not match"
        )
    return in_prompt


def _first_scored(tokens: list[str], in_prompt: int, prompt: str, context: str, bad: _Bad) -> int:
    """The entry where the text starts: 1 with no context (nothing predicts entry 0), else
    the one from which the echoed tokens spell the text exactly. Not `text_offset`: vLLM
    counts the BOS's name ("<s>") in it, so its offsets run ahead of the prompt."""
    if not context:
        return 1
    text = prompt[len(context) :]
    spelled = ""
    for index in range(in_prompt - 1, 0, -1):
        spelled = tokens[index] + spelled
        if spelled == text:
            return index
        if not text.endswith(spelled):
            break
    raise bad(
        "echoed tokens that do not spell the text after the prefix (the prefix's last "
        "token may run on into the text: end the prefix at a word boundary)"
    )


def _shown(value: Any) -> str:
    """A server's value in a message: one line, short."""
    return one_line(shorten(repr(value), 40))


def _count(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
