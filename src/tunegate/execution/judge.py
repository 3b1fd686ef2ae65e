"""The judge target as judged metrics use it: bounded, retried, redacted, cached.

Every judged check goes through `JudgeRunner.score`: its cache key holds the judge's
identity, the metric, the metric's prompt version, its arguments and everything the
metric sees of the output, so a rerun makes no judge call. Verdicts are stored as they
land; a failed verdict is not stored, so the next run asks again (as with generations).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..metrics import MetricInput, MetricResult
from ..metrics.judging import RAW_KEPT, JudgedMetric, JudgeError
from ..providers.base import GenerationRequest
from ..redact import Redactor
from ..safe_text import clean_text
from ..suite import GenerationParams
from .runner import RunnerTarget, call_with_retries
from .store import Store

__all__ = ["JudgeRunner", "JudgeStats", "TargetJudge", "judgment_key"]

log = logging.getLogger("tunegate")


@dataclass
class JudgeStats:
    checks: int = 0  # judged checks this run scored
    cached: int = 0  # of which the store already held the verdict
    calls: int = 0  # requests sent to the judge, retries included
    errors: int = 0  # checks the judge gave no usable verdict for


class TargetJudge:
    """A configured target playing the judge (`JudgeLLM`)."""

    def __init__(
        self, target: RunnerTarget, redact: Redactor, stats: JudgeStats, rng: random.Random
    ) -> None:
        self.target = target
        self.identity: Mapping[str, Any] = dict(target.provider.fingerprint())
        # For libraries that call the judge through their own client (ragas).
        self.timeout = target.timeout
        self.max_attempts = target.retry.max_attempts
        self.redact = redact
        self._stats = stats
        self._rng = rng
        self._slots = asyncio.Semaphore(target.concurrency)
        # Checks whose library calls the judge through its own client (ragas) hold one of
        # the same slots for the whole check, so all judge traffic stays within the judge's
        # concurrency. Such a check never calls `complete`, so it cannot wait on itself.
        self.check_slots = self._slots

    def note_call(self) -> None:
        """A request a library sent the judge through its own client (ragas)."""
        self._stats.calls += 1

    async def complete(
        self, messages: Sequence[Mapping[str, str]], *, max_tokens: int = 512
    ) -> str:
        request = GenerationRequest(
            suite="(judge)",
            case_id="(judge)",
            sample=0,
            messages=[{"role": m["role"], "content": m["content"]} for m in messages],
            params=GenerationParams(temperature=0.0, max_tokens=max_tokens),
        )
        called = await call_with_retries(
            self.target,
            self._slots,
            request,
            redact=self.redact,
            rng=self._rng,
            what=f"judge {self.target.name}",
        )
        self._stats.calls += called.attempts
        if called.generation is None:
            raise JudgeError(f"the judge failed: {called.error}")
        if called.generation.refused:
            raise JudgeError("the judge refused to give a verdict", called.generation.text)
        return called.generation.text

    def openai_endpoint(self) -> tuple[str, str | None, str] | None:
        endpoint = getattr(self.target.provider, "openai_endpoint", None)
        return endpoint() if callable(endpoint) else None


def judgment_key(
    judge: Mapping[str, Any], metric: str, prompt_version: str, content: Mapping[str, Any]
) -> str:
    """Hash of what decides a verdict: the judge, the metric and its prompts, and what it
    was shown."""
    payload = json.dumps(
        {"judge": judge, "metric": metric, "prompt_version": prompt_version, **content},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8", "replace")).hexdigest()


@dataclass
class JudgeRunner:
    """Scores judged checks for one run."""

    judge: TargetJudge
    store: Store
    stats: JudgeStats = field(default_factory=JudgeStats)
    _pending: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.judge.target.name

    async def score(self, metric: JudgedMetric, sample: MetricInput, args: Any) -> MetricResult:
        """The metric's verdict on `sample`, from the store when a run already asked."""
        dumped = args.model_dump(mode="json") if hasattr(args, "model_dump") else args
        content = {
            "args": dumped,
            "output": sample.output,
            "prompt": sample.prompt,
            "reference": sample.reference,
            "context": sample.context,
            "vars": dict(sample.vars),
        }

        async def ask() -> dict[str, Any]:
            result = await metric.judge(sample, args, self.judge)
            return {"value": result.value, "reason": result.reason}

        found = await self.verdict(
            metric.name, getattr(metric, "prompt_version", "1"), content, ask
        )
        if not _valid(found):
            raise JudgeError("the stored verdict has no numeric value")
        return MetricResult(float(found["value"]), str(found.get("reason", "")))

    async def verdict(
        self,
        metric: str,
        prompt_version: str,
        content: Mapping[str, Any],
        ask: Callable[[], Awaitable[dict[str, Any]]],
    ) -> dict[str, Any]:
        """The judge's verdict on `content`: from the store, else `ask()`, stored as it
        lands. The same verdict needed twice at once (base and candidate gave the same
        answer) is asked once. Strings in a verdict are made safe and redacted; so is a
        JudgeError, which is re-raised."""
        self.stats.checks += 1
        key = judgment_key(self.judge.identity, metric, prompt_version, content)
        cached = self.store.get_judgment(key)
        if cached is not None:
            self.stats.cached += 1
            return cached
        pending = self._pending.get(key)
        if pending is not None:
            self.stats.cached += 1
            try:
                return dict(await asyncio.shield(pending))
            except JudgeError:
                self.stats.errors += 1
                raise
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            found = await self._ask(metric, key, ask)
        except JudgeError as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no warning when nobody else waited
            raise
        except BaseException:
            future.cancel()
            raise
        else:
            future.set_result(found)
            return found
        finally:
            del self._pending[key]

    async def _ask(
        self, metric: str, key: str, ask: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        try:
            found = await ask()
        except JudgeError as exc:
            # Libraries with their own client (ragas) bring answers the runner never saw.
            self.stats.errors += 1
            raise JudgeError(self._safe(str(exc)), self._safe_optional(exc.raw)) from None
        found = {k: self._safe(v)[:RAW_KEPT] if isinstance(v, str) else v for k, v in found.items()}
        self.store.put_judgment(key, judge=self.name, metric=metric, verdict=found)
        return found

    def _safe(self, text: str) -> str:
        return self.judge.redact(clean_text(text))

    def _safe_optional(self, text: str | None) -> str | None:
        return None if text is None else self._safe(text)


def _valid(verdict: Mapping[str, Any]) -> bool:
    value = verdict.get("value")
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
