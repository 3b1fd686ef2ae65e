"""A judged run never leaves the machine: the judge libraries (deepeval, ragas) phone home
unless told not to, and `import tunegate` tells them.

The run happens in a subprocess whose first act is an audit hook (`sys.addaudithook`) that
refuses, and records, every socket connection or name lookup for a host other than the
loopback: nothing can slip past it, whichever library makes the call, at import, during
the run, or in an `atexit` handler while the interpreter exits.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

OPT_OUTS = ("DEEPEVAL_TELEMETRY_OPT_OUT", "DEEPEVAL_DISABLE_DOTENV", "RAGAS_DO_NOT_TRACK")

# argv: project folder, attempts file (JSON lines), report file (JSON).
SCRIPT = r'''
import json
import os
import socket
import sys

ROOT, ATTEMPTS, REPORT = sys.argv[1], sys.argv[2], sys.argv[3]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
phase = ["self-test"]


def _host(event, args):
    if event in ("socket.connect", "socket.sendto"):
        address = args[1]
        # An AF_UNIX path is a local file, not the network.
        return address[0] if isinstance(address, tuple) else None
    if event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
                 "socket.gethostbyaddr", "socket.getnameinfo"):
        first = args[0]
        return first[0] if isinstance(first, tuple) else first
    return None


def refuse_the_network(event, args):
    if not event.startswith("socket."):
        return
    host = _host(event, args)
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if host is None or str(host) in LOOPBACK:
        return
    with open(ATTEMPTS, "a", encoding="utf-8") as f:
        f.write(json.dumps({"phase": phase[0], "event": event, "host": str(host)}) + "\n")
    raise ConnectionRefusedError(f"test: network access to {host} refused ({event})")


sys.addaudithook(refuse_the_network)

# The hook is live: a lookup of a real host is refused (and recorded as the self-test).
try:
    socket.getaddrinfo("example.com", 443)
except ConnectionRefusedError:
    pass
else:
    raise SystemExit("the audit hook did not refuse a lookup")

phase[0] = "import"
before = {name: os.environ.get(name) for name in sys.argv[4:]}
import tunegate
after = {name: os.environ.get(name) for name in sys.argv[4:]}
import deepeval
import ragas

phase[0] = "run"
import textwrap
from pathlib import Path

from tunegate.metrics import get_metric
from tunegate.testing import FakeOpenAIServer
from tunegate.testing.judges import fair



def judge(prompt, body):
    """`fair`, and answers in the shapes deepeval's GEval and ragas' Faithfulness ask for,
    so their whole path runs (telemetry hooks included), not only their first call."""
    if '"steps" key' in prompt:
        return json.dumps({"steps": ["Read the input.", "Check the output answers it."]})
    if "Now perform the same" in prompt and '"statements"' in prompt:
        if '"verdict"' in prompt:
            statement = {"statement": "Paris is the capital.", "reason": "said", "verdict": 1}
            return json.dumps({"statements": [statement]})
        return json.dumps({"statements": ["Paris is the capital."]})
    return fair(prompt, body)


root = Path(ROOT)
checks = [
    {"metric": "judge_refusal", "args": {"negate": True}},
    {"metric": "pairwise"},
]
# The library-backed judged metrics, where this tunegate has them.
LIBRARY_CHECKS = {
    "geval": {"criteria": "Is the answer correct and helpful?"},  # deepeval
    "faithfulness": {},  # ragas
}
included = [name for name in LIBRARY_CHECKS if get_metric(name) is not None]
checks += [{"metric": name, "args": LIBRARY_CHECKS[name]} for name in included]

(root / "net_model.py").write_text(
    "def base(messages):\n    return 'Sorry, I cannot help with that.'\n"
    "def cand(messages):\n    return 'Paris is the capital of France.'\n"
)
(root / "suites").mkdir()
(root / "suites" / "net.yaml").write_text(json.dumps({
    "name": "net",
    "gate": {"min_pass_rate": 0.0},
    "cases": [{
        "id": f"c{i}",
        "prompt": f"What is the capital of France? ({i})",
        "reference": "Paris",
        "context": "Paris is the capital and largest city of France.",
        "checks": checks,
    } for i in range(3)],
}))
with FakeOpenAIServer(responder=judge) as srv:
    (root / "tunegate.yaml").write_text(json.dumps({
        "suites": ["suites"],
        "out": "reports",
        "base": "base",
        "candidate": "cand",
        "judge": "j",
        "targets": {
            "base": {"provider": "python", "function": "net_model:base"},
            "cand": {"provider": "python", "function": "net_model:cand"},
            "j": {"provider": "openai", "base_url": srv.base_url, "model": "judge-1"},
        },
    }))
    outcome = tunegate.run(config=root / "tunegate.yaml")
    served = srv.served()

stats = outcome.results.stats
with open(REPORT, "w", encoding="utf-8") as f:
    json.dump({
        "before": before,
        "after": after,
        "included": included,
        "scores": sorted({
            f"{name}: {score.value} {score.reason}"
            for record in outcome.results.records
            for name, score in record.scores.items()
            if name in included
        }),
        "judged": stats.judged,
        "judge_calls": stats.judge_calls,
        "judge_errors": stats.judge_errors,
        "served": served,
        "pairwise": len(outcome.results.pairwise),
    }, f)
# Whatever runs from here on runs as the interpreter exits (atexit: telemetry flushes).
phase[0] = "exit"
'''


def _needs(*modules: str) -> None:
    for module in modules:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")


def test_a_judged_run_and_the_judge_libraries_stay_on_the_loopback(tmp_path: Path) -> None:
    _needs("deepeval", "ragas")
    project = tmp_path / "project"
    project.mkdir()
    attempts, report = tmp_path / "attempts.jsonl", tmp_path / "report.json"
    # The opt-outs are not in the environment: `import tunegate` has to set them.
    env = {k: v for k, v in os.environ.items() if k not in OPT_OUTS}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(project), str(attempts), str(report), *OPT_OUTS],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    recorded = [json.loads(line) for line in attempts.read_text(encoding="utf-8").splitlines()]
    # Only the hook's own self-test: no library, in no phase (exit included), went out.
    assert recorded == [
        {"phase": "self-test", "event": "socket.getaddrinfo", "host": "example.com"}
    ], recorded

    facts = json.loads(report.read_text(encoding="utf-8"))
    assert facts["before"] == dict.fromkeys(OPT_OUTS)
    assert facts["after"] == {
        "DEEPEVAL_TELEMETRY_OPT_OUT": "1",
        "DEEPEVAL_DISABLE_DOTENV": "1",
        "RAGAS_DO_NOT_TRACK": "true",
    }
    # The judge really judged, over the loopback: 3 cases x 2 targets for judge_refusal and
    # 3 pairs in both orders, plus the verdicts of each library metric present.
    assert facts["pairwise"] == 3
    assert facts["judged"] >= 6 + 6 + 6 * len(facts["included"])
    assert facts["served"] >= 12


def test_a_users_own_setting_of_an_opt_out_stands(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in OPT_OUTS}
    env["DEEPEVAL_TELEMETRY_OPT_OUT"] = "0"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, os, tunegate; "
            f"print(json.dumps({{n: os.environ.get(n) for n in {list(OPT_OUTS)!r}}}))",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "DEEPEVAL_TELEMETRY_OPT_OUT": "0",
        "DEEPEVAL_DISABLE_DOTENV": "1",
        "RAGAS_DO_NOT_TRACK": "true",
    }
