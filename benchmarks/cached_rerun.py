"""A rerun served entirely from the store: N cases x 2 targets, no model call.

Reference, measured in the same run: the raw I/O such a run cannot avoid, i.e. parsing
the suite file with libyaml and serialising the same number of result records with json.
Prints the ratio tunegate / reference. Run: python benchmarks/cached_rerun.py
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import tempfile
import time
from pathlib import Path

import yaml

from tunegate.cli import main as tunegate_main

MODEL = "def answer(messages):\n    return 'echo ' + messages[-1]['content']\n"


def write_project(root: Path, n: int) -> Path:
    module = f"echo_model_{n}"  # one module name per project: imports are cached per process
    check = "[{metric: contains, args: {text: echo}}]"
    cases = "\n".join(
        f"  - {{id: c{i}, prompt: 'question {i}', checks: {check}}}" for i in range(n)
    )
    (root / "suites").mkdir()
    suite = root / "suites" / "big.yaml"
    suite.write_text(f"name: big\ncases:\n{cases}\n")
    (root / f"{module}.py").write_text(MODEL)
    (root / "tunegate.yaml").write_text(
        "base: base\ncandidate: cand\ntargets:\n"
        "  base: {provider: replay, path: base.jsonl}\n"
        f"  cand: {{provider: python, function: '{module}:answer', concurrency: 16}}\n"
    )
    lines = [json.dumps({"case_id": f"c{i}", "output": f"echo {i}"}) for i in range(n)]
    (root / "base.jsonl").write_text("\n".join(lines) + "\n")
    return suite


def timed_run() -> float:
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = tunegate_main(["run", "--no-progress"])
    if code not in (0, 1):
        raise SystemExit(f"tunegate run exited {code}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, nargs="+", default=[1000, 5000])
    args = parser.parse_args()
    print(
        "| cases | records | first run (s) | cached rerun (s) | reference (s) | rerun/reference |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    cwd = Path.cwd()
    for n in args.n:
        with tempfile.TemporaryDirectory() as tmp:
            suite = write_project(Path(tmp), n)
            os.chdir(tmp)
            try:
                first = timed_run()
                rerun = timed_run()
                results = json.loads(
                    (Path(tmp) / "reports" / "latest" / "results.json").read_text()
                )
                started = time.perf_counter()
                yaml.load(suite.read_text(), Loader=yaml.CSafeLoader)
                json.dumps(results, indent=2)
                reference = time.perf_counter() - started
            finally:
                os.chdir(cwd)
        print(
            f"| {n} | {2 * n} | {first:.2f} | {rerun:.2f} | {reference:.2f} | "
            f"{rerun / reference:.1f} |"
        )


if __name__ == "__main__":
    main()
