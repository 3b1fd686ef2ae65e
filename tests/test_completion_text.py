"""How a conversation becomes plain text for a base model."""

from __future__ import annotations

from tunegate.providers.completion import DEFAULT_COMPLETION_TEMPLATE, to_text


def _messages(user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "Be brief."}, {"role": "user", "content": user}]


def test_the_default_template_labels_a_plain_question() -> None:
    text = to_text(_messages("How long is the warranty?"), DEFAULT_COMPLETION_TEMPLATE)
    assert text == "Be brief.\n\nQuestion: How long is the warranty?\nAnswer:"


def test_a_prompt_with_its_own_question_label_is_not_labelled_twice() -> None:
    user = "Policy: Tents carry a 2-year warranty.\nQuestion: How long is the warranty?"
    text = to_text(_messages(user), DEFAULT_COMPLETION_TEMPLATE)
    assert text.count("Question:") == 1
    assert text == f"Be brief.\n\n{user}\nAnswer:"


def test_a_custom_template_is_used_as_written() -> None:
    text = to_text(_messages("Question: hi"), "{prompt} =>")
    assert text == "Question: hi =>"
