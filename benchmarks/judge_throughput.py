"""Judge throughput: N cases x 2 targets = 2N judged checks against a judge with latency L.

The base and candidate are Python functions (model time nil); every case has one
`judge_refusal` check, judged by an OpenAI-compatible target: the test server
(`FakeOpenAIServer`, fixed latency L, the `fair` scripted judge) at judge concurrency C.
The server runs in a child process, as a real judge would run elsewhere, so its HTTP
handling does not compete with the client for this process's GIL (`--server-in-process`
puts it back in this process). Timed in this process:

  no judge     the same run with no judge configured (generations from the store, judged
               checks skipped): everything but the judge;
  judged       the same run with the judge: 2N judge calls;
  ideal        2N * L / C, what perfect overlap of the judge calls would take;
  reference    a bare AsyncOpenAI loop with a semaphore of C sending the very 2N judge
               requests of the judged run (same messages, same server, no tunegate);
  rerun        the judged run again: every verdict from the store, no judge call.

It prints the judge phase (judged - no judge) over the ideal and over the reference, and
the judge calls of the rerun (must be 0). Run: python benchmarks/judge_throughput.py
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI

from tunegate import Results, run
from tunegate.metrics import MetricInput, get_metric
from tunegate.testing import FakeOpenAIServer
from tunegate.testing.judges import fair

MODEL = (
    "def base(messages):\n"
    "    return 'Sorry, I cannot help with ' + messages[-1]['content']\n"
    "def cand(messages):\n"
    "    return 'Here is the answer to ' + messages[-1]['content']\n"
)


def _started(latency: float) -> FakeOpenAIServer:
    server = FakeOpenAIServer(latency=latency, responder=fair).start()
    # The test server listens with socketserver's default backlog of 5: a burst of C=32
    # new connections then gets some of them reset (a bare client fails; tunegate retries,
    # adding back-off time). A real server's backlog is larger: widen it before any
    # connection, so tunegate and the reference see the same server.
    server._httpd.socket.listen(128)
    return server


def _serve(conn: Connection, latency: float) -> None:
    server = _started(latency)
    conn.send(server.base_url)
    while (message := conn.recv()) != "stop":
        conn.send(server.served() if message == "served" else None)
    server.stop()


class Judge:
    """The judge server, in a child process or in this one; `served()` counts answers."""

    def __init__(self, latency: float, in_process: bool) -> None:
        self._server: FakeOpenAIServer | None = None
        self._conn: Connection | None = None
        if in_process:
            self._server = _started(latency)
            self.base_url = self._server.base_url
            return
        ours, theirs = multiprocessing.get_context("spawn").Pipe()
        self._process = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(theirs, latency), daemon=True
        )
        self._process.start()
        self._conn = ours
        self.base_url = str(ours.recv())

    def served(self) -> int:
        if self._server is not None:
            return self._server.served()
        assert self._conn is not None
        self._conn.send("served")
        return int(self._conn.recv())

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        elif self._conn is not None:
            self._conn.send("stop")
            self._process.join(timeout=10)


@contextlib.contextmanager
def judge_server(latency: float, in_process: bool) -> Iterator[Judge]:
    judge = Judge(latency, in_process)
    try:
        yield judge
    finally:
        judge.stop()


def write_project(
    root: Path, base_url: str, n: int, concurrency: int, judge: bool, model: str = "judge-bench"
) -> Path:
    module = f"judge_bench_model_{n}_{concurrency}"  # imports are cached per process
    (root / f"{module}.py").write_text(MODEL)
    check = "[{metric: judge_refusal, args: {negate: true}}]"
    cases = "\n".join(
        f"  - {{id: q{i}, prompt: 'question {i}', checks: {check}}}" for i in range(n)
    )
    (root / "suites").mkdir(exist_ok=True)
    (root / "suites" / "bench.yaml").write_text(
        f"name: bench\ngate: {{min_pass_rate: 0}}\ncases:\n{cases}\n"
    )
    config = root / "tunegate.yaml"
    config.write_text(
        "suites: [suites]\nout: reports\nbase: base\ncandidate: cand\n"
        + ("judge: judge\n" if judge else "")
        + "targets:\n"
        f"  base: {{provider: python, function: '{module}:base', concurrency: 16}}\n"
        f"  cand: {{provider: python, function: '{module}:cand', concurrency: 16}}\n"
        "  judge:\n"
        "    provider: openai\n"
        f"    base_url: {base_url}\n"
        f"    model: {model}\n"
        f"    concurrency: {concurrency}\n"
    )
    return config


def timed_run(config: Path) -> tuple[float, Results]:
    started = time.perf_counter()
    results = run(config=config, progress=False).results
    return time.perf_counter() - started, results


class _Capture:
    """A JudgeLLM that keeps the messages `judge_refusal` sends, for the reference."""

    def __init__(self) -> None:
        self.identity: dict[str, Any] = {}
        self.messages: list[list[dict[str, str]]] = []

    async def complete(self, messages: Any, *, max_tokens: int = 512) -> str:
        self.messages.append([dict(m) for m in messages])
        return '{"refusal": false, "reason": "captured"}'

    def openai_endpoint(self) -> None:
        return None


async def judge_requests(results: Results) -> list[list[dict[str, str]]]:
    """The messages the judged run sent: judge_refusal's prompt for each record."""
    metric: Any = get_metric("judge_refusal")
    capture = _Capture()
    for r in results.records:
        args = metric.args_model(negate=True)
        sample = MetricInput(
            output=r.output or "", prompt=r.prompt[-1].content, reference=None, context=None
        )
        await metric.judge(sample, args, capture)
    return capture.messages


