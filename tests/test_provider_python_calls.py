"""The python provider runs the user's code: nothing it raises or does may end or hold the run,
and it is called the way its signature says."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tunegate.cli import main
from tunegate.providers.python_provider import calling_convention

from .conftest import candidate_project, latest_results, write

TWO_CASES = """
name: s
cases:
  - id: ok
    prompt: Say hello.
  - id: bad
    prompt: Misbehave.
"""


def python_project(root: Path, body: str, suite: str = TWO_CASES, **target: object) -> str:
    """A project whose candidate is my_model:answer; returns the function's spec."""
    module = f"my_model_{abs(hash((body, suite)))}"  # a fresh module: imports are cached
    write(root / f"{module}.py", body)
    candidate_project(
        root, {"s.yaml": suite}, provider="python", function=f"{module}:answer", **target
    )
    return f"{module}:answer"


def errors_by_case(root: Path) -> dict[str, str | None]:
    return {r.case_id: r.error for r in latest_results(root).records}


@pytest.mark.parametrize(
    ("raised", "shown"),
    [
        ("SystemExit(0)", "SystemExit(0)"),
        ("SystemExit(1)", "SystemExit(1)"),
        ("SystemExit('bye')", "SystemExit('bye')"),
        ("GeneratorExit()", "GeneratorExit"),
        ("Stop('custom')", "Stop: custom"),
    ],
)
@pytest.mark.parametrize("kind", ["def", "async def"])
def test_a_base_exception_from_the_function_is_an_error_on_that_generation(
    tmp_path: Path, raised: str, shown: str, kind: str
) -> None:
    spec = python_project(
        tmp_path,
        f"""
        class Stop(BaseException):
            pass

        {kind} answer(messages):
            if "Misbehave" in messages[-1]["content"]:
                raise {raised}
            return "hello"
        """,
    )
    # One case of two errored: the gate cannot decide, so 1, never the function's own code.
    assert main(["run"]) == 1
    assert errors_by_case(tmp_path) == {
        "ok": None,
        "bad": f"{spec} raised {shown} (after 1 attempt(s))",
    }


def test_sys_exit_in_the_function_does_not_decide_pytests_outcome(tmp_path: Path) -> None:
    python_project(
        tmp_path,
        """
        import sys

        def answer(messages):
            sys.exit(0)
        """,
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "suites/", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert "INTERNALERROR" not in out and "Traceback" not in out, out[-3000:]
    assert "raised SystemExit(0)" in out, out[-3000:]
    assert proc.returncode not in (0, 4), out[-3000:]


def _run_cli(cwd: Path, limit: float) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "tunegate", "run"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=limit,
    )
    return proc, time.monotonic() - started


HANGING = {
    "sync": """
        import time

        def answer(messages):
            if "Misbehave" in messages[-1]["content"]:
                time.sleep(1000)
            return "hello"
        """,
    "async-ignores-cancel": """
        import asyncio

        async def answer(messages):
            if "Misbehave" in messages[-1]["content"]:
                while True:
                    try:
                        await asyncio.sleep(1000)
                    except asyncio.CancelledError:
                        pass  # keeps sleeping
            return "hello"
        """,
    "async-blocks": """
        import time

        async def answer(messages):
            if "Misbehave" in messages[-1]["content"]:
                time.sleep(1000)  # blocks whatever loop runs it
            return "hello"
        """,
}


@pytest.mark.parametrize("body", list(HANGING.values()), ids=list(HANGING))
def test_a_function_that_hangs_is_abandoned_at_its_timeout_and_the_process_exits(
    tmp_path: Path, body: str
) -> None:
    # One case only: a blocked loop would hold every other call to the same function.
    suite = "name: s\ncases:\n  - id: bad\n    prompt: Misbehave.\n"
    python_project(tmp_path, body, suite, timeout=1, max_attempts=2)
    proc, elapsed = _run_cli(tmp_path, limit=60)
    assert proc.returncode == 3, proc.stdout + proc.stderr  # the target failed everything
    assert elapsed < 30, f"took {elapsed:.0f}s to exit"
    assert errors_by_case(tmp_path) == {"bad": "timed out after 1s (after 2 attempt(s))"}
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "destroyed but it is pending" not in proc.stderr  # the abandoned call is silent


