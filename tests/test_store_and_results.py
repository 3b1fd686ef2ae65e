"""The store (cache and run history) and the results file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunegate import InputError, StoreError, load_results
from tunegate.cli import main
from tunegate.execution import Store, generation_key
from tunegate.providers import Generation, TokenLogprob
from tunegate.results import SCHEMA_VERSION as RESULTS_SCHEMA

from .conftest import make_project, write


def test_cache_key_depends_on_everything_that_shapes_an_output() -> None:
    fp = {"provider": "openai", "model": "m"}
    msgs = [{"role": "user", "content": "hi"}]
    params = {"temperature": 0.0, "seed": 1}
    key = generation_key(fp, msgs, params, 0)
    assert key == generation_key(dict(reversed(fp.items())), msgs, params, 0)
    assert key != generation_key({**fp, "model": "m2"}, msgs, params, 0)
    assert key != generation_key(fp, [{"role": "user", "content": "hi!"}], params, 0)
    assert key != generation_key(fp, msgs, {**params, "seed": 2}, 0)
    assert key != generation_key(fp, msgs, params, 1)


def test_generations_round_trip(tmp_path: Path) -> None:
    with Store(tmp_path / "t.db") as store:
        gen = Generation("out", "stop", 3, 1, [TokenLogprob("out", -0.25)], "prompt text")
        store.put_generation(
            "k", target="t", suite="s", case_id="c", sample=0, generation=gen, latency_s=0.5
        )
        cached = store.get_generation("k")
        assert cached is not None and cached.generation == gen and cached.latency_s == 0.5
        assert store.get_generation("other") is None
    with Store(tmp_path / "t.db") as again:
        assert again.count_generations() == 1
        journal = again._db.execute("PRAGMA journal_mode").fetchone()[0]
        assert journal == "wal"


def test_store_from_a_newer_tunegate_is_refused(tmp_path: Path) -> None:
    Store(tmp_path / "t.db").close()
    import sqlite3

    with sqlite3.connect(tmp_path / "t.db") as db:
        db.execute("PRAGMA user_version=99")
    with pytest.raises(StoreError, match="written by a newer tunegate"):
        Store(tmp_path / "t.db")


def project(tmp_path: Path) -> None:
    write(
        tmp_path / "c.jsonl",
        '{"case_id": "a", "output": "Paris <b>"}\n{"case_id": "b[x]", "output": "yes"}\n',
    )
    make_project(
        tmp_path,
        targets="cand: {provider: replay, path: c.jsonl}",
        suites={
            "s.yaml": """
            name: s
            gate: {min_pass_rate: 0.5}
            cases:
              - id: a
                prompt: Capital?
                tags: [geo]
                checks:
                  - {metric: contains, args: {text: Paris}, weight: 3}
                  - {metric: length, args: {max: 3}}
              - id: b
                prompt: "{v}?"
                vars: {v: [x]}
                checks: [{metric: exact, args: {text: yes}}]
            """
        },
        base=None,
    )


def test_results_file_and_dataframe(tmp_path: Path) -> None:
    project(tmp_path)
    assert main(["run", "--label", "iteration-1"]) == 0
    results = load_results(tmp_path / "reports" / "latest" / "results.json")
    assert results.schema_version == RESULTS_SCHEMA and results.label == "iteration-1"
    a = next(r for r in results.records if r.case_id == "a")
    assert a.scores["contains"].passed and not a.scores["length"].passed
    assert a.score == pytest.approx(0.75)  # weighted: (3*1 + 1*0) / 4
    assert not a.passed
    b = next(r for r in results.records if r.case_id == "b[x]")
    assert b.template_id == "b" and b.vars == {"v": "x"}
    df = results.to_pandas()
    assert len(df) == 2
    assert set(df.columns) >= {
        "suite",
        "case_id",
        "target",
        "role",
        "sample",
        "output",
        "passed",
        "score.contains",
        "passed.length",
        "run_id",
        "label",
    }
    assert df.loc[df.case_id == "a", "score.contains"].item() == 1.0


def test_run_history_is_recorded_with_labels(tmp_path: Path) -> None:
    project(tmp_path)
    main(["run", "--label", "iteration-1"])
    main(["run", "--label", "iteration-2"])
    with Store(tmp_path / "reports" / "tunegate.db") as store:
        runs = store.runs()
        rows = store._db.execute("SELECT COUNT(*) FROM run_records").fetchone()[0]
    assert [r.label for r in runs] == ["iteration-1", "iteration-2"]
    assert all(r.status == "finished" and r.gate_passed is True for r in runs)
    assert runs[0].targets["candidate"]["name"] == "cand"
    assert rows == 4


def test_report_escapes_model_output(tmp_path: Path) -> None:
    project(tmp_path)
    main(["run"])
    html = (tmp_path / "reports" / "latest" / "report.html").read_text()
    assert "Paris &lt;b&gt;" in html and "Paris <b>" not in html
    assert "<script" not in html and "http" not in html.replace("http-equiv", "")


def test_load_results_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no results file here"):
        load_results(tmp_path)
    write(tmp_path / "results.json", json.dumps({"schema_version": "9.0"}))
    with pytest.raises(InputError, match=r"results schema 9.0 is not supported"):
        load_results(tmp_path)


def test_report_groups_errors_and_shows_completion_prompts(tmp_path: Path) -> None:
    write(tmp_path / "c.jsonl", '{"case_id": "a", "output": "fine"}\n')
    make_project(
        tmp_path,
        targets="cand: {provider: replay, path: c.jsonl}",
        suites={"s.yaml": "name: s\ncases:\n  - {id: a, prompt: p}\n  - {id: b, prompt: q}\n"},
        base=None,
    )
    assert main(["run"]) == 1
    html = (tmp_path / "reports" / "latest" / "report.html").read_text()
    assert '<section id="errors">' in html
    assert (
        "cand: 1 of 2 generations failed: c.jsonl has no recorded output for case "
        "&#39;b&#39; sample 0"
    ) in html
    summary = (tmp_path / "reports" / "latest" / "summary.md").read_text()
    assert "Errors:\n- cand: 1 of 2 generations failed" in summary