async def reference(base_url: str, requests: list[list[dict[str, str]]], concurrency: int) -> float:
    client = AsyncOpenAI(api_key="x", base_url=base_url, max_retries=0)
    gate = asyncio.Semaphore(concurrency)

    async def one(messages: list[dict[str, str]]) -> None:
        async with gate:
            await client.chat.completions.create(
                model="judge-reference",
                messages=messages,  # type: ignore[arg-type]
                max_tokens=512,
                temperature=0.0,
            )

    started = time.perf_counter()
    await asyncio.gather(*(one(m) for m in requests))
    elapsed = time.perf_counter() - started
    await client.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=500, help="cases (judged checks: 2n)")
    parser.add_argument("-l", "--latency", type=float, default=0.05, help="judge latency, s")
    parser.add_argument("-c", "--concurrency", type=int, default=32, help="judge concurrency")
    parser.add_argument(
        "-r", "--repeat", type=int, default=3, help="judged and reference runs (median shown)"
    )
    parser.add_argument(
        "--server-in-process", action="store_true", help="run the judge server in this process"
    )
    args = parser.parse_args()
    checks = 2 * args.n
    ideal = checks * args.latency / args.concurrency
    cwd = Path.cwd()
    with (
        judge_server(args.latency, args.server_in_process) as judge,
        tempfile.TemporaryDirectory() as tmp,
    ):
        root = Path(tmp)
        os.chdir(root)
        try:
            plain = write_project(root, judge.base_url, args.n, args.concurrency, False)
            timed_run(plain)  # generates; the runs below take the outputs from the store
            no_judge, _ = timed_run(plain)
            judged_times: list[float] = []
            references: list[float] = []
            requests: list[list[dict[str, str]]] = []
            for k in range(args.repeat):
                # Another judge model each time, so no verdict comes from the store; the
                # reference runs right after, under the same machine load.
                judged_config = write_project(
                    root, judge.base_url, args.n, args.concurrency, True, f"judge-bench-{k}"
                )
                elapsed, first = timed_run(judged_config)
                judged_times.append(elapsed)
                requests = asyncio.run(judge_requests(first))
                references.append(
                    asyncio.run(reference(judge.base_url, requests, args.concurrency))
                )
            served = judge.served()
            rerun, second = timed_run(judged_config)
            rerun_served = judge.served() - served
        finally:
            os.chdir(cwd)

    stats = first.stats
    if stats.judged != checks or stats.judge_errors or len(requests) != checks:
        raise SystemExit(f"unexpected judge stats: {stats}")
    judged, ref = statistics.median(judged_times), statistics.median(references)
    phase = judged - no_judge
    where = "this process" if args.server_in_process else "a child process"
    print(
        f"{checks} judged checks ({args.n} cases x base + candidate); judge latency "
        f"L={args.latency}s, judge concurrency C={args.concurrency}, server in {where}; "
        f"{stats.judge_calls} judge requests (retries included); median of {args.repeat}: "
        f"judged {', '.join(f'{t:.2f}' for t in judged_times)} s, "
        f"reference {', '.join(f'{t:.2f}' for t in references)} s"
    )
    print(
        "| ideal 2N·L/C (s) | reference (s) | no judge (s) | judged (s) | judge phase (s) "
        "| phase/ideal | phase/reference | cached rerun (s) | rerun judge calls |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {ideal:.2f} | {ref:.2f} | {no_judge:.2f} | {judged:.2f} | {phase:.2f} "
        f"| {phase / ideal:.2f} | {phase / ref:.2f} | {rerun:.2f} "
        f"| {rerun_served} ({second.stats.judge_cached}/{second.stats.judged} from the store) |"
    )
    if rerun_served or second.stats.judge_calls:
        raise SystemExit("the cached rerun called the judge")


if __name__ == "__main__":
    main()
