"""The log-likelihood of a text under an in-process llama.cpp model, from its logits.

The whole token sequence, its last token too, is evaluated in one forward pass, as
`Llama(logits_all=True).eval(tokens)` does. On a quantized model the batch's shape picks
the kernels: cut into pieces the same text scored up to 0.2 nats per token differently,
and even leaving out the last token (which predicts nothing) moved a sum by 7e-4.

This works on the generation instance, built with `logits_all=False`: in llama-cpp-python
that flag only decides which rows `Llama.eval` asks llama.cpp for, and this module asks for
them itself, so no second copy of the model (nor its n_ctx x n_vocab score table) is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ProviderError
from .base import (
    NOTHING_TO_SCORE,
    Loglikelihood,
    LoglikelihoodRequest,
    TokenLogprob,
    check_loglikelihood,
)

__all__ = ["score_text", "text_tokens"]


def text_tokens(llama: Any, request: LoglikelihoodRequest, what: str) -> tuple[list[int], int]:
    """The tokens to evaluate, and the index of the first one scored."""
    context, continuation = request.split()
    bos = [llama.token_bos()] if _adds_bos(llama) else []
    # special=False: a "<bos>" written in the text is text, not the control token.
    whole = bos + llama.tokenize((context + continuation).encode(), add_bos=False, special=False)
    if not context:
        return whole, 1
    head = bos + llama.tokenize(context.encode(), add_bos=False, special=False)
    if whole[: len(head)] != head:
        raise ProviderError(
            f"{what}: the prefix's last token runs on into the text, so no token boundary falls "
            "where the text starts; end the prefix at a word boundary"
        )
    return whole, len(head)


def score_text(
    llama: Any, request: LoglikelihoodRequest, what: str, stop_now: Callable[[], bool]
) -> Loglikelihood:
    """Sum of log P(token | everything before it) over the text's tokens. The caller holds
    the compute lock; the model's KV cache is left empty, as generation expects it."""
    tokens, first = text_tokens(llama, request, what)
    if first >= len(tokens):
        raise ProviderError(f"{what}: {NOTHING_TO_SCORE}")
    if len(tokens) > llama.n_batch:
        raise ProviderError(
            f"{what}: the prefix and text are {len(tokens)} tokens; at most "
            f"{llama.n_batch} are scored (one forward pass); shorten them"
        )
    if stop_now():
        raise ProviderError(f"{what}: scoring cancelled")
    values = _logprobs(llama, tokens, first)
    pieces = [
        llama.detokenize([t], prev_tokens=tokens[:i]).decode("utf-8", errors="replace")
        for i, t in enumerate(tokens)
    ]
    scored = [TokenLogprob(pieces[first + i], v) for i, v in enumerate(values)]
    result = Loglikelihood(logprob=sum(values), tokens=len(values), token_logprobs=scored)
    return check_loglikelihood(result, what)


def _logprobs(llama: Any, tokens: list[int], first: int) -> list[float]:
    """log P(tokens[i] | tokens[:i]) for i from `first`, in one llama_decode."""
    import llama_cpp
    import numpy as np

    n_vocab = llama.n_vocab()
    batch = llama_cpp.llama_batch_init(len(tokens), 0, 1)
    _clear(llama)
    try:
        batch.n_tokens = len(tokens)
        for i, token in enumerate(tokens):
            batch.token[i] = token
            batch.pos[i] = i
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = 0
            # Only the rows that predict a scored token: each costs n_vocab floats.
            batch.logits[i] = first - 1 <= i < len(tokens) - 1
        code = llama_cpp.llama_decode(llama.ctx, batch)
        if code != 0:
            raise ProviderError(f"llama.cpp could not evaluate the text (llama_decode: {code})")
        values = []
        for i in range(first - 1, len(tokens) - 1):
            pointer = llama_cpp.llama_get_logits_ith(llama.ctx, i)
            row = np.ctypeslib.as_array(pointer, shape=(n_vocab,)).astype(np.float64)
            top = row.max()
            log_norm = top + np.log(np.exp(row - top).sum())
            values.append(float(row[tokens[i + 1]] - log_norm))
        return values
    finally:
        llama_cpp.llama_batch_free(batch)
        _clear(llama)


def _clear(llama: Any) -> None:
    """Empty the KV cache and llama-cpp-python's record of it, so nothing carries over."""
    import llama_cpp

    llama.reset()
    memory = llama_cpp.llama_get_memory(llama.ctx)
    if memory is not None:
        llama_cpp.llama_memory_clear(memory, True)


def _adds_bos(llama: Any) -> bool:
    import llama_cpp

    return bool(llama_cpp.llama_vocab_get_add_bos(llama_cpp.llama_model_get_vocab(llama.model)))
