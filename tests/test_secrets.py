"""A planted API key reaches the server but no file the run writes, and not the console."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tunegate.cli import main
from tunegate.testing import FakeOpenAIServer

from .conftest import candidate_project, latest_results

PLANTED = "sk-tunegate-PLANTED-7f3a9c2e51d84b06"

SUITE = """
name: leaky
cases:
  - id: echoes-auth
    prompt: "repeat my header [[echo-auth]]"
    checks: [{metric: not_contains, args: {text: Bearer}}]  # fails, so pytest prints it
  - id: rejects-key
    prompt: "who am i [[401]]"
  - id: normal
    prompt: hello
"""


def leaky_project(root: Path, base_url: str, key_env: str) -> None:
    """The one-case suite against an OpenAI-compatible target whose key is in `key_env`."""
    candidate_project(
        root,
        {"leaky.yaml": SUITE},
        provider="openai",
        base_url=base_url,
        model="m",
        api_key_env=key_env,
    )


def test_planted_key_never_leaves_the_process(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        leaky_project(tmp_path, server.base_url, "TUNEGATE_PLANTED_KEY")
        env = {**os.environ, "TUNEGATE_PLANTED_KEY": PLANTED}
        proc = subprocess.run(
            [sys.executable, "-m", "tunegate", "run", "--progress", "--label", "secret-test"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        # The key was really used: the server saw it on every request.
        assert {r.authorization for r in server.requests} == {f"Bearer {PLANTED}"}

        # The same run through pytest, whose console shows outputs of failing cases.
        session = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "suites/",
                "-p",
                "no:cacheprovider",
                "-rA",
                "--tunegate-label",
                "secret-test-pytest",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert proc.returncode == 1, proc.stderr  # two cases fail the default 100% gate
    assert PLANTED not in proc.stdout and PLANTED not in proc.stderr
    assert session.returncode == 1, session.stdout[-2000:]
    assert "you sent Bearer [REDACTED]" in session.stdout  # the failing case was printed
    assert PLANTED not in session.stdout and PLANTED not in session.stderr

    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".yaml"]
    names = {p.name for p in written}
    assert {"results.json", "report.html", "summary.md", "run.log", "tunegate.db"} <= names
    for path in written:
        assert PLANTED.encode() not in path.read_bytes(), f"key leaked into {path}"

    results = latest_results(tmp_path)
    by_id = {r.case_id: r for r in results.records}
    assert by_id["echoes-auth"].output == "echo: repeat my header (you sent Bearer [REDACTED])"
    assert by_id["rejects-key"].error == (
        "HTTP 401 from cand: Incorrect API key provided: Bearer [REDACTED] (after 1 attempt(s))"
    )
    assert "api_key" not in results.targets[0].config


HOSTILE_SUITE = """
name: hostile
gate: {min_pass_rate: 0, max_excluded: 1}  # half the cases error on purpose
defaults:
  params: {logprobs: true}
cases:
  - id: key-in-logprob-token
    prompt: "say it [[echo-auth]]"
  - id: key-split-across-tokens
    prompt: "say it in pieces [[echo-auth]] [[split-logprobs]]"
  - id: key-after-the-cut
    prompt: "long error [[400-echo-auth:230]]"
  - id: key-far-past-the-cut
    prompt: "longer error [[400-echo-auth:5000]]"
  - id: terminal-escapes
    prompt: "escapes [[400-ansi]]"
  - id: half-an-emoji
    prompt: "emoji [[surrogate]]"
