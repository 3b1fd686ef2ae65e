"""Throughput: N cases against a local OpenAI-compatible server with fixed latency L.

For each concurrency C it times three things in the same process, on the same server:
  ideal      N * L / C, what perfect overlap would take;
  reference  a bare AsyncOpenAI loop with a semaphore of C (no tunegate at all);
  tunegate   a full `tunegate run`: load, generate, commit each call to the store,
             score, gate, write results.json and report.html.
It prints tunegate/ideal and tunegate/reference. Run: python benchmarks/throughput.py
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import tempfile
import time
from pathlib import Path

from openai import AsyncOpenAI

from tunegate.cli import main as tunegate_main
from tunegate.testing import FakeOpenAIServer


def write_project(root: Path, base_url: str, n: int, concurrency: int) -> None:
    check = "[{metric: contains, args: {text: echo}}]"
    cases = "\n".join(
        f"  - {{id: q{i}, prompt: 'question {i}', checks: {check}}}" for i in range(n)
    )
    (root / "suites").mkdir()
    (root / "suites" / "bench.yaml").write_text(f"name: bench\ncases:\n{cases}\n")
    (root / "tunegate.yaml").write_text(
        "candidate: cand\n"
        "targets:\n"
        "  cand:\n"
        "    provider: openai\n"
        f"    base_url: {base_url}\n"
        "    model: bench\n"
        f"    concurrency: {concurrency}\n"
    )


async def reference(base_url: str, n: int, concurrency: int) -> float:
    client = AsyncOpenAI(api_key="x", base_url=base_url, max_retries=0)
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await client.chat.completions.create(
                model="bench", messages=[{"role": "user", "content": f"ref {i}"}], max_tokens=8
            )

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = time.perf_counter() - started
    await client.close()
    return elapsed


def tunegate_run(base_url: str, n: int, concurrency: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_project(root, base_url, n, concurrency)
        cwd = Path.cwd()
        try:
            import os

            os.chdir(root)
            started = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                code = tunegate_main(["run", "--no-progress"])
            elapsed = time.perf_counter() - started
        finally:
            os.chdir(cwd)
        if code != 0:
            raise SystemExit(f"tunegate run exited {code}")
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=200, help="cases")
    parser.add_argument("-l", "--latency", type=float, default=0.05, help="server latency, s")
    parser.add_argument("-c", "--concurrency", type=int, nargs="+", default=[1, 4, 16])
    args = parser.parse_args()
    print(f"N={args.n} cases, server latency L={args.latency}s")
    print(
        "| C | ideal N·L/C (s) | reference (s) | tunegate (s) "
        "| tunegate/ideal | tunegate/reference |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    with FakeOpenAIServer(latency=args.latency) as server:
        for c in args.concurrency:
            ideal = args.n * args.latency / c
            ref = asyncio.run(reference(server.base_url, args.n, c))
            ours = tunegate_run(server.base_url, args.n, c)
            print(
                f"| {c} | {ideal:.2f} | {ref:.2f} | {ours:.2f} | {ours / ideal:.2f} | "
                f"{ours / ref:.2f} |"
            )


if __name__ == "__main__":
    main()
