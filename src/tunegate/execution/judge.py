"""The judge target as judged metrics use it: bounded, retried, redacted, cached.

Every judged check goes through `JudgeRunner.score`: its cache key holds the judge's
identity, the metric, the metric's prompt version, its arguments and everything the
metric sees of the output, so a rerun makes no judge call. Verdicts are stored as they
land; a failed verdict is not stored, so the next run asks again (as with generations).
Runs sharing a store claim a verdict's key before asking for it, as they do generations'
(`once_across_runs`), so two runs never ask the judge for the same verdict at once: the
second waits for the first's and uses it.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..metrics import MetricInput, MetricResult
from ..metrics.judging import RAW_KEPT, JudgedMetric, JudgeError, libraries
from ..providers.base import GenerationRequest
from ..redact import Redactor
from ..safe_text import clean_text
from ..suite import GenerationParams
from .runner import Heartbeat, RunnerTarget, call_with_retries, once_across_runs, warm_up
from .store import Claim, Store, content_key

__all__ = ["JudgeRunner", "JudgeStats", "TargetJudge", "judgment_key", "start_judge"]

Ask = Callable[[], Awaitable[dict[str, Any]]]
Remember = Callable[[str, str, Mapping[str, Any], Ask], Awaitable[dict[str, Any]]]

log = logging.getLogger("tunegate")


@dataclass
class JudgeStats:
    checks: int = 0  # judged checks this run scored
    cached: int = 0  # of which the store already held the verdict (`shared` included)
    shared: int = 0  # of which another run sharing the store asked while this one waited
    calls: int = 0  # requests sent to the judge, retries included
    errors: int = 0  # checks the judge gave no usable verdict for


class TargetJudge:
    """A configured target playing the judge (`JudgeLLM`). It owns the run's JudgeStats:
    the calls are counted here, the checks by the JudgeRunner that uses it."""

    def __init__(
        self, target: RunnerTarget, redact: Redactor, rng: random.Random | None = None
    ) -> None:
        self.target = target
        self.identity: Mapping[str, Any] = dict(target.provider.fingerprint())
        # For libraries that call the judge through their own client (ragas).
        self.timeout = target.timeout
        self.max_attempts = target.retry.max_attempts
        self.redact = redact
        self.stats = JudgeStats()
        self._rng = rng or random.Random()
        self._slots = asyncio.Semaphore(target.concurrency)
        # Checks whose library calls the judge through its own client (ragas) hold one of
        # the same slots for the whole check, so all judge traffic stays within the judge's
        # concurrency. Such a check never calls `complete`, so it cannot wait on itself.
        self.check_slots = self._slots
        # Set by the JudgeRunner using this judge: what verdicts depend on (G-Eval's
        # evaluation steps) kept in the store like them (`JudgeRunner.remember`).
        self.remember: Remember | None = None

    def note_call(self) -> None:
        """A request a library sent the judge through its own client (ragas)."""
        self.stats.calls += 1

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
        self.stats.calls += called.attempts
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
    return content_key(
        {"judge": judge, "metric": metric, "prompt_version": prompt_version, **content}
    )


async def start_judge(target: RunnerTarget, store: Store, redact: Redactor) -> JudgeRunner:
    """The run's judge, its model loaded (a local judge) before the first verdict, so that
    loading does not count against the first call's timeout. The libraries of deepeval and
    ragas are imported later, before the first verdict that needs them (`_import_libraries`):
    here, a rerun whose verdicts are all stored would wait for them for nothing."""
    await warm_up(target, role="the judge")
    return JudgeRunner(TargetJudge(target, redact), store)


class JudgeRunner:
    """Scores judged checks for one run."""

    def __init__(self, judge: TargetJudge, store: Store) -> None:
        self.judge = judge
        self.store = store
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        # Verdicts this run is asking for at once: one per judge slot, as a generation
        # claims its key only with a slot, so runs sharing the store split the verdicts
        # instead of one claiming them all up front.
        self._asking = asyncio.Semaphore(judge.target.concurrency)
        self._heartbeat = Heartbeat(store)
        judge.remember = self.remember

    @property
    def name(self) -> str:
        return self.judge.target.name

    @property
    def stats(self) -> JudgeStats:
        return self.judge.stats

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
            await _import_libraries(libraries(metric))
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
        lands. The same verdict needed twice at once is asked once: within this run (base
        and candidate gave the same answer) and across runs sharing the store (claims).
        Strings in a verdict are made safe and redacted; so is a JudgeError, which is
        re-raised."""
        self.stats.checks += 1
        key = judgment_key(self.judge.identity, metric, prompt_version, content)
        cached = self.store.get_judgment(key)
        if cached is not None:
            self.stats.cached += 1
            return cached
        if key in self._pending:
            self.stats.cached += 1
            try:
                return await self._once_in_run(key, ask)
            except JudgeError:
                self.stats.errors += 1
                raise
        return await self._once_in_run(key, lambda: self._claimed(metric, key, ask))

    async def remember(
        self, what: str, prompt_version: str, content: Mapping[str, Any], ask: Ask
    ) -> dict[str, Any]:
        """What verdicts depend on (G-Eval's evaluation steps written from a criteria),
        kept like a verdict: from the store, else `ask()`, stored; asked once at a time
        within the run and across runs sharing the store. Called from inside a check
        that holds one of `_asking`'s slots, so it takes none of them (at concurrency 1 it
        would wait on itself), and not counted as a check: its failure fails that check."""
        key = judgment_key(self.judge.identity, what, prompt_version, content)
        cached = self.store.get_judgment(key)
        if cached is not None:
            return cached
        own_slot = asyncio.Semaphore(1)

        async def mine() -> dict[str, Any]:
            try:
                found = await ask()
                self.store.put_judgment(key, judge=self.name, metric=what, verdict=found)
                return found
            finally:
                own_slot.release()

        async def across_runs() -> dict[str, Any]:
            got = await once_across_runs(self.store, key, own_slot, mine, judgment=True, what=what)
            found = got.verdict if isinstance(got, Claim) else got
            assert found is not None  # a DONE judgment claim carries it
            return found

        return await self._once_in_run(key, across_runs)

    async def _once_in_run(self, key: str, produce: Ask) -> dict[str, Any]:
        """`produce()` once for `key` in this run: a caller arriving while it runs waits for
        its answer, or its error."""
        pending = self._pending.get(key)
        if pending is not None:
            return dict(await asyncio.shield(pending))
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            found = await produce()
        except Exception as exc:
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

    async def _claimed(
        self, metric: str, key: str, ask: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        """`ask()` under a claim on `key`, or the verdict another run sharing the store
        asked for meanwhile."""

        async def mine() -> dict[str, Any]:
            try:
                return await self._ask(metric, key, ask)
            finally:
                self._asking.release()

        async with self._heartbeat.beating():  # renews the claim while the judge answers
            found = await once_across_runs(
                self.store, key, self._asking, mine, judgment=True, what=f"{metric} verdict"
            )
        if not isinstance(found, Claim):
            return found
        self.stats.cached += 1
        self.stats.shared += 1
        if self.stats.shared == 1:  # once: the run's counts include them in judge_cached
            log.info("verdicts of another run sharing the store are used, not asked again")
        assert found.verdict is not None  # a DONE judgment claim carries it
        return found.verdict

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


# Libraries imported in this process by `_import_libraries`. Not sys.modules: a module
# another thread is still importing is there already, and importing it on the event loop
# would block until that import ends.
_IMPORTED: set[str] = set()


async def _import_libraries(names: Iterable[str]) -> None:
    """Import a judged metric's libraries off the event loop, before its first verdict.
    A first import of deepeval or ragas takes 1-2.5 s: on the loop, it would stall every
    judge call in flight long enough for a short judge `timeout` to fire on answers that
    had already arrived. A library that fails to import is left to the metric to report."""
    missing = [n for n in names if n not in _IMPORTED]
    if missing:
        await asyncio.to_thread(_import, missing)


def _import(names: Sequence[str]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # ImportError above all: the check says how to install it
            log.debug("could not import %s for a judged metric: %s", name, exc)
        _IMPORTED.add(name)


def _valid(verdict: Mapping[str, Any]) -> bool:
    value = verdict.get("value")
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