"""


def _fragments(secret: str, size: int) -> list[str]:
    return [secret[i : i + size] for i in range(len(secret) - size + 1)]


def test_a_hostile_server_leaks_no_key_fragment_and_steers_no_terminal(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        candidate_project(
            tmp_path,
            {"hostile.yaml": HOSTILE_SUITE},
            provider="openai",
            base_url=server.base_url,
            model="m",
            mode="chat",
            api_key_env="TUNEGATE_PLANTED_KEY",
            max_attempts=1,
        )
        env = {**os.environ, "TUNEGATE_PLANTED_KEY": PLANTED}
        outputs = []
        for command in (
            [sys.executable, "-m", "tunegate", "run", "--progress"],
            [sys.executable, "-m", "tunegate", "run"],  # the rerun is served from the store
            [sys.executable, "-m", "pytest", "suites/", "-p", "no:cacheprovider", "-rA"],
        ):
            proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, timeout=120)
            outputs.append(proc.stdout + proc.stderr)
            assert b"internal error" not in proc.stderr, proc.stderr.decode(errors="replace")
            assert b"Traceback" not in proc.stdout + proc.stderr
        # The half emoji did not make the run unfinishable: each run ended with a verdict
        # (the three error cases are left out; min_pass_rate 0 still passes).
        assert proc.returncode == 0, outputs[-1].decode(errors="replace")[-3000:]
        # Only the first run paid for the generations; errors are not cached, so they are
        # asked again.
        assert server.served("emoji", status=200) == 1

    results = latest_results(tmp_path)
    by_id = {r.case_id: r for r in results.records}
    assert by_id["half-an-emoji"].output == "half an emoji \ufffd here"
    assert by_id["key-in-logprob-token"].logprobs is not None
    assert "[REDACTED]" in [t for t, _ in by_id["key-in-logprob-token"].logprobs]
    split = by_id["key-split-across-tokens"]
    assert split.logprobs is not None and "".join(t for t, _ in split.logprobs).count(PLANTED) == 0
    assert by_id["key-after-the-cut"].error is not None
    assert "[REDACTED]" in by_id["key-after-the-cut"].error
    assert by_id["terminal-escapes"].error is not None
    assert "\x1b" in by_id["terminal-escapes"].error  # kept as data in results.json ...

    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".yaml"]
    assert {"results.json", "report.html", "summary.md", "run.log", "tunegate.db"} <= {
        p.name for p in written
    }
    pieces = [f.encode() for f in _fragments(PLANTED, 10)]
    blobs = [(p.read_bytes(), str(p)) for p in written] + [(o, "console") for o in outputs]
    for blob, name in blobs:
        leaked = [p for p in pieces if p in blob]
        assert not leaked, f"{name} holds part of the key: {leaked[:3]}"
    # ... but never reaches a console, the log or the Markdown summary raw.
    for name in ("run.log", "summary.md"):
        for path in tmp_path.rglob(name):
            assert b"\x1b" not in path.read_bytes() and b"\x07" not in path.read_bytes(), path
    for blob in outputs:
        assert b"\x1b]0;TITLE" not in blob and b"\x1b[2J" not in blob


SHORT_KEY = "vllmkey"  # 7 characters, as a local vLLM server is often started with


def test_a_short_key_is_redacted_from_everything_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TUNEGATE_SHORT_KEY", SHORT_KEY)
    with FakeOpenAIServer() as server:
        leaky_project(tmp_path, server.base_url, "TUNEGATE_SHORT_KEY")
        assert main(["run"]) == 1
        assert {r.authorization for r in server.requests} == {f"Bearer {SHORT_KEY}"}
    captured = capsys.readouterr()
    assert SHORT_KEY not in captured.out + captured.err

    by_id = {r.case_id: r for r in latest_results(tmp_path).records}
    assert by_id["echoes-auth"].output == "echo: repeat my header (you sent Bearer [REDACTED])"
    assert by_id["rejects-key"].error == (
        "HTTP 401 from cand: Incorrect API key provided: Bearer [REDACTED] (after 1 attempt(s))"
    )
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".yaml"]
    assert {"results.json", "report.html", "run.log", "tunegate.db"} <= {p.name for p in written}
    for path in written:
        assert SHORT_KEY.encode() not in path.read_bytes(), f"key leaked into {path}"


def test_a_key_too_short_to_redact_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TUNEGATE_SHORT_KEY", "abc")
    leaky_project(tmp_path, "http://127.0.0.1:9/v1", "TUNEGATE_SHORT_KEY")
    assert main(["validate"]) == 2
    assert capsys.readouterr().err.strip() == (
        "tunegate: error: tunegate.yaml:6:5: target 'cand': the key in environment variable "
        "TUNEGATE_SHORT_KEY is 3 character(s) long, too short to keep out of results and "
        "reports; use a key of 4 characters or more (start a local server with a longer "
        "--api-key)"
    )


@pytest.mark.parametrize(
    ("field", "said"),
    [
        ("timeout", "it may be a secret"),  # a key in a field of the wrong type
        ("api_key_env", "names the environment variable that holds the key"),
    ],
)
def test_a_key_written_where_it_does_not_belong_is_never_echoed(
    tmp_path: Path, field: str, said: str
) -> None:
    from tunegate.config import load_config
    from tunegate.errors import ConfigError

    key = "sk-proj-" + "A1b2C3d4" * 5
    config = tmp_path / "tunegate.yaml"
    config.write_text(f"targets:\n  t: {{provider: openai, model: m, {field}: '{key}'}}\n")
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert key not in str(info.value)
    assert "tunegate.yaml:2:" in str(info.value) and said in str(info.value)
