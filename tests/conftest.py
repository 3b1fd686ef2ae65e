"""Shared fixtures: small projects written to tmp_path, and the real test HTTP server."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import settings

from tunegate import Results, load_results
from tunegate.testing import FakeOpenAIServer

# Property tests run on a shared 2-core CI machine: a slow first call (a library loading)
# must not fail a test on time. No test asserts on wall time.
settings.register_profile("tunegate", deadline=None)
settings.load_profile("tunegate")

# One case that passes only on the exact output "ok": the smallest suite with a gate.
MINI_SUITE = """
name: mini
gate: {min_pass_rate: 1.0}
cases:
  - id: a
    prompt: p
    checks: [{metric: exact, args: {text: ok}}]
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(retry_after="1", hang_seconds=3.0) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Messages show paths relative to the working directory; keep them short and stable.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    os.environ.setdefault("DEEPEVAL_TELEMETRY_OPT_OUT", "1")


def make_project(
    root: Path,
    *,
    targets: str,
    suites: dict[str, str],
    base: str | None = "base",
    candidate: str = "cand",
) -> Path:
    """A project folder with tunegate.yaml (targets given as YAML text) and suite files."""
    config = f"suites: [suites]\nout: reports\ncandidate: {candidate}\n"
    if base:
        config += f"base: {base}\n"
    config += "targets:\n" + textwrap.indent(textwrap.dedent(targets).strip("\n"), "  ") + "\n"
    write(root / "tunegate.yaml", config)
    for name, text in suites.items():
        write(root / "suites" / name, text)
    return root


def latest_results(root: Path) -> Results:
    """The results of the newest run in a project made by make_project."""
    return load_results(root / "reports" / "latest")


def candidate_project(root: Path, suites: dict[str, str], **target: object) -> Path:
    """A project whose only target is the candidate `cand`, with the given options."""
    return make_project(root, targets=yaml.safe_dump({"cand": target}), suites=suites, base=None)


def openai_targets(base_url: str, *, extra: str = "", max_attempts: int = 4) -> str:
    return f"""
    base:
      provider: openai
      base_url: {base_url}
      model: base-model
      mode: completion
      max_attempts: {max_attempts}
      {extra}
    cand:
      provider: openai
      base_url: {base_url}
      model: cand-model
      max_attempts: {max_attempts}
      {extra}
    """