def test_a_hung_call_does_not_hold_the_other_cases(tmp_path: Path) -> None:
    python_project(tmp_path, HANGING["sync"], timeout=1, max_attempts=1)
    proc, elapsed = _run_cli(tmp_path, limit=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # 1 of 2 cases errored
    assert elapsed < 30
    results = latest_results(tmp_path)
    assert {r.case_id: (r.output, r.error) for r in results.records} == {
        "ok": ("hello", None),
        "bad": (None, "timed out after 1s (after 1 attempt(s))"),
    }


SEEDED = """
name: s
defaults:
  repeats: 3
  params: {seed: 7}
cases:
  - id: c
    prompt: Which seed?
"""


@pytest.mark.parametrize(
    "signature",
    ["answer(messages, p)", "answer(messages, params)", "answer(messages, *, params)"],
)
def test_the_function_gets_params_by_its_signature_with_each_samples_seed(
    tmp_path: Path, signature: str
) -> None:
    second = signature.split(", ")[-1].removeprefix("*, ").rstrip(")")
    python_project(
        tmp_path,
        f"""
        def {signature}:
            return f"seed {{{second}['seed']}}, {{{second}['temperature']}}"
        """,
        SEEDED,
    )
    main(["run"])
    outputs = {r.sample: (r.output, r.error) for r in latest_results(tmp_path).records}
    assert outputs == {i: (f"seed {7 + i}, 0.0", None) for i in range(3)}


def test_a_function_of_the_messages_alone_gets_the_messages_alone(tmp_path: Path) -> None:
    python_project(tmp_path, "def answer(m, *rest):\n    return f'{len(rest)} more'\n", SEEDED)
    main(["run"])
    assert {r.output for r in latest_results(tmp_path).records} == {"0 more"}


@pytest.mark.parametrize(
    "signature",
    ["answer()", "answer(messages, params, history)", "answer(*, messages)", "answer(**kw)"],
)
def test_a_function_that_cannot_be_called_so_is_a_config_error_validate_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signature: str
) -> None:
    spec = python_project(tmp_path, f"def {signature}:\n    return 'x'\n", SEEDED)
    assert main(["validate"]) == 2
    shown = signature.removeprefix("answer")
    assert capsys.readouterr().err.strip() == (
        f"tunegate: error: tunegate.yaml:6:5: target 'cand': {spec}{shown} cannot be "
        "called as answer(messages) or answer(messages, params); give it one positional "
        "parameter (the messages) or two (messages, params), the others with defaults"
    )


def _f1(messages: Any) -> str: ...
def _f2(messages: Any, p: Any) -> str: ...
def _f2_default(messages: Any, p: Any = None, q: int = 0) -> str: ...
def _named(messages: Any, params: Any = None) -> str: ...
def _kw_only(messages: Any, *, params: Any) -> str: ...
def _pos_only(messages: Any, params: Any, /) -> str: ...
def _kwargs(messages: Any, **kwargs: Any) -> str: ...
def _star(*args: Any) -> str: ...
def _none() -> str: ...
def _three(a: Any, b: Any, c: Any) -> str: ...


class _Callable:
    def __call__(self, messages: Any, params: Any) -> str: ...


@pytest.mark.parametrize(
    ("func", "convention"),
    [
        (_f1, "messages"),
        (_f2, "positional"),
        (_f2_default, "positional"),
        (_named, "keyword"),
        (_kw_only, "keyword"),
        (_pos_only, "positional"),
        (_kwargs, "messages"),
        (_star, "messages"),
        (_Callable(), "keyword"),
        (len, "messages"),
        (_none, None),
        (_three, None),
    ],
    ids=lambda v: getattr(v, "__name__", type(v).__name__) if callable(v) else str(v),
)
def test_calling_convention(func: Callable[..., Any], convention: str | None) -> None:
    assert calling_convention(func) == convention


def test_ctrl_c_during_a_hung_call_ends_the_process_at_once(tmp_path: Path) -> None:
    python_project(
        tmp_path,
        """
        import pathlib
        import time

        def answer(messages):
            pathlib.Path("started").touch()
            time.sleep(1000)
        """,
        "name: s\ncases:\n  - id: bad\n    prompt: Hang.\n",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "tunegate", "run"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "started").exists():
            assert time.monotonic() < deadline and proc.poll() is None, "the call never started"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)  # once
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 3, err
    assert "tunegate: interrupted; completed generations are kept in the store" in err
    assert "Traceback" not in err
