"""Warnings about the judge itself: judges favour their own outputs and their family's."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .runner import RunnerTarget

__all__ = ["judge_warnings", "model_family"]

# Where a target names its model, by provider: the model id, or the packaged GGUF.
_MODEL_KEYS = ("model", "model_package", "model_path")


def model_family(identity: Mapping[str, Any]) -> str | None:
    """The family of the model a target serves: the leading letters of its model name
    (`gpt-4o-mini` -> gpt, `gemma3-270m` -> gemma, `Qwen2.5-7B` -> qwen), or None."""
    for key in _MODEL_KEYS:
        value = identity.get(key)
        if isinstance(value, str) and value:
            name = value.replace("\\", "/").rsplit("/", 1)[-1].lower()
            match = re.match(r"[a-z]+", name)
            if match:
                return match.group(0)
    return None


def judge_warnings(roles: Mapping[str, RunnerTarget]) -> list[str]:
    judge = roles.get("judge")
    if judge is None:
        return []
    warnings: list[str] = []
    judge_id = dict(judge.provider.fingerprint())
    family = model_family(judge_id)
    for role in ("candidate", "base"):
        other = roles.get(role)
        if other is None:
            continue
        other_id = dict(other.provider.fingerprint())
        if other.name == judge.name or other_id == judge_id:
            warnings.append(
                f"the judge '{judge.name}' is the {role}: judges favour their own answers; "
                "use a judge from another model family"
            )
        elif family is not None and family == model_family(other_id):
            warnings.append(
                f"the judge '{judge.name}' shares the {role}'s model family ({family}): "
                "judges favour answers like their own; use a judge from another family"
            )
    return warnings
