"""Render a chat conversation as plain-completion text for base models (no chat template)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..suite import render

__all__ = ["DEFAULT_COMPLETION_STOP", "DEFAULT_COMPLETION_TEMPLATE", "to_text"]

DEFAULT_COMPLETION_TEMPLATE = "{system}\n\nQuestion: {prompt}\nAnswer:"
DEFAULT_COMPLETION_STOP = ["\nQuestion:", "\n\n"]
# The default template, for a prompt that already labels its own question (a suite
# template such as "Policy: {context}\nQuestion: {prompt}"): labelling it twice would
# show the model "Question: Policy: …\nQuestion: …".
_UNLABELLED_TEMPLATE = "{system}\n\n{prompt}\nAnswer:"
_OWN_QUESTION = re.compile(r"^Question:", re.MULTILINE)


def to_text(messages: Sequence[dict[str, str]], template: str) -> str:
    system = "\n".join(m["content"] for m in messages if m["role"] == "system")
    turns = [m for m in messages if m["role"] != "system"]
    prompt = next((m["content"] for m in reversed(turns) if m["role"] == "user"), "")
    transcript = "\n".join(
        f"{'User' if m['role'] == 'user' else 'Assistant'}: {m['content']}" for m in turns
    )
    if template == DEFAULT_COMPLETION_TEMPLATE and _OWN_QUESTION.search(prompt):
        template = _UNLABELLED_TEMPLATE
    text = render(template, {"system": system, "prompt": prompt, "transcript": transcript})
    return text.lstrip("\n")
