"""Run generations: async, bounded per target, retried, cached in the store.

A job is one (case, target, sample). Jobs with the same cache key run once.
A provider failing on one job is recorded on that job and the run goes on;
only a TunegateError that is not a ProviderError (e.g. a model file that will
not load) stops the run.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ProviderError, TunegateError
from ..providers.base import Generation, GenerationRequest, Provider
from ..redact import Redactor
from ..suite import Case
from .progress import NullProgress, Progress
from .retry import RetryPolicy
from .sanitize import clean_error, clean_generation
from .store import Store, generation_key

__all__ = ["Job", "JobOutcome", "RunStats", "RunnerTarget", "make_jobs", "run_jobs"]

log = logging.getLogger("tunegate")


@dataclass(frozen=True)
class RunnerTarget:
    name: str
    provider: Provider
    concurrency: int
    timeout: float
    retry: RetryPolicy


@dataclass(frozen=True)
class Job:
    role: str
    target: str
    case: Case
    sample: int
    key: str
    request: GenerationRequest


@dataclass(frozen=True)
class JobOutcome:
    job: Job
    generation: Generation | None
    error: str | None
    cached: bool
    latency_s: float | None = None
    attempts: int = 0


@dataclass
class RunStats:
    jobs: int = 0
    calls: int = 0
    attempts: int = 0
    cached: int = 0
    errors: int = 0
    duration_s: float = 0.0


def make_jobs(cases: Sequence[Case], roles: dict[str, RunnerTarget]) -> list[Job]:
    """One job per (case, sample, role); `roles` maps base/candidate to a target."""
    jobs: list[Job] = []
    for case in cases:
        for sample in range(case.repeats):
            for role, target in roles.items():
                request = GenerationRequest(
                    suite=case.suite,
                    case_id=case.id,
                    sample=sample,
                    messages=case.message_dicts,
                    params=case.params,
                )
                key = generation_key(
                    dict(target.provider.fingerprint()),
                    request.messages,
                    case.params.model_dump(),
                    sample,
                )
                jobs.append(Job(role, target.name, case, sample, key, request))
    return jobs


async def run_jobs(
    jobs: Sequence[Job],
    targets: dict[str, RunnerTarget],
    store: Store,
    *,
    redact: Redactor,
    progress: Progress | None = None,
    rng: random.Random | None = None,
) -> tuple[list[JobOutcome], RunStats]:
    progress = progress or NullProgress()
    rng = rng or random.Random()
    started = time.monotonic()
    stats = RunStats(jobs=len(jobs))
    unique: dict[str, Job] = {}
    for job in jobs:
        unique.setdefault(job.key, job)

    done: dict[str, JobOutcome] = {}
    pending: list[Job] = []
    for key, job in unique.items():
        hit = store.get_generation(key)
        if hit is None:
            pending.append(job)
        else:
            done[key] = JobOutcome(job, hit.generation, None, True, hit.latency_s)
    stats.cached = len(unique) - len(pending)
    log.info("%d jobs, %d unique, %d from the store", len(jobs), len(unique), stats.cached)

    semaphores = {name: asyncio.Semaphore(t.concurrency) for name, t in targets.items()}
    progress.start(len(unique), stats.cached)
    try:
        await _warm_up({j.target for j in pending}, targets, progress)
        tasks = [
            asyncio.create_task(
                _run_one(job, targets[job.target], semaphores[job.target], store, redact, rng)
            )
            for job in pending
        ]
        try:
            for next_done in asyncio.as_completed(tasks):
                outcome = await next_done
                done[outcome.job.key] = outcome
                stats.calls += 1
                stats.attempts += outcome.attempts
                progress.advance(outcome.job.target)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
    finally:
        progress.stop()

    outcomes = []
    for job in jobs:
        shared = done[job.key]
        outcomes.append(
            JobOutcome(
                job,
                shared.generation,
                shared.error,
                shared.cached,
                shared.latency_s,
                shared.attempts if shared.job is job else 0,
            )
        )
    stats.errors = sum(1 for o in outcomes if o.error is not None)
    stats.duration_s = time.monotonic() - started
    return outcomes, stats


async def _warm_up(names: set[str], targets: dict[str, RunnerTarget], progress: Progress) -> None:
    for name in sorted(names):
        warm_up = getattr(targets[name].provider, "warm_up", None)
        if warm_up is not None:
            progress.status(f"loading {name}")
            log.info("loading %s", name)
            await warm_up()


async def _run_one(
    job: Job,
    target: RunnerTarget,
    semaphore: asyncio.Semaphore,
    store: Store,
    redact: Redactor,
    rng: random.Random,
) -> JobOutcome:
    policy = target.retry
    last_error = "not attempted"
    attempt = 0
    for attempt in range(1, policy.max_attempts + 1):
        retry_after: float | None = None
        async with semaphore:
            started = time.monotonic()
            try:
                generation = clean_generation(
                    await asyncio.wait_for(target.provider.generate(job.request), target.timeout),
                    redact,
                )
            except ProviderError as exc:
                last_error, retryable, retry_after = str(exc), exc.retryable, exc.retry_after
            except asyncio.TimeoutError:
                last_error, retryable = f"timed out after {target.timeout:g}s", True
            except TunegateError:
                raise
            except Exception as exc:  # a provider bug must not end the whole run
                last_error, retryable = f"unexpected {type(exc).__name__}: {exc}", False
            else:
                latency = time.monotonic() - started
                store.put_generation(
                    job.key,
                    target=job.target,
                    suite=job.case.suite,
                    case_id=job.case.id,
                    sample=job.sample,
                    generation=generation,
                    latency_s=latency,
                )
                return JobOutcome(job, generation, None, False, latency, attempt)
        last_error = clean_error(last_error, redact)
        if not retryable or attempt == policy.max_attempts:
            break
        if retry_after is not None and retry_after > policy.max_retry_after:
            last_error += f" (server asked to wait {retry_after:.0f}s; not waiting that long)"
            break
        delay = policy.delay(attempt, retry_after, rng)
        log.info(
            "%s %s: %s; retry %d in %.2fs", job.target, job.case.id, last_error, attempt, delay
        )
        await asyncio.sleep(delay)
    log.warning(
        "%s %s sample %d failed after %d attempt(s): %s",
        job.target,
        job.case.id,
        job.sample,
        attempt,
        last_error,
    )
    return JobOutcome(job, None, f"{last_error} (after {attempt} attempt(s))", False, None, attempt)

